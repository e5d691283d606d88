"""Pure ASGI middleware: RED metrics per route template — `seawall_http_requests_total{method, route,
status}` and `seawall_http_request_duration_seconds{method, route}` (arrival to the last byte sent).

Labels stay few: `route` is the route template (`web.routes.route_template`, as on the access log's
lines): a request refused before routing (429, 413) counts under the route it would have reached, and
one that matches none (404 on any path) is `unmatched`, so random paths cannot create series. A
method outside the HTTP standard's is `other`. `GET /metrics` itself is not counted (scrapes would
pad the request rate of an idle server and the SLO). An exception escaping the app counts as 500.

It runs on every request: the label children are looked up once per (method, route, status) and kept
(`observability.label_cache.Children`; dropped when the catalogue is rebuilt by `exposition.install`).
The app factory installs it only when `SEAWALL_METRICS_ENABLED` is true.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.observability.label_cache import Children
from seawall.observability.metrics import METRICS
from seawall.web.routes import route_template

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
NOT_COUNTED = frozenset({"/metrics"})


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._requests = Children(lambda: METRICS.http_requests)  # (method, route, status)
        self._durations = Children(lambda: METRICS.http_request_duration)  # (method, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NOT_COUNTED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = route_template(scope)
        self._requests(method, route, str(status)).inc()
        self._durations(method, route).observe(seconds)

