"""Promise 5: overload is shed — per IP, per session, per operator key, stricter on login, sign-up
and password reset — with 429 + Retry-After in the one error shape and the IETF RateLimit fields."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import STRONG_PASSWORD, assert_error, bearer, new_email, sign_up, token_for
from tests.integration.ratelimit.conftest import client_of
from tests.support.apps import StartApp

POLICY = re.compile(r'^"(?P<name>[a-z-]+-\d+s)";q=(?P<q>\d+);w=(?P<w>\d+)$')
SERVICE = re.compile(r'^"(?P<name>[a-z-]+-\d+s)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def fields(value: str, pattern: re.Pattern[str]) -> dict[str, dict[str, int]]:
    parsed = {}
    for member in value.split(", "):
        match = pattern.match(member)
        assert match is not None, value
        parsed[match["name"]] = {k: int(v) for k, v in match.groupdict().items() if k != "name"}
    return parsed


def assert_rate_limited(response: httpx.Response, policy: str) -> int:
    error = assert_error(response, 429, "rate_limited")
    assert error["details"]["policy"] == policy
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert fields(response.headers["RateLimit"], SERVICE)[policy]["r"] == 0
    return retry_after


async def test_over_the_ip_limit_answers_429_with_retry_after_and_ratelimit_fields(started_app: StartApp) -> None:
    app = await started_app(rate_limit_per_ip="3/minute")
    async with client_of(app) as http:
        remaining = []
        for _ in range(3):
            response = await http.get("/v1/me")
            assert response.status_code == 401  # refused by auth, but allowed by the limiter
            assert fields(response.headers["RateLimit-Policy"], POLICY) == {"ip-60s": {"q": 3, "w": 60}}
            service = fields(response.headers["RateLimit"], SERVICE)["ip-60s"]
            assert 0 < service["t"] <= 60
            remaining.append(service["r"])
        assert remaining == [2, 1, 0]
        refused = await http.get("/v1/me")
        retry_after = assert_rate_limited(refused, "ip-60s")
        assert retry_after <= 60
        assert "ip-60s" in fields(refused.headers["RateLimit-Policy"], POLICY)
        assert refused.headers["x-request-id"]


async def test_health_is_never_limited(started_app: StartApp) -> None:
    app = await started_app(rate_limit_per_ip="1/minute")
    async with client_of(app) as http:
        for path in ("/livez", "/readyz") * 3:
            response = await http.get(path)
            assert response.status_code == 200, response.text
            assert "RateLimit" not in response.headers
        assert (await http.get("/v1/me")).status_code == 401
        assert (await http.get("/v1/me")).status_code == 429


async def test_limits_are_per_client_ip(started_app: StartApp) -> None:
    app = await started_app(rate_limit_per_ip="2/minute")
    async with client_of(app, "198.51.100.1") as first, client_of(app, "198.51.100.2") as second:
        assert [(await first.get("/v1/me")).status_code for _ in range(3)] == [401, 401, 429]
        assert (await second.get("/v1/me")).status_code == 401
        # A spoofed X-Forwarded-For is ignored: no proxy is trusted by default.
        spoofed = await first.get("/v1/me", headers={"X-Forwarded-For": "192.0.2.99"})
        assert spoofed.status_code == 429


async def test_a_trusted_proxy_forwards_the_client_ip(started_app: StartApp) -> None:
    app = await started_app(rate_limit_per_ip="1/minute", rate_limit_trusted_proxies="10.0.0.0/8")
    async with client_of(app, "10.1.2.3") as proxy:
        for client_ip in ("192.0.2.1", "192.0.2.2"):
            headers = {"X-Forwarded-For": f"{client_ip}, 10.9.9.9"}
            assert (await proxy.get("/v1/me", headers=headers)).status_code == 401
            assert (await proxy.get("/v1/me", headers=headers)).status_code == 429


async def test_limits_are_per_user_session(started_app: StartApp) -> None:
    app = await started_app(rate_limit_per_user="2/minute")
    async with client_of(app) as http:
        tokens = []
        for name in ("alice", "bob"):
            email = new_email(name)
            assert (await sign_up(http, email)).status_code == 201
            tokens.append(await token_for(http, email))
        alice, bob = tokens
        assert [(await http.get("/v1/me", headers=bearer(alice))).status_code for _ in range(2)] == [200, 200]
        refused = await http.get("/v1/me", headers=bearer(alice))
        assert_rate_limited(refused, "user-60s")
        assert (await http.get("/v1/me", headers=bearer(bob))).status_code == 200  # same IP, own session


async def test_operator_key_has_its_own_limit(started_app: StartApp) -> None:
    app = await started_app(rate_limit_per_api_key="2/minute")
    async with client_of(app) as http:
        admin = bearer(ADMIN_KEY)
        assert [(await http.get("/admin/jobs/stats", headers=admin)).status_code for _ in range(2)] == [200, 200]
        assert_rate_limited(await http.get("/admin/jobs/stats", headers=admin), "operator-60s")
        assert (await http.get("/v1/me")).status_code == 401  # the client's IP quota is not spent


async def test_login_is_limited_per_email_by_default(started_app: StartApp) -> None:
    """The production defaults: 10 logins a minute per email, far below the 1200 a minute per IP."""
    app = await started_app()
    async with client_of(app) as http:
        target, other = new_email("target"), new_email("other")
        attempts = [await http.post("/v1/sessions", json={"email": target, "password": "guess"}) for _ in range(10)]
        assert {r.status_code for r in attempts} == {401}
        refused = await http.post("/v1/sessions", json={"email": target.upper(), "password": STRONG_PASSWORD})
        assert_rate_limited(refused, "login-email-60s")
        assert fields(refused.headers["RateLimit-Policy"], POLICY)["login-email-60s"] == {"q": 10, "w": 60}
        allowed = await http.post("/v1/sessions", json={"email": other, "password": "guess"})
        assert allowed.status_code == 401  # another account is not locked out
        assert (await http.get("/v1/me")).status_code == 401


async def test_sign_up_and_password_reset_are_stricter_than_the_ip_limit(started_app: StartApp) -> None:
    app = await started_app(rate_limit_signup_per_ip="2/minute", rate_limit_password_reset_per_email="2/hour")
    async with client_of(app) as http:
        assert [(await sign_up(http, new_email())).status_code for _ in range(2)] == [201, 201]
        assert_rate_limited(await sign_up(http, new_email()), "signup-ip-60s")
        email = new_email("forgetful")
        resets = [await http.post("/v1/password-resets", json={"email": email},
                                  headers={"Idempotency-Key": f"reset-{n}"}) for n in range(3)]
        assert [r.status_code for r in resets[:2]] == [202, 202]
        assert_rate_limited(resets[2], "reset-email-3600s")
        assert (await http.get("/v1/me")).status_code == 401


async def test_concurrent_requests_cannot_exceed_a_limit(started_app: StartApp) -> None:
    app = await started_app(rate_limit_per_ip="5/minute")
    async with client_of(app) as http:
        responses = await asyncio.gather(*(http.get("/v1/me") for _ in range(30)))
    codes = [r.status_code for r in responses]
    assert codes.count(401) == 5 and codes.count(429) == 25


async def test_a_limit_holds_across_two_app_instances_sharing_redis(
    started_app: StartApp, backend: str
) -> None:
    if backend != "full":
        pytest.skip("instances share limits through Redis (the `full` backend)")
    first_app = await started_app(rate_limit_per_ip="6/minute")
    second_app = await started_app(rate_limit_per_ip="6/minute")
    async with client_of(first_app) as first, client_of(second_app) as second:
        responses = await asyncio.gather(*(http.get("/v1/me") for http in (first, second) for _ in range(10)))
    codes = [r.status_code for r in responses]
    assert codes.count(401) == 6 and codes.count(429) == 14


async def test_disabled_limits_add_no_fields(started_app: StartApp) -> None:
    app = await started_app(rate_limit_enabled=False, rate_limit_per_ip="1/minute")
    async with client_of(app) as http:
        for _ in range(3):
            response = await http.get("/v1/me")
            assert response.status_code == 401 and "RateLimit" not in response.headers
