"""Promise: webhooks never reach internal addresses (SSRF), however the URL spells them, unless
`allow_private` is set; checked on the resolved addresses, with a fake resolver (no DNS)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from seawall.webhooks.errors import WebhookUrlNotAllowedError
from seawall.webhooks.ssrf import SystemResolver, UrlGuard, address_class
from tests.support.fakes import FakeResolver

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private (RFC 1918)"),
    ("10.255.255.254", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("172.31.255.1", "private (RFC 1918)"),
    ("192.168.1.1", "private (RFC 1918)"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.10.20", "link-local"),
    ("169.254.169.254", "link-local (cloud metadata)"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "shared address space (CGNAT)"),
    ("100.127.255.254", "shared address space (CGNAT)"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "private"),
    ("255.255.255.255", "private"),
    ("::ffff:127.0.0.1", "loopback (IPv4 inside IPv6)"),
    ("::ffff:10.1.2.3", "private (RFC 1918) (IPv4 inside IPv6)"),
    ("::ffff:169.254.169.254", "link-local (cloud metadata) (IPv4 inside IPv6)"),
    ("2002:a00:1::1", "private (RFC 1918) (IPv4 inside IPv6)"),  # 6to4 of 10.0.0.1
    ("64:ff9b::7f00:1", "loopback (IPv4 inside IPv6)"),  # NAT64 of 127.0.0.1
    ("::7f00:1", "reserved"),  # IPv4-compatible (deprecated)
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_every_internal_address_class_is_named(address: str, reason: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


def _url(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}/hooks"


@pytest.mark.parametrize(("address", "reason"), REFUSED)
async def test_a_literal_internal_address_is_refused(address: str, reason: str) -> None:
    guard = UrlGuard(resolver=FakeResolver({}))
    with pytest.raises(WebhookUrlNotAllowedError) as refused:
        await guard.check(_url(address))
    assert refused.value.reason == reason


@pytest.mark.parametrize(("address", "reason"), REFUSED)
async def test_a_name_resolving_to_an_internal_address_is_refused(address: str, reason: str) -> None:
    resolver = FakeResolver({"hooks.customer.example": [address]})
    with pytest.raises(WebhookUrlNotAllowedError) as refused:
        await UrlGuard(resolver=resolver).check("https://hooks.customer.example/in")
    assert refused.value.reason == reason
    assert resolver.asked == ["hooks.customer.example"]
    assert address not in refused.value.message  # no oracle for internal DNS


async def test_one_internal_answer_among_public_ones_is_enough_to_refuse() -> None:
    resolver = FakeResolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(WebhookUrlNotAllowedError):
        await UrlGuard(resolver=resolver).check("https://mixed.example/")


async def test_a_public_name_passes_and_pins_the_checked_address() -> None:
    resolver = FakeResolver({"hooks.customer.example": ["93.184.216.34"]})
    target = await UrlGuard(resolver=resolver).check("https://Hooks.Customer.Example:8443/in?x=1#frag")
    assert (target.scheme, target.host, target.port, target.target) == ("https", "hooks.customer.example", 8443,
                                                                         "/in?x=1")
    assert target.address == "93.184.216.34"
    assert target.host_header == "hooks.customer.example:8443"


@pytest.mark.parametrize(("address", "reason"), [r for r in REFUSED if r[1] not in ("unspecified", "multicast")])
async def test_allow_private_lets_internal_addresses_through(address: str, reason: str) -> None:
    resolver = FakeResolver({"dev.internal": [address]})
    guard = UrlGuard(allow_private=True, resolver=resolver)
    assert (await guard.check(_url(address))).address == str(ipaddress.ip_address(address))
    assert (await guard.check("http://dev.internal:8080/")).address == str(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "ff02::1"])
async def test_unspecified_and_multicast_are_never_receivers(address: str) -> None:
    with pytest.raises(WebhookUrlNotAllowedError):
        await UrlGuard(allow_private=True, resolver=FakeResolver({})).check(_url(address))


@pytest.mark.parametrize("url", [
    "ftp://93.184.216.34/x", "file:///etc/passwd", "gopher://93.184.216.34/", "javascript:alert(1)",
    "https://user:pw@93.184.216.34/", "https:///nohost", "not a url", "http://93.184.216.34:0/",
    "https://" + "a" * 2100 + ".example/",
])
async def test_other_schemes_credentials_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(WebhookUrlNotAllowedError):
        await UrlGuard(allow_private=True, resolver=FakeResolver({})).check(url)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(WebhookUrlNotAllowedError) as refused:
        await UrlGuard(resolver=FakeResolver({})).check("https://nowhere.example/")
    assert refused.value.reason == "unresolvable"


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1", "127.1"])
async def test_the_system_resolver_sees_through_loopback_spellings(host: str) -> None:
    """Numeric and short spellings resolve locally (no DNS traffic) and are judged by the address."""
    with pytest.raises(WebhookUrlNotAllowedError) as refused:
        await UrlGuard(resolver=SystemResolver()).check(f"http://{host}:8080/")
    assert refused.value.reason is not None and refused.value.reason.startswith("loopback")


async def test_a_resolver_that_hangs_counts_as_not_resolving() -> None:
    class HangingResolver:
        async def resolve(self, host: str, port: int) -> list[str]:
            await asyncio.sleep(60)
            return []

    guard = UrlGuard(resolver=HangingResolver(), resolve_timeout_seconds=0.05)
    with pytest.raises(WebhookUrlNotAllowedError) as refused:
        await guard.check("https://slow-dns.example/")
    assert refused.value.reason == "unresolvable"
