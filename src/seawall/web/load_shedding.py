"""Pure ASGI middleware: a bounded number of requests in flight per process; beyond it, shed at once.

At most `max_in_flight` HTTP requests are inside the app at a time (from the call into this
middleware until the app has sent its answer). One more is answered at once, before the app, the
rate limiter or the body reader see it:

    503  {"error": {"type": "overloaded", "message": ...}}   Retry-After: <retry_after_seconds>

Deciding costs a comparison and two counter updates: no database, no Redis, no body read, no lock
(the event loop runs one request's code at a time, so the count needs none). An overloaded process
answers the excess fast instead of queueing it behind work it cannot finish in time (latency grows
with the queue, clients time out, retries pile on: Google SRE book, "Handling Overload"); a client
or load balancer retries elsewhere or later. The limit is per process, on top of the per-client
rate limits (429): those keep one client to its share, this keeps the process within what it can
serve for all of them together.

The probes `/livez`, `/readyz` and `/metrics` are never shed nor counted: an orchestrator that
saw a busy process fail its probes would restart it, and lose its capacity when it is most needed.
WebSocket and lifespan scopes pass through.

Metrics: `seawall_http_requests_shed_total` and `seawall_http_requests_in_flight` (the gauge is
updated once per admitted request on entry and exit). The middleware sits inside
`RequestTelemetryMiddleware`, so each shed answer also has its access-log line and is counted in
`seawall_http_requests_total{status="503"}`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.observability.metrics import METRICS
from seawall.ratelimit.policy import EXEMPT_PATHS
from seawall.web.errors import error_response

NEVER_SHED = EXEMPT_PATHS  # the probes: the same paths the rate limiter never limits
ERROR_TYPE = "overloaded"
MESSAGE = "the server is at capacity; retry after the given delay"


def shed_answer(retry_after_seconds: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of a shed request's 503 in the one error shape (`web.errors.error_response`),
    rendered once per middleware."""
    response = error_response(503, ERROR_TYPE, MESSAGE, headers={"Retry-After": str(retry_after_seconds)})
    return list(response.raw_headers), bytes(response.body)


class LoadSheddingMiddleware:
    """Admit at most `max_in_flight` concurrent requests (`>= 1`); shed the rest with 503 `overloaded`."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_seconds: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.shed = 0  # requests shed by this middleware since it was built
        self._headers, self._body = shed_answer(retry_after_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.shed += 1
            METRICS.http_requests_shed.inc()
            # A fresh headers list per answer: the middleware outside this one append to it.
            await send({"type": "http.response.start", "status": 503, "headers": list(self._headers)})
            await send({"type": "http.response.body", "body": self._body})
            return
        self.in_flight += 1
        gauge = METRICS.http_requests_in_flight
        gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            gauge.dec()
