"""Browser-facing hardening of Seawall's own answers: security headers, `Cache-Control`, and strict CORS.

`SecurityHeadersMiddleware` (pure ASGI) adds to every answer of Seawall's own, whatever produced it (a
route, an error handler, the body-size limit, the rate limiter, Starlette's last-resort 500), unless it
already carries the header. An answer the legacy bridge forwards from the upstream (its scope marked
`FORWARDED_ANSWER` just before that answer starts) is the upstream's: its headers pass unchanged (a
legacy HTML page keeps its own CSP, framing and caching rules), but for `Strict-Transport-Security`,
which is the public host's policy, not a page's (RFC 6797 §8.1): when it is configured, a forwarded
answer without one gets it too. The bridge's own refusals (400, 413, 502, 503, 504) are Seawall's and
get every header.

    X-Content-Type-Options: nosniff          no MIME sniffing of JSON into HTML or script
    X-Frame-Options: DENY                    never framed (legacy browsers; CSP below for the others)
    Referrer-Policy: no-referrer
    Content-Security-Policy: default-src 'none'; frame-ancestors 'none'
                                             a JSON API loads nothing; `/docs` (Swagger UI) gets
                                             `DOCS_CSP` instead, which admits its CDN assets
    Cache-Control: no-store                  answers carry tokens, secrets and personal data: no
                                             browser or proxy may keep them (RFC 9111 §5.2.2.5)
    Strict-Transport-Security: max-age=N     only when `SEAWALL_HSTS_MAX_AGE_SECONDS` > 0; also on
                                             forwarded answers

Those are the OWASP Secure Headers Project's recommendations for an API (OWASP REST Security Cheat
Sheet, "Security headers"). `install_security_headers(app, ...)` wraps the *whole* middleware stack,
outside Starlette's `ServerErrorMiddleware`, so an unexpected 500 carries them too.

`StrictCORSMiddleware` is Starlette's `CORSMiddleware` whose refused preflights answer in the one
error shape (400 `cors_not_allowed`) without any `Access-Control-Allow-Origin`. Allowed origins come
from `SEAWALL_CORS_ALLOWED_ORIGINS` (none by default); credentials (cookies) are never allowed, since
Seawall authenticates with bearer tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI as FastAPI serves it: its bundle and stylesheet from jsDelivr, an inline script that
# starts it, its favicon, and `/openapi.json` (and "Try it out") from this origin.
DOCS_CSP = ("default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
            "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src https://fastapi.tiangolo.com data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

# Scope key the legacy bridge sets (True) just before it starts sending the upstream's answer.
FORWARDED_ANSWER = "seawall.forwarded_answer"

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")  # HEAD: served wherever GET is (`web.head`)
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")
CORS_EXPOSED_HEADERS = ("X-Request-ID", "Retry-After", "RateLimit", "RateLimit-Policy", "Idempotent-Replayed")
CORS_MAX_AGE_SECONDS = 600


def security_headers(*, docs: bool, hsts_max_age_seconds: int) -> list[tuple[bytes, bytes]]:
    """The headers `SecurityHeadersMiddleware` adds (lower-case names), for an API or the docs page."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", (DOCS_CSP if docs else API_CSP).encode()),
        (b"cache-control", b"no-store"),
    ]
    if hsts_max_age_seconds > 0:
        headers.append((b"strict-transport-security", f"max-age={hsts_max_age_seconds}".encode()))
    return headers


class SecurityHeadersMiddleware:
    """Add `security_headers(...)` to every HTTP answer of Seawall's own that does not already set them
    (a forwarded answer, `scope[FORWARDED_ANSWER]`, gets only the HSTS header, and only when it has none).
    `docs_paths`: paths that get `DOCS_CSP` (the Swagger UI page)."""

    def __init__(self, app: ASGIApp, *, hsts_max_age_seconds: int = 0, docs_paths: Sequence[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        self.api_headers = security_headers(docs=False, hsts_max_age_seconds=hsts_max_age_seconds)
        self.docs_headers = security_headers(docs=True, hsts_max_age_seconds=hsts_max_age_seconds)
        self.forwarded_headers = [(name, value) for name, value in self.api_headers
                                  if name == b"strict-transport-security"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.docs_headers if scope.get("path") in self.docs_paths else self.api_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                adding = self.forwarded_headers if scope.get(FORWARDED_ANSWER) else added
                if adding:
                    headers = list(message.get("headers", []))
                    present = {name.lower() for name, _ in headers}
                    message["headers"] = headers + [(name, value) for name, value in adding if name not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI, *, hsts_max_age_seconds: int) -> None:
    """Wrap the app's whole middleware stack (built on its first request) in `SecurityHeadersMiddleware`."""
    build: Callable[[], ASGIApp] = app.build_middleware_stack
    docs_paths = [app.docs_url] if app.docs_url else []

    def build_with_headers() -> ASGIApp:
        return SecurityHeadersMiddleware(build(), hsts_max_age_seconds=hsts_max_age_seconds, docs_paths=docs_paths)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]


class StrictCORSMiddleware(CORSMiddleware):
    """CORS for the listed `origins` only (see the module docstring); a refused preflight is a 400 in
    the one error shape, with no `Access-Control-Allow-*` header a browser could act on."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        super().__init__(app, allow_origins=list(origins), allow_methods=list(CORS_METHODS),
                         allow_headers=list(CORS_REQUEST_HEADERS), allow_credentials=False,
                         expose_headers=list(CORS_EXPOSED_HEADERS), max_age=CORS_MAX_AGE_SECONDS)

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        refused = bytes(answer.body).decode("utf-8", errors="replace").removeprefix("Disallowed CORS ")
        body = {"error": {"type": "cors_not_allowed",
                          "message": f"this cross-origin request is not allowed ({refused})"}}
        return Response(json.dumps(body), status_code=400, media_type="application/json",
                        headers={"Vary": "Origin"})
