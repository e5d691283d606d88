"""Record which status each route answered, for the test suite's OpenAPI check.

`ResponseRecordMiddleware` is installed by the app factory only when `SEAWALL_RECORD_RESPONSES_DIR`
is set (the test suite sets it; production leaves it unset). It appends one JSON line per
(method, route path template, status) this app has not yet recorded to
`<dir>/responses-<pid>.jsonl`, e.g. `{"method": "POST", "path": "/v1/signups", "status": 202}`;
every process of a run writes its own file, and `read_records(dir)` reads them all.

It is the outermost middleware, so it also sees the answers of the body-size limit (413) and the
rate limiter (429/503), which never reach the router: the route is found by matching the request
against the app's routes, not taken from the scope. Requests that match no documented route (404 for
an unknown path, 405, `/docs`) are not recorded. A 500 sent by Starlette's outermost error handler is
not seen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from starlette.routing import Match
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


def documented_route_of(scope: Scope) -> str | None:
    """The path template of the documented route this request fully matches, if any."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        if not getattr(route, "include_in_schema", False):
            continue
        match, _child = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path_format", getattr(route, "path", "")))
    return None


class ResponseRecordMiddleware:
    def __init__(self, app: ASGIApp, *, directory: Path) -> None:
        self.app = app
        self.file = directory / f"responses-{os.getpid()}.jsonl"
        self.recorded: set[SeenResponse] = set()

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
        path = documented_route_of(scope)
        if path is None:
            return
        seen = SeenResponse(str(scope["method"]), path, status)
        if seen in self.recorded:
            return
        self.recorded.add(seen)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with self.file.open("a") as out:
            out.write(json.dumps(seen._asdict()) + "\n")
