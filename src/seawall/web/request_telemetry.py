"""Pure ASGI middleware: once each HTTP request is answered, its access-log line and its RED metrics.

One layer times the request and notes its status for both consumers (either may be off):
- **access log** (`SEAWALL_ACCESS_LOG`): one `http.request` line at INFO with `method`, `route`,
  `status`, `duration_ms` (float, 2 decimals). The logging chain adds what is bound or current:
  `request_id` and `client_ip` (`RequestIdMiddleware`, which runs outside this one), `trace_id` and
  `span_id` (the request's span, when tracing records one), `timestamp`, `level`, `logger`.
- **metrics** (`SEAWALL_METRICS_ENABLED`): `seawall_http_requests_total{method, route, status}` and
  `seawall_http_request_duration_seconds{method, route}`. A method outside the HTTP standard's is
  `other`; `GET /metrics` itself is not counted (scrapes would pad the request rate of an idle server
  and the SLO). The label children are looked up once per (method, route, status) and kept
  (`observability.label_cache.Children`).

`route` is the route template (`web.routes.route_template`), never the raw path: a request refused
before routing (429, 413) has the route it would have reached, and one that matches none is
`unmatched`, so random paths cannot create series or log values. `status` is the answer's, or 500
when the app raised instead of answering. The duration runs from the call into this middleware to the
end of the answer.

It sits just inside `RequestIdMiddleware` and outside CORS, the body-size, rate-limit and input-guard
middleware, so their answers (preflights, 413, 429, 422) are logged and counted too.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.observability.label_cache import Children
from seawall.observability.metrics import METRICS
from seawall.web.routes import route_template

log = structlog.get_logger("seawall.access")
EVENT = "http.request"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
NOT_COUNTED = frozenset({"/metrics"})
CANCELLED_STATUS = 499  # a request cut off before its answer started (see `__call__`)


class RequestTelemetryMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool = True, metrics: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.metrics = metrics
        self._requests = Children(lambda: METRICS.http_requests)  # (method, route, status)
        self._durations = Children(lambda: METRICS.http_request_duration)  # (method, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: the app raised (the server-error handler answers 500)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except asyncio.CancelledError:
            # Cut off before answering (the server's shutdown timeout ran out, or the client left): no
            # answer was given, so no 500 is counted against the error budget. 499 is nginx's
            # "closed before an answer" status, the usual name for it in access logs.
            if status == 500:
                status = CANCELLED_STATUS
            raise
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            if self.access_log:
                log.info(EVENT, method=scope["method"], route=route, status=status,
                         duration_ms=round(seconds * 1000, 2))
            if self.metrics and scope["path"] not in NOT_COUNTED:
                method = scope["method"] if scope["method"] in METHODS else "other"
                self._requests(method, route, str(status)).inc()
                self._durations(method, route).observe(seconds)
