"""Record which status each route answered, for the test suite's OpenAPI check.

`ResponseRecordMiddleware` is installed by the app factory only when `SEAWALL_RECORD_RESPONSES_DIR`
is set (the test suite sets it; production leaves it unset). It appends one JSON line per
(method, route path template, status) this app has not yet recorded to
`<dir>/responses-<pid>.jsonl`, e.g. `{"method": "POST", "path": "/v1/signups", "status": 202}`;
every process of a run writes its own file, and `read_records(dir)` reads them all.

It is the outermost middleware, so it also sees the answers of the body-size limit (413) and the
rate limiter (429/503), which never reach the router: the operation is found by matching the request
against the app's own OpenAPI schema (`scope["app"].openapi()`), not taken from the router. Requests
for no documented operation (an unknown path, a method the path does not have, `/docs`) are not
recorded. A 500 sent by Starlette's outermost error handler (an unhandled exception) is not seen.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SeenResponse(NamedTuple):
    method: str
    path: str  # the route's path template, as in the OpenAPI schema: /v1/payments/{payment_id}
    status: int


def read_records(directory: Path) -> set[SeenResponse]:
    """Every (method, path template, status) recorded in `directory` by any process."""
    seen: set[SeenResponse] = set()
    for file in sorted(directory.glob("responses-*.jsonl")):
        for line in file.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                seen.add(SeenResponse(str(record["method"]), str(record["path"]), int(record["status"])))
    return seen


class DocumentedOperations:
    """The operations of an OpenAPI schema, to find the one a request is for (path templates in schema
    order, as the router tries its routes; `{name}` matches one path segment)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.templates: list[tuple[re.Pattern[str], str, frozenset[str]]] = []
        for template, operations in schema.get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}/]+\\\}", "[^/]+", re.escape(template)) + "$")
            self.templates.append((pattern, template, frozenset(method.upper() for method in operations)))

    def template_of(self, method: str, path: str) -> str | None:
        """The path template of the first documented operation for `method path` (as the router picks the
        first route matching both), or None."""
        for pattern, template, methods in self.templates:
            if method in methods and pattern.match(path):
                return template
        return None


class ResponseRecordMiddleware:
    def __init__(self, app: ASGIApp, *, directory: Path) -> None:
        self.app = app
        self.directory = directory
        self.recorded: set[SeenResponse] = set()
        self.operations: DocumentedOperations | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._record(scope, int(message["status"]))
            await send(message)

        await self.app(scope, receive, recording_send)

    def _record(self, scope: Scope, status: int) -> None:
        if self.operations is None:
            self.operations = DocumentedOperations(scope["app"].openapi())
        path = self.operations.template_of(str(scope["method"]), str(scope["path"]))
        if path is None:
            return
        seen = SeenResponse(str(scope["method"]), path, status)
        if seen in self.recorded:
            return
        self.recorded.add(seen)
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / f"responses-{os.getpid()}.jsonl").open("a") as out:  # this process's file
            out.write(json.dumps(seen._asdict()) + "\n")
