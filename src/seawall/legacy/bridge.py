"""`LegacyBridgeMiddleware`: the pure ASGI dispatcher `app.create_app` installs when
`SEAWALL_LEGACY_UPSTREAM` is set (never otherwise: no bridge, no cost).

Per HTTP request: a reserved path (`routes.RESERVED_PREFIXES`) → Seawall; else the first route of the
table in use (`RouteTableHolder.current`, read once per request) decides: `seawall` → the wrapped app;
`legacy`, or no route → `LegacyProxy.forward`; `shadow` → forwarded, both bodies captured up to
`SEAWALL_LEGACY_SHADOW_MAX_BODY_BYTES`, and once the upstream's answer has been fully sent,
`ShadowRunner.submit(app=<the wrapped app>, ...)` (never awaited here). A shadow route's `sample`
is drawn per request (not sampled: plain forwarding). WebSocket and lifespan scopes pass through.

It sits inside the request id and request telemetry (a forwarded request has an id, an access-log line
and HTTP metrics, labelled with the table's pattern, or `legacy` for a path the table does not name)
and outside CORS, load shedding, the body-size limit, rate limiting and the input guard (those are the
rules of Seawall's own routes; forwarded bodies have `SEAWALL_LEGACY_MAX_BODY_BYTES`).

The runtime's `LegacyServices` arrive through the `LEGACY` slot (the runtime is built in the
lifespan): until it is filled, requests pass to the wrapped app. A forwarded request whose target is
not a path (asterisk-form) or whose path holds `.`/`..` segments (decoded: `%2e%2e` too) is refused
with 400 `bad_request`: resolved on the way, they would leave the upstream's path prefix. So is one
whose Host is empty, repeated or not `host[:port]` (`headers.valid_host`, RFC 3986 §3.2.2): it would
go on as X-Forwarded-Host / Forwarded host= and into a rewritten Location.

Matching: a CORS preflight (OPTIONS with `Access-Control-Request-Method`) is matched by the method it
asks about; a route listing GET also covers HEAD (`routes.Route.matches`). The upstream's answer is
marked `FORWARDED_ANSWER` in the scope, so Seawall's security headers leave it as legacy sent it.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.errors import SeawallError
from seawall.legacy import identity as identity_module
from seawall.legacy.headers import client_host
from seawall.legacy.routes import Mode, is_reserved
from seawall.legacy.services import LegacyServices
from seawall.legacy.shadow import LegacyAnswer, ShadowRequest
from seawall.web.errors import error_response
from seawall.web.middleware import LOG_CONTEXT
from seawall.web.services import ServiceSlot

LEGACY: ServiceSlot[LegacyServices | None] = ServiceSlot("legacy")
UNNAMED_ROUTE_LABEL = "legacy"  # the `route` label of a forwarded request the table does not name


@dataclass(frozen=True)
class ForwardedRoute:
    """Put in `scope["route"]` of a forwarded request: `web.routes.route_template` reads `path_format`."""

    path_format: str


class LegacyBridgeMiddleware:
    def __init__(self, app: ASGIApp, *, shadow_max_body_bytes: int = 256 * 1024) -> None:
        self.app = app
        self.shadow_max_body_bytes = shadow_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_reserved(scope["path"]):
            await self.app(scope, receive, send)
            return
        state = getattr(scope.get("app"), "state", None)
        services = LEGACY.find(state) if state is not None else None
        if services is None:
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        if not raw_path.startswith(b"/"):  # asterisk-form (`OPTIONS *`) or a target the server left absolute
            await error_response(400, "bad_request", "the request target must be a path")(scope, receive, send)
            return
        if any(segment in (".", "..") for segment in scope["path"].split("/")):  # also %2e%2e, decoded
            # RFC 3986 §5.2.4 would resolve them on the way (httpx does): out of the upstream's path prefix
            await error_response(400, "bad_request", "the request path must not hold . or .. segments")(
                scope, receive, send)
            return
        route = services.routes.current.match(scope["method"], scope["path"], _preflight_method(scope))
        if route is not None and route.mode == Mode.SEAWALL:
            await self.app(scope, receive, send)
            return
        if not _host_acceptable(scope.get("headers", [])):
            await error_response(400, "bad_request", "the Host header must be one host[:port] (RFC 3986 §3.2.2)")(
                scope, receive, send)
            return
        shadowed = route is not None and route.mode == Mode.SHADOW and random.random() < route.sample
        shadow_scope = _scope_copy(scope) if shadowed else None
        scope["route"] = ForwardedRoute(route.path if route is not None else UNNAMED_ROUTE_LABEL)
        request_id = _request_id(scope)
        try:
            identity = await services.identity.headers(scope, request_id) if services.identity is not None else []
        except SeawallError as exc:  # the session lookup's database unavailable (503): the one error shape
            await error_response(exc.status_code, exc.error_type, exc.message, headers={"Retry-After": "1"})(
                scope, receive, send)
            return
        exchange = await services.proxy.forward(
            scope, receive, send, request_id=request_id, reserved_headers=identity_module.RESERVED_HEADERS,
            identity=identity, capture_bytes=self.shadow_max_body_bytes if shadowed else None)
        if shadow_scope is not None and route is not None and exchange.completed:
            services.shadow.submit(
                self.app, route, ShadowRequest(scope=shadow_scope, body=exchange.request_body),
                LegacyAnswer(status=exchange.status, headers=exchange.headers, body=exchange.response_body,
                             seconds=exchange.seconds))


def _host_acceptable(headers: list[tuple[bytes, bytes]]) -> bool:
    """No Host (HTTP/1.0), or exactly one that is `valid_host` (RFC 9112 §3.2: several is a 400)."""
    hosts = [value for name, value in headers if name.lower() == b"host"]
    return not hosts or client_host(headers) is not None


def _preflight_method(scope: Scope) -> str | None:
    """A CORS preflight's `Access-Control-Request-Method` (an OPTIONS carrying it), else None."""
    if scope["method"] != "OPTIONS":
        return None
    for name, value in scope.get("headers", []):
        if name.lower() == b"access-control-request-method":
            return str(value.decode("latin-1")).strip().upper() or None
    return None


def _request_id(scope: Scope) -> str:
    context = scope.get(LOG_CONTEXT)
    if isinstance(context, dict) and context.get("request_id"):
        return str(context["request_id"])
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            return str(value.decode("latin-1"))
    return ""


def _scope_copy(scope: Scope) -> dict[str, Any]:
    """The request's HTTP scope for the shadow run: its own dict and header list (the app and the
    middleware outside write into the live one), sharing the `app`, `state` and server objects."""
    shadow = {key: value for key, value in scope.items() if key not in ("route", "endpoint", "path_params", "router")}
    shadow["headers"] = list(scope.get("headers", []))
    if isinstance(scope.get("state"), dict):
        shadow["state"] = copy.copy(scope["state"])
    return shadow

