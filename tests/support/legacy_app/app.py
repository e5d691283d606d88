"""The legacy app: control routes, then each module's routes, then the echo catch-all. Every request
is recorded (method, path, headers) before it is answered."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.legacy_app import accounts, echo, sessions
from tests.support.legacy_app.state import STATE


async def effects(request: Request) -> Response:
    return JSONResponse(dict(STATE.effects))


async def requests_seen(request: Request) -> Response:
    return JSONResponse(STATE.requests)


async def reset(request: Request) -> Response:
    STATE.reset()
    return Response(status_code=204)


class RecordRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_legacy/"):
            STATE.requests.append({
                "method": scope["method"], "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
            })
        await self.app(scope, receive, send)


def build_app() -> ASGIApp:
    control = [
        Route("/_legacy/effects", effects, methods=["GET"]),
        Route("/_legacy/requests", requests_seen, methods=["GET"]),
        Route("/_legacy/reset", reset, methods=["POST"]),
    ]
    routes = control + accounts.ROUTES + sessions.ROUTES + echo.ROUTES + [echo.CATCH_ALL]
    return RecordRequests(Starlette(routes=routes))
