"""Read-your-writes: mark the signed-in user of every request that wrote, before its answer is sent.

Contract: installed only with a replica configured (`app.create_app`). A request counts as having written
when its method is not GET, HEAD or OPTIONS, its answer's status is below 400 (the request's transaction
committed before the answer: `web.deps.transaction`), and a signed-in user made it: the bearer-token
dependency (`accounts.auth`) or the log-in route notes the user with `note_writer`. The mark
(`ReadRouter.wrote`) is awaited before the answer's first byte goes out, so the user's next request,
on any process, already reads from the primary.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.web.deps import READ_ROUTER

WRITER = "seawall.writer"  # the scope key of the holder `note_writer` fills
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def note_writer(scope: MutableMapping[str, Any], user_id: str) -> None:
    """The signed-in user of this request (read by the middleware when the request wrote)."""
    holder = scope.get(WRITER)
    if holder is not None:
        holder["user_id"] = user_id


class ReadYourWritesMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        holder: dict[str, str] = {}
        scope[WRITER] = holder
        app_state = getattr(scope.get("app"), "state", None)

        async def send_after_marking(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400 and "user_id" in holder:
                router = READ_ROUTER.find(app_state) if app_state is not None else None
                if router is not None:
                    await router.wrote(holder["user_id"])
            await send(message)

        await self.app(scope, receive, send_after_marking)
