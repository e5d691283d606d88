"""Promise 8, and bounded cardinality: the RED middleware labels by route template, folds unknown
methods and unmatched paths into one value each, counts an escaping exception as 500, and looks each
label child up once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from seawall.config import Settings
from seawall.observability import exposition
from seawall.observability.metrics import METRICS
from seawall.web.request_telemetry import RequestTelemetryMiddleware
from tests.support.metrics import registry_text, sample


def build_app() -> RequestTelemetryMiddleware:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    return RequestTelemetryMiddleware(app, access_log=False)


def requests(**labels: str) -> float:
    return sample(registry_text(exposition.scrape_registry()), "seawall_http_requests_total", **labels)


async def test_labels_are_route_templates_and_few() -> None:
    exposition.install(Settings())
    app = build_app()
    before = {route: requests(route=route) for route in ("/things/{thing_id}", "unmatched", "/broken")}
    other_before = requests(method="other")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for thing_id in ("a", "b", "c"):
            assert (await http.get(f"/things/{thing_id}")).status_code == 200
        for path in ("/x", "/y/z"):
            assert (await http.get(path)).status_code == 404
        assert (await http.request("BREW", "/things/a")).status_code == 405
        assert (await http.get("/broken")).status_code == 500
    assert requests(route="/things/{thing_id}") - before["/things/{thing_id}"] == 4  # 3 GETs and the BREW
    assert requests(route="/things/{thing_id}", method="GET", status="200") >= 3
    assert requests(route="unmatched") - before["unmatched"] == 2
    assert requests(method="other") - other_before == 1
    assert requests(route="/broken", status="500") - before["/broken"] == 1


async def test_each_label_child_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    exposition.install(Settings())
    middleware = build_app()
    lookups: list[dict[str, str]] = []
    family = METRICS.http_requests
    original = family.labels

    def counting_labels(*values: str, **labels: str) -> object:
        lookups.append(labels)
        assert values == ("GET", "/things/{thing_id}", "200")
        return original(*values, **labels)

    monkeypatch.setattr(family, "labels", counting_labels)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://test") as http:
        for thing_id in range(5):
            assert (await http.get(f"/things/{thing_id}")).status_code == 200
    assert lookups == [{}]  # one lookup (positional values), then the kept child


async def test_a_request_cut_off_before_its_answer_is_499_not_a_500() -> None:
    """The shutdown timeout (or a client leaving) cancels a request: no answer was given, so it must
    not count as a server error against the error budget (nginx's 499, "closed before answering")."""
    exposition.install(Settings())

    async def cancelled(scope: dict, receive: object, send: object) -> None:
        raise asyncio.CancelledError

    middleware = RequestTelemetryMiddleware(cancelled, access_log=False)  # type: ignore[arg-type]
    before_499, before_500 = requests(route="unmatched", status="499"), requests(route="unmatched", status="500")
    scope = {"type": "http", "method": "GET", "path": "/slow", "headers": [], "query_string": b""}
    with pytest.raises(asyncio.CancelledError):
        await middleware(scope, None, None)  # type: ignore[arg-type]
    assert requests(route="unmatched", status="499") - before_499 == 1
    assert requests(route="unmatched", status="500") == before_500
