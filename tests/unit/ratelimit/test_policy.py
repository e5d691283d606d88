"""Quotas from settings, client identity behind proxies, and the IETF RateLimit field syntax."""

from __future__ import annotations

from seawall.config import Settings
from seawall.ratelimit.limits import client_address, parse_networks
from seawall.ratelimit.policy import Hasher, Partition, Quotas, limit_header, policy_header


def test_scale_multiplies_every_limit() -> None:
    quotas = Quotas.from_settings(Settings(rate_limit_per_ip="10/minute;100/hour", rate_limit_scale=50))
    assert [(item.amount, item.get_expiry()) for item in quotas.ip.items] == [(500, 60), (5000, 3600)]


def test_auth_routes_are_stricter_than_the_ip_limit_by_default() -> None:
    quotas = Quotas.from_settings(Settings())
    per_minute = quotas.ip.items[0].amount
    for quota in (quotas.login_ip, quotas.login_email, quotas.signup_ip, quotas.reset_ip, quotas.reset_email):
        assert quota.items[0].get_expiry() == 60 and quota.items[0].amount < per_minute / 10


def test_headers_follow_the_draft_syntax() -> None:
    quotas = Quotas.from_settings(Settings(rate_limit_login_per_email="5/minute;20/hour"))
    partitions = [Partition(quotas.login_email, "k")]
    assert policy_header(partitions) == '"login-email-60s";q=5;w=60, "login-email-3600s";q=20;w=3600'
    assert limit_header([("login-email-60s", 4, 60), ("login-email-3600s", -1, 3599)]) == (
        '"login-email-60s";r=4;t=60, "login-email-3600s";r=0;t=3599')


def test_partition_keys_hide_the_identity() -> None:
    hasher = Hasher(b"secret")
    token = "tok_0123456789"
    key = hasher("user", token)
    assert token not in key and key == hasher("user", token) != Hasher(b"other")("user", token)
    assert hasher("email", "a@example.com") != hasher("ip", "a@example.com")


def test_client_address_uses_the_peer_unless_it_is_a_trusted_proxy() -> None:
    none = parse_networks("")
    proxies = parse_networks("10.0.0.0/8, 192.168.1.1")
    assert client_address("203.0.113.5", "1.2.3.4", none) == "203.0.113.5"
    assert client_address("10.0.0.2", "1.2.3.4, 10.0.0.9", proxies) == "1.2.3.4"
    assert client_address("10.0.0.2", "6.6.6.6, 1.2.3.4", proxies) == "1.2.3.4"  # the spoofable left part is ignored
    assert client_address("10.0.0.2", None, proxies) == "10.0.0.2"
    assert client_address("2001:db8:1:2:3:4:5:6", None, none) == "2001:db8:1:2::/64"
    assert client_address("::ffff:198.51.100.1", None, none) == "198.51.100.1"
