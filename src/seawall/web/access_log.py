"""Pure ASGI middleware: one `http.request` line per HTTP request, at INFO, once it is answered.

The line: `method`, `route` (the route template, `web.routes.route_template`; never the raw path),
`status` (the answer's; 500 when the app raised instead of answering), `duration_ms` (from the call
into this middleware to the end of the answer, float, 2 decimals). The chain adds what is bound or
current: `request_id` and `client_ip` (bound by `RequestIdMiddleware`, which runs outside this one),
`trace_id` and `span_id` (the request's span, when tracing records one), `timestamp`, `level`, `logger`.

It sits just inside `RequestIdMiddleware` and outside the body-size, rate-limit and input-guard
middleware, so their 413/429/4xx answers are logged too. One structlog call per request; off with
`SEAWALL_ACCESS_LOG=false`.
"""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.web.routes import route_template

log = structlog.get_logger("seawall.access")
EVENT = "http.request"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
        finally:
            log.info(EVENT, method=scope["method"], route=route_template(scope), status=status,
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))
