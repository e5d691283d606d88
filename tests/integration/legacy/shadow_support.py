"""What the shadow tests share: the legacy app process, a request sent to it and turned into the
`ShadowRequest` + `LegacyAnswer` the bridge would hand to `ShadowRunner.submit`, and the comparisons
recorded in Seawall's database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.legacy.models import ShadowComparison
from seawall.legacy.routes import Mode, Route, SideEffects
from seawall.legacy.shadow import LegacyAnswer, ShadowRequest
from tests.support.legacy_app.process import LegacyApp

SIGNUPS = Route(name="POST /v1/signups", path="/v1/signups", methods=frozenset({"POST"}), mode=Mode.SHADOW,
                ignore=("id", "created_at", "updated_at"), side_effects=SideEffects.ROLLBACK)


@pytest.fixture(scope="module")
def legacy_app() -> Iterator[LegacyApp]:
    with LegacyApp.start() as app:
        yield app


@pytest.fixture
def legacy(legacy_app: LegacyApp) -> LegacyApp:
    legacy_app.reset()
    return legacy_app


def call_legacy(legacy: LegacyApp, method: str, path: str, *, json: Any = None, query: str = "",
                headers: dict[str, str] | None = None) -> tuple[ShadowRequest, LegacyAnswer]:
    """Send the request to the real legacy process; return it as the bridge would hand it on."""
    body = orjson.dumps(json) if json is not None else b""
    sent = {"content-type": "application/json", "x-request-id": f"shadow-test-{time.monotonic_ns()}",
            **(headers or {})}
    started = time.perf_counter()
    response = httpx.request(method, f"{legacy.url}{path}" + (f"?{query}" if query else ""), content=body,
                             headers=sent, timeout=10.0)
    seconds = time.perf_counter() - started
    wire_headers = [(name.lower().encode(), value.encode()) for name, value in sent.items()]
    wire_headers.append((b"content-length", str(len(body)).encode()))
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": wire_headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }
    answer = LegacyAnswer(status=response.status_code, headers=list(response.headers.raw), body=response.content,
                          seconds=seconds)
    return ShadowRequest(scope=scope, body=body), answer


async def comparisons(database: Database, route: str | None = None) -> list[ShadowComparison]:
    async with database.read_transaction() as session:
        query = select(ShadowComparison).order_by(ShadowComparison.id)
        if route is not None:
            query = query.where(ShadowComparison.route == route)
        return list((await session.execute(query)).scalars().all())
