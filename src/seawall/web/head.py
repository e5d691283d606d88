"""`HEAD` on every `GET` route: the GET's status and headers, no body (RFC 9110 §9.3.2: "The HEAD method is
identical to GET except that the server MUST NOT send content in the response"; §9.1: every general-purpose
server supports GET and HEAD).

FastAPI routes list only the methods they declare, so without this a `HEAD /v1/me` answers 405. That
matters behind the legacy bridge: its route table sends a `HEAD` wherever the `GET` goes
(`legacy.routes`), so a GET route switched to Seawall must answer HEAD as legacy did.

`HeadAsGetMiddleware` (pure ASGI, innermost: every other middleware, the access log and the metrics see
the request as the `HEAD` it is) hands the app a copy of the scope with `method` `GET` (and copies back
what the router wrote into it: the access log and metrics name the GET route) and sends the
answer's start unchanged (its `Content-Length` is the GET's, as §8.6 allows) and its body messages with
empty bodies. Where no GET route exists, the router's 405 (with its `Allow`) stands.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        inner = {**scope, "method": "GET"}

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.start":
                share(inner, scope)
            elif message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(inner, receive, send_without_body)
        finally:
            share(inner, scope)


def share(inner: Scope, scope: Scope) -> None:
    """What the app wrote into its copy of the scope (the router's `route`, `endpoint`, `path_params`),
    for the outer middleware that reads it (`web.routes.route_template`); the method stays `HEAD`."""
    scope.update((key, value) for key, value in inner.items() if key != "method")
