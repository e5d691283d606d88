"""Pure ASGI middleware: what no route may receive, refused once for every route before any parsing.

- A JSON body nested deeper than `MAX_JSON_DEPTH` arrays/objects. Python's `json` (FastAPI's parser)
  recurses once per level: 5,000 `[` in a 10 kB body end in `RecursionError`, a 500. No Seawall body
  needs more than a few levels.
- A JSON body that is not strict JSON text (RFC 8259): malformed, invalid UTF-8 (FastAPI would answer
  an undeclared 400), or a lone UTF-16 surrogate escape such as `"\\ud800"`, which Python's `json`
  accepts but no database driver can encode.
- A NUL character (U+0000) anywhere in the request's text: a JSON string or key, the path or the query
  string. PostgreSQL's `text` cannot hold it (asyncpg raises `CharacterNotInRepertoireError`); SQLite
  would store it. Refusing it at the door makes every backend answer alike.

Each is a 422 `validation_error` in the one error shape, with `details` naming where (`["body", ...]`,
`["path"]`, `["query"]`). JSON bodies are those a route would parse as JSON: `Content-Type`
`application/json`, any `+json` type, or none (FastAPI reads a body without a type as JSON). The body
is read whole, which the body-size middleware outside this one bounds (`SEAWALL_MAX_BODY_BYTES`),
parsed once more with orjson (its C parser stops at 1,024 levels by itself; a few microseconds
for a usual body), walked, and replayed to the app unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.web.errors import error_response
from seawall.web.middleware import read_body, replayed

MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON is nested deeper than {MAX_JSON_DEPTH} levels"


class RefusedInput(Exception):
    def __init__(self, loc: list[str | int], message: str, error_type: str) -> None:
        super().__init__(message)
        self.loc, self.message, self.error_type = loc, message, error_type


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or media_type.endswith(b"+json")
    return True


def check_text(scope: Scope) -> None:
    """Raise `RefusedInput` if the path or the query string holds a NUL character."""
    if "\x00" in scope.get("path", ""):
        raise RefusedInput(["path"], "the path holds a NUL character", "nul_character")
    query = scope.get("query_string", b"")
    if b"\x00" in query or (b"%00" in query and b"\x00" in unquote_to_bytes(query)):
        raise RefusedInput(["query"], "the query string holds a NUL character", "nul_character")


def check_json(body: bytes) -> None:
    """Raise `RefusedInput` if `body` (non-empty) is not strict JSON, is deeper than `MAX_JSON_DEPTH`,
    or holds a NUL in a string or key."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg:  # orjson's own limit (1,024 levels) came first
            raise RefusedInput(["body"], TOO_DEEP, "json_too_deep") from None
        raise RefusedInput(["body"], f"the body is not valid JSON: {exc.msg}", "json_invalid") from None
    _walk(value, ["body"], 1)


def _walk(value: Any, loc: list[str | int], depth: int) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise RefusedInput(loc, "text may not hold a NUL character (U+0000)", "nul_character")
    elif isinstance(value, dict | list):
        if depth > MAX_JSON_DEPTH:
            raise RefusedInput(loc, TOO_DEEP, "json_too_deep")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                raise RefusedInput(loc, "a key may not hold a NUL character (U+0000)", "nul_character")
            _walk(item, [*loc, key], depth + 1)


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_text(scope)
            if scope["method"] not in ("GET", "HEAD", "OPTIONS", "DELETE") and _is_json(scope):
                body, messages = await read_body(receive)
                receive = replayed(messages, receive)
                if body:
                    check_json(body)
        except RefusedInput as refused:
            details = [{"loc": refused.loc, "message": refused.message, "type": refused.error_type}]
            response = error_response(422, "validation_error", "the request is not valid", details)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

