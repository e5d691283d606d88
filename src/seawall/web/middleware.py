"""Pure ASGI middleware: request body size limit and request ids; helpers to read a body and replay it."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.observability.redaction import scrub_text


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing re-raises it as is and it maps to 413."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


def _json_error(status: int, error_type: str, message: str) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"error": {"type": error_type, "message": message}}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, body


class BodySizeLimitMiddleware:
    """Reject request bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body is larger than {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(send, message)
                return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(message)
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal response_started
            if msg["type"] == "http.response.start":
                response_started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._reject(send, message)

    async def _reject(self, send: Send, message: str) -> None:
        start, body = _json_error(413, "payload_too_large", message)
        await send(start)
        await send({"type": "http.response.body", "body": body})


# A client's X-Request-ID is kept only in this shape (a UUID, a hex or base64url token, a trace id...):
# it lands in log lines and audit rows, where quotes, brackets or markup could forge or break a record.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
# The scope key under which `RequestIdMiddleware` also leaves what it binds: for the 500 handler, which
# runs outside every middleware (Starlette's ServerErrorMiddleware), after the binding has ended.
LOG_CONTEXT = "seawall.log_context"


class RequestIdMiddleware:
    """Take `X-Request-ID` (or make one when absent, not of the `REQUEST_ID` shape, or holding what looks
    like a secret), bind it to every log line, and echo it on the response.
    With `client_of`, also bind `client_ip` (the client as the rate limiter sees it, for the audit log)."""

    def __init__(self, app: ASGIApp, *, client_of: Callable[[Scope], str] | None = None) -> None:
        self.app = app
        self.client_of = client_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                # Kept only in the shape, and only if it holds nothing that looks like a secret (a card
                # number, a key, `password=...`): the id is echoed, logged and stored with jobs as is.
                if REQUEST_ID.fullmatch(candidate) and scrub_text(candidate) == candidate:
                    request_id = candidate
        request_id = request_id or secrets.token_hex(12)

        async def send_with_id(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                msg.setdefault("headers", [])
                msg["headers"] = [*msg["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(msg)

        bound: dict[str, str] = {"request_id": request_id}
        if self.client_of is not None:
            bound["client_ip"] = self.client_of(scope)
        scope[LOG_CONTEXT] = bound
        with structlog.contextvars.bound_contextvars(**bound):
            await self.app(scope, receive, send_with_id)


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole request body, and the ASGI messages it came in (to hand to `replayed`)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def replayed(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives `messages` again, then defers to `receive`: the app reads the body as sent."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
