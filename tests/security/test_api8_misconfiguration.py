"""OWASP API8:2023 Security Misconfiguration. Promises:
- every answer — a route's, an error's, the body-size limit's, an unexpected 500 — carries
  `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`, a
  Content-Security-Policy that lets a JSON answer load and frame nothing (the `/docs` page gets one
  that admits only Swagger UI's assets), and `Cache-Control: no-store`: no token, secret or
  personal datum is kept by a browser or a proxy; `Strict-Transport-Security` only when configured;
- CORS is closed unless origins are listed (`SEAWALL_CORS_ALLOWED_ORIGINS`): a browser on any other
  origin gets no `Access-Control-Allow-Origin`, and credentials are never allowed;
- an unexpected error answers the one error shape with no traceback, exception text or path.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from seawall.payments import service as payments_service
from seawall.web import errors as web_errors
from seawall.web.security_headers import API_CSP
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import STRONG_PASSWORD, assert_error, new_email, new_key, sign_up
from tests.security.wire import PUBLIC_HOOK_URL, mounted_operations, new_user, with_key
from tests.support.apps import BASE_URL, StartApp, asgi_client
from tests.support.server import ServerFactory

HARDENING = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def assert_hardened(answer: httpx.Response, *, csp: str | None = API_CSP) -> None:
    where = f"{answer.request.method} {answer.request.url.path} -> {answer.status_code}"
    for name, value in HARDENING.items():
        assert answer.headers.get(name) == value, (where, name, answer.headers.get(name))
    policy = answer.headers.get("content-security-policy", "")
    if csp is not None:
        assert policy == csp, (where, policy)
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, (where, policy)
    assert "strict-transport-security" not in answer.headers, where
    assert "server" not in answer.headers and "x-powered-by" not in answer.headers, where


async def test_every_route_answers_with_the_security_headers(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    for method, path in sorted(mounted_operations(app)):
        concrete = path.replace("{job_id}", "1").replace("{", "x").replace("}", "")
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"} if path.startswith("/admin") else user.headers
        for headers in ({}, {**auth, "Idempotency-Key": new_key()}):
            answer = await client.request(method, concrete, headers=headers)
            assert_hardened(answer, csp=None if path == "/docs" else API_CSP)


async def test_errors_from_the_edge_carry_them_too(client: httpx.AsyncClient) -> None:
    answers = [
        await client.get("/no/such/route"),
        await client.put("/v1/payments"),  # 405
        await client.post("/v1/sessions", content=b"{", headers={"Content-Type": "application/json"}),
        await client.post("/v1/sessions", content=b"x" * (1024 * 1024)),  # 413 from the body-size limit
        await client.get("/v1/me", headers={"Authorization": "Bearer nope"}),
    ]
    assert [a.status_code for a in answers] == [404, 405, 422, 413, 401]
    for answer in answers:
        assert_hardened(answer)


async def test_the_docs_page_gets_a_policy_for_swagger_ui_only(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_hardened(page, csp=None)
    policy = page.headers["content-security-policy"]
    assert "connect-src 'self'" in policy and "script-src https://cdn.jsdelivr.net" in policy
    assert "*" not in policy and "http:" not in policy


async def test_token_and_secret_answers_are_never_stored(client: httpx.AsyncClient) -> None:
    email = new_email("store")
    signup = await sign_up(client, email)
    session = await client.post("/v1/sessions", json={"email": email, "password": STRONG_PASSWORD})
    user_headers = {"Authorization": f"Bearer {session.json()['token']}"}
    endpoint = await client.post("/v1/webhook-endpoints", json={"url": PUBLIC_HOOK_URL,
                                                                "event_types": ["payment.succeeded"]},
                                 headers={**user_headers, "Idempotency-Key": new_key()})
    confirm = await client.post("/v1/password-resets/confirm",
                                json={"token": "not-a-token", "new_password": STRONG_PASSWORD + "!"})
    assert [signup.status_code, session.status_code, endpoint.status_code] == [201, 201, 201]
    assert "token" in session.json() and endpoint.json()["secret"]
    for answer in (signup, session, endpoint, confirm, await client.get("/v1/me", headers=user_headers)):
        assert answer.headers["cache-control"] == "no-store", answer.request.url


async def test_hsts_is_sent_only_when_configured(started_app: StartApp, client: httpx.AsyncClient) -> None:
    assert "strict-transport-security" not in (await client.get("/livez")).headers
    async with asgi_client(await started_app(hsts_max_age_seconds=31_536_000)) as https:
        for answer in (await https.get("/livez"), await https.get("/v1/me")):
            assert answer.headers["strict-transport-security"] == "max-age=31536000"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"}


async def test_cors_is_closed_by_default(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    for origin in ("https://evil.example", "null", BASE_URL, "http://localhost:3000"):
        refused = await client.options("/v1/payments", headers=preflight(origin))
        assert_error(refused, 400, "cors_not_allowed")
        assert not [name for name in refused.headers if name.startswith("access-control-allow")], refused.headers
        assert_hardened(refused)
        simple = await client.get("/v1/payments", headers={**user.headers, "Origin": origin})
        assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


async def test_cors_admits_only_the_listed_origins_and_never_credentials(started_app: StartApp) -> None:
    app = await started_app(cors_allowed_origins="https://app.example.com,http://localhost:5173")
    async with asgi_client(app) as http:
        allowed = await http.options("/v1/payments", headers=preflight("https://app.example.com"))
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert "access-control-allow-credentials" not in allowed.headers
        assert "POST" in allowed.headers["access-control-allow-methods"]
        head = await http.options("/v1/me", headers={**preflight("https://app.example.com", "HEAD"),
                                                     "Access-Control-Request-Headers": "authorization"})
        assert head.status_code == 200, head.text  # HEAD is served wherever GET is (`web.head`)
        for origin in ("https://evil.example", "https://app.example.com.evil.example", "http://app.example.com",
                       "https://sub.app.example.com", "null"):
            refused = await http.options("/v1/payments", headers=preflight(origin))
            assert_error(refused, 400, "cors_not_allowed")
            assert "access-control-allow-origin" not in refused.headers, origin
            simple = await http.get("/livez", headers={"Origin": origin})
            assert "access-control-allow-origin" not in simple.headers, origin
        simple = await http.get("/livez", headers={"Origin": "http://localhost:5173"})
        assert simple.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert "Origin" in simple.headers["vary"]


@pytest.mark.parametrize("failure", [RuntimeError("boom at /srv/seawall/secret.py line 42"),
                                     KeyError("sk_live_do_not_show"), ZeroDivisionError("division by zero")])
async def test_an_unexpected_error_shows_no_traceback(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, failure: Exception,
) -> None:
    user = await new_user(client)

    async def broken(*args: object, **kwargs: object) -> object:
        raise failure

    logged: list[str] = []
    monkeypatch.setattr(payments_service, "list_payments_of", broken)
    # the traceback belongs in the log (recorded here instead of rendered, which takes seconds)
    monkeypatch.setattr(web_errors.log, "exception", lambda event, **fields: logged.append(event))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # as a server would: answer, not raise
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        answer = await http.get("/v1/payments", headers=user.headers)
        created = await http.post("/v1/payments", headers=with_key(user),
                                  json={"amount": 100, "currency": "usd", "payment_method": "pm_card_visa"})
    assert created.status_code == 202  # the failure is confined to the one broken route
    error = assert_error(answer, 500, "internal_error")
    assert set(error) == {"type", "message"}
    raw = answer.text + " ".join(f"{name}: {value}" for name, value in answer.headers.items())
    for leak in ("Traceback", "File \"", ".py", "line ", type(failure).__name__, "boom", "sk_live", "division"):
        assert leak not in raw, leak
    assert_hardened(answer)
    assert logged == ["request.unexpected_error"]


@pytest.mark.backends("sqlite")
async def test_a_real_server_answers_hardened_and_without_naming_itself(servers: ServerFactory) -> None:
    """The same on the wire, from `seawall api` under uvicorn: the headers, and no `Server` header."""
    api = servers.start("api")
    async with httpx.AsyncClient(base_url=api.base_url) as http:
        for answer in (await http.get("/livez"), await http.get("/v1/me"), await http.get("/nope"),
                       await http.options("/v1/me", headers=preflight("https://evil.example", "GET"))):
            assert_hardened(answer)
            assert "server" not in answer.headers, answer.headers
