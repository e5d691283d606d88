"""Promise: the bridge sends each request where the route table says — `seawall` to Seawall's stack,
`legacy` and unnamed paths to the upstream, `shadow` to the upstream and then, once the answer has been
sent, to `ShadowRunner.submit` with the request and legacy's answer (never awaited; `sample` honoured;
bodies captured only up to the shadow cap) — and a client's identity headers never reach legacy.
In process: the upstream is an httpx mock transport, Seawall's stack a small ASGI app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from seawall.config import Settings
from seawall.legacy.bridge import LEGACY, LegacyBridgeMiddleware
from seawall.legacy.proxy import LegacyProxy
from seawall.legacy.routes import Route, RouteTableHolder, parse_table
from seawall.legacy.services import LegacyServices
from seawall.legacy.shadow import LegacyAnswer, ShadowRequest
from seawall.legacy.upstream import parse_upstream
from seawall.resilience.policy import policy_from_settings

TABLE = """
[[route]]
path = "/v1/mine"
mode = "seawall"

[[route]]
path = "/v1/accounts"
methods = ["POST"]
mode = "shadow"

[[route]]
path = "/v1/never"
mode = "shadow"
sample = 0.0
"""
SHADOW_CAP = 1024


class Streamed(httpx.AsyncByteStream):
    """An answer body read as a stream, as from a socket (`httpx.Response(content=...)` is pre-read)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body[:3]
        yield self.body[3:]


class RecordingShadow:
    def __init__(self) -> None:
        self.submitted: list[tuple[ASGIApp, Route, ShadowRequest, LegacyAnswer]] = []

    def submit(self, app: ASGIApp, route: Route, request: ShadowRequest, legacy: LegacyAnswer) -> None:
        self.submitted.append((app, route, request, legacy))

    async def aclose(self) -> None:
        return None


class SignedIdentity:
    async def headers(self, scope: Scope, request_id: str) -> list[tuple[bytes, bytes]]:
        return [(b"seawall-user", b"user-1")]


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.upstream_seen: list[httpx.Request] = []
        self.seawall_seen: list[str] = []

        async def upstream(request: httpx.Request) -> httpx.Response:
            body = await request.aread()
            self.upstream_seen.append(request)
            answer = json.dumps({"legacy": True, "length": len(body)}).encode()
            return httpx.Response(201, stream=Streamed(answer),
                                  headers={"X-From": "legacy", "Content-Type": "application/json"})

        async def seawall(scope: Scope, receive: Receive, send: Send) -> None:
            self.seawall_seen.append(scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"seawall"})

        settings = Settings(var_dir=tmp_path, legacy_upstream="http://legacy.test")
        proxy = LegacyProxy(parse_upstream("http://legacy.test"),
                            httpx.AsyncClient(transport=httpx.MockTransport(upstream)),
                            policy_from_settings("legacy", settings), max_body_bytes=1024 * 1024)
        self.shadow = RecordingShadow()
        services: Any = LegacyServices(routes=RouteTableHolder(parse_table(TABLE)), proxy=proxy,
                                       shadow=self.shadow, identity=SignedIdentity(),  # type: ignore[arg-type]
                                       sessions=None)
        self.inner = seawall
        self.bridge = LegacyBridgeMiddleware(seawall, shadow_max_body_bytes=SHADOW_CAP)
        host = Starlette()
        LEGACY.provide(host, lambda: services)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope["app"] = host
            await self.bridge(scope, receive, send)

        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://public.test")


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


async def test_seawall_routes_stay_here_and_everything_else_goes_to_the_upstream(rig: Rig) -> None:
    mine = await rig.client.get("/v1/mine")
    assert (mine.status_code, mine.text) == (200, "seawall")
    assert rig.upstream_seen == []
    other = await rig.client.get("/v1/other?x=1", headers={"Seawall-User": "admin"})
    assert other.status_code == 201 and other.headers["x-from"] == "legacy"
    assert rig.seawall_seen == ["/v1/mine"]
    sent = rig.upstream_seen[0]
    assert str(sent.url) == "http://legacy.test/v1/other?x=1"
    assert sent.headers.get_list("seawall-user") == ["user-1"]  # the client's dropped, Seawall's signed one added
    assert rig.shadow.submitted == []


async def test_a_shadow_route_is_answered_by_legacy_then_submitted_with_both_sides(rig: Rig) -> None:
    body = json.dumps({"email": "a@example.com"}).encode()
    answer = await rig.client.post("/v1/accounts?src=web", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 201 and answer.json() == {"legacy": True, "length": len(body)}
    assert rig.seawall_seen == []  # the shadow run is the runner's job, not the request's
    [(app, route, request, legacy)] = rig.shadow.submitted
    assert app is rig.inner and route.name == "POST /v1/accounts"
    assert request.body == body
    assert request.scope["method"] == "POST" and request.scope["path"] == "/v1/accounts"
    assert request.scope["query_string"] == b"src=web"
    assert "route" not in request.scope
    assert legacy.status == 201 and json.loads(legacy.body or b"") == answer.json()
    assert (b"x-from", b"legacy") in legacy.headers and legacy.seconds >= 0


async def test_bodies_over_the_shadow_cap_are_forwarded_whole_but_not_captured(rig: Rig) -> None:
    body = b"x" * (SHADOW_CAP + 1)
    answer = await rig.client.post("/v1/accounts", content=body)
    assert answer.json()["length"] == len(body)
    [(_, _, request, legacy)] = rig.shadow.submitted
    assert request.body is None and legacy.body is not None


async def test_sample_zero_never_shadows(rig: Rig) -> None:
    for _ in range(5):
        assert (await rig.client.get("/v1/never")).status_code == 201
    assert rig.shadow.submitted == []
