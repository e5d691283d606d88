"""Promise 6 (overload is shed, not queued): past `max_in_flight` requests in flight, a request is
answered 503 `overloaded` with Retry-After at once, before the app sees it; probes are never shed;
a request ending (any way) frees its place, so the process recovers by itself.

Concurrency is made with events, not timing: the admitted requests block inside the app until the
test releases them, so "in flight" is exact."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from seawall.config import Settings
from seawall.observability import exposition
from seawall.web.load_shedding import NEVER_SHED, LoadSheddingMiddleware
from tests.support.metrics import registry_text, sample


class Gate:
    """An app whose `/slow` requests wait for `release`; counts what reached it."""

    def __init__(self) -> None:
        self.entered = 0
        self.inside = asyncio.Event()
        self.release = asyncio.Event()
        app = FastAPI()

        @app.get("/slow")
        async def slow() -> dict[str, bool]:
            self.entered += 1
            self.inside.set()
            await self.release.wait()
            return {"ok": True}

        @app.get("/broken")
        async def broken() -> None:
            raise RuntimeError("boom")

        for path in NEVER_SHED:
            app.add_api_route(path, self._probe, methods=["GET"])
        self.app = app

    async def _probe(self) -> dict[str, bool]:
        return {"probe": True}


def client(app: LoadSheddingMiddleware) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def wait_for(condition: object, what: str) -> None:
    for _ in range(2000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never reached: {what}")


def metric(name: str) -> float:
    return sample(registry_text(exposition.scrape_registry()), name)


async def test_past_the_limit_requests_are_shed_at_once_in_the_error_shape() -> None:
    exposition.install(Settings())
    gate = Gate()
    middleware = LoadSheddingMiddleware(gate.app, max_in_flight=2, retry_after_seconds=3)
    shed_before = metric("seawall_http_requests_shed_total")
    async with client(middleware) as http:
        admitted = [asyncio.create_task(http.get("/slow")) for _ in range(2)]
        await wait_for(lambda: gate.entered == 2, "two requests inside the app")
        assert middleware.in_flight == 2
        assert metric("seawall_http_requests_in_flight") >= 2
        shed = await asyncio.gather(*(http.get("/slow") for _ in range(5)))
        assert gate.entered == 2  # the app never saw the shed ones
        for answer in shed:
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "3"
            assert answer.headers["content-type"] == "application/json"
            assert answer.json() == {"error": {"type": "overloaded",
                                               "message": "the server is at capacity; retry after the given delay"}}
        gate.release.set()
        assert [answer.status_code for answer in await asyncio.gather(*admitted)] == [200, 200]
    assert middleware.in_flight == 0
    assert middleware.shed == 5
    assert metric("seawall_http_requests_shed_total") - shed_before == 5


async def test_probes_are_never_shed_nor_counted() -> None:
    gate = Gate()
    middleware = LoadSheddingMiddleware(gate.app, max_in_flight=1)
    async with client(middleware) as http:
        admitted = asyncio.create_task(http.get("/slow"))
        await wait_for(lambda: gate.entered == 1, "the request inside the app")
        for path in sorted(NEVER_SHED):
            answer = await http.get(path)
            assert answer.status_code == 200, path
        assert middleware.in_flight == 1
        assert (await http.get("/slow")).status_code == 503
        gate.release.set()
        await admitted
    assert sorted(NEVER_SHED) == ["/livez", "/metrics", "/readyz"]


async def test_a_request_that_fails_or_is_abandoned_frees_its_place() -> None:
    gate = Gate()
    middleware = LoadSheddingMiddleware(gate.app, max_in_flight=1)
    async with client(middleware) as http:
        assert (await http.get("/broken")).status_code == 500
        assert middleware.in_flight == 0
        abandoned = asyncio.create_task(http.get("/slow"))
        await wait_for(lambda: gate.entered == 1, "the request inside the app")
        abandoned.cancel()  # the client went away: the server cancels the request's task
        await asyncio.gather(abandoned, return_exceptions=True)
        await wait_for(lambda: middleware.in_flight == 0, "the abandoned request's place freed")
        gate.release.set()
        assert (await http.get("/slow")).status_code == 200  # recovered: admitted again


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    middleware = LoadSheddingMiddleware(app, max_in_flight=1)
    middleware.in_flight = 1  # full: an HTTP request would be shed

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(_message: Message) -> None:
        raise AssertionError("nothing is sent for a lifespan scope here")

    await middleware({"type": "lifespan"}, receive, send)
    await middleware({"type": "websocket", "path": "/ws"}, receive, send)
    assert seen == ["lifespan", "websocket"]


def test_the_limit_is_at_least_one() -> None:
    with pytest.raises(ValueError):
        LoadSheddingMiddleware(Gate().app, max_in_flight=0)
