"""Pure ASGI middleware: spend the request's quotas before the app runs; 429/503 in the one error shape.

Health routes (`/livez`, `/readyz`, `/metrics`) are never limited. Every limited response, allowed
or refused, carries `RateLimit-Policy` and `RateLimit`; a refusal adds `Retry-After`.
For login and password reset the body is read (bounded by the body-size middleware outside this
one), its `email` spends the per-email quota, and the body is replayed to the app unchanged.
The limits are the app's `RATE_LIMITS` slot (filled by the app factory); until it is filled, or
when limiting is off, requests pass unlimited.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.observability.metrics import METRICS
from seawall.ratelimit.limiter import Verdict
from seawall.ratelimit.limits import RateLimits, client_address
from seawall.ratelimit.lockouts import audit_lockout, is_login_lockout
from seawall.ratelimit.policy import EXEMPT_PATHS, limit_header, policy_header
from seawall.web.errors import error_response
from seawall.web.middleware import read_body, replayed
from seawall.web.services import ServiceSlot

RATE_LIMITS: ServiceSlot[RateLimits] = ServiceSlot("rate_limits")
# `seawall_rate_limit_rejections_total{policy}`: the violated policy (`ip-60s`, `login-email-3600s`, ...),
# or this when the limiter's storage could not be asked and the request was refused (503).
UNAVAILABLE_POLICY = "unavailable"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _bearer(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def _email_of(body: bytes) -> str | None:
    try:  # orjson: strict JSON only (no lone surrogates), depth-limited; the input guard refuses the rest
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    email = parsed.get("email") if isinstance(parsed, dict) else None
    return email if isinstance(email, str) and 0 < len(email) <= 320 else None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        app_state = getattr(scope.get("app"), "state", None)
        limits = RATE_LIMITS.find(app_state) if app_state is not None else None
        if limits is None or not limits.enabled:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        peer = scope["client"][0] if scope.get("client") else None
        client = client_address(peer, _header(scope, b"x-forwarded-for"), limits.trusted_proxies)
        partitions = limits.partitions(method=method, path=path, client=client, bearer=_bearer(scope))
        verdict = await limits.limiter.check(partitions)
        email: str | None = None
        if verdict.allowed and limits.quotas.by_email(method, path) is not None:
            body, messages = await read_body(receive)
            receive = replayed(messages, receive)
            email = _email_of(body)
            by_email = limits.email_partition(method=method, path=path, email=email) if email else None
            if by_email is not None:
                partitions.append(by_email)
                more = await limits.limiter.check([by_email])
                verdict = Verdict(allowed=more.allowed, unavailable=more.unavailable, retry_after=more.retry_after,
                                  violated=more.violated, states=verdict.states + more.states)
        headers = {"RateLimit-Policy": policy_header(partitions)}
        if verdict.states:
            headers["RateLimit"] = limit_header(verdict.states)
        if verdict.unavailable:
            METRICS.rate_limit_rejections.labels(policy=UNAVAILABLE_POLICY).inc()
            response = error_response(503, "unavailable", "rate limiting is unavailable; retry shortly",
                                      headers={"Retry-After": str(verdict.retry_after)})
            await response(scope, receive, send)
            return
        if not verdict.allowed:
            if is_login_lockout(verdict.violated):
                assert verdict.violated is not None
                address = limits.address_of(email) if email else None
                locked = address if verdict.violated.startswith("login-email") and address else client
                await audit_lockout(scope, limits.lockouts, partition=limits.hasher(verdict.violated, locked),
                                    violated=verdict.violated, retry_after=verdict.retry_after, email=address)
            headers["Retry-After"] = str(verdict.retry_after)
            METRICS.rate_limit_rejections.labels(policy=verdict.violated or "unknown").inc()
            response = error_response(429, "rate_limited", "too many requests; retry after the given delay",
                                      details={"policy": verdict.violated, "retry_after": verdict.retry_after},
                                      headers=headers)
            await response(scope, receive, send)
            return
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *encoded]
            await send(message)

        await self.app(scope, receive, send_with_headers)

