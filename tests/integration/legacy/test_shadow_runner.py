"""Promises of `ShadowRunner` (issue 16, shadow mode), with the legacy answers taken from the real legacy
app process and Seawall's own app built by `create_app`:
- `submit` returns at once: a slow Seawall run never holds the caller (the bridge, after the client's
  answer went out);
- each comparison is recorded, the route's ignored fields left out of the diff (RFC 6902 patch);
- past `SEAWALL_LEGACY_SHADOW_MAX_CONCURRENT` runs in flight, calls are dropped and counted (never queued);
- a run past its deadline is a `seawall_error`; a request body not captured is `not_compared`, not run;
- `aclose` ends runs in flight within its bound."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from seawall.legacy.compare import Result
from seawall.legacy.shadow import LegacyAnswer, ShadowRequest, ShadowRunner
from seawall.observability.metrics import METRICS
from seawall.runtime import Runtime
from tests.integration.accounts.wire import STRONG_PASSWORD, new_email, new_key
from tests.integration.legacy.shadow_support import SIGNUPS, call_legacy, comparisons, legacy, legacy_app
from tests.support.apps import StartApp
from tests.support.legacy_app.process import LegacyApp

__all__ = ["legacy", "legacy_app"]  # fixtures

pytestmark = pytest.mark.backends("sqlite")  # the runner's own logic; the side-effect test runs on every backend

SUBMIT_BOUND_SECONDS = 0.1  # what `submit` may cost the caller, whatever the run does: far below the
# 1 s run it starts (it takes microseconds; a loaded machine can preempt any call for tens of ms)


def runner_for(runtime: Runtime, **overrides: Any) -> ShadowRunner:
    return ShadowRunner.build(runtime.settings.model_copy(update=overrides), database=runtime.database,
                              clock=runtime.clock)


class SlowApp:
    """An ASGI app that answers 200 `{}` after `seconds`; counts its calls."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await asyncio.sleep(self.seconds)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


def fabricated(path: str = "/v1/things") -> tuple[ShadowRequest, LegacyAnswer]:
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"x-request-id", b"req-1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "scheme": "http", "http_version": "1.1", "root_path": ""}
    return ShadowRequest(scope=scope, body=b""), LegacyAnswer(status=200, headers=[], body=b"{}", seconds=0.01)


def counted(route: str, result: str) -> float:
    for metric in METRICS.legacy_shadow.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels == {"route": route, "result": result}:
                return float(sample.value)
    return 0.0


async def test_submit_returns_at_once_while_a_slow_seawall_run_goes_on(runtime: Runtime) -> None:
    runner = runner_for(runtime)
    app = SlowApp(seconds=1.0)
    request, answer = fabricated()

    started = time.perf_counter()
    runner.submit(app, SIGNUPS, request, answer)
    spent = time.perf_counter() - started

    assert spent < SUBMIT_BOUND_SECONDS, spent
    assert runner.in_flight == 1
    await runner.wait_idle(5.0)
    [row] = await comparisons(runtime.database)
    assert (row.result, row.seawall_status, row.request_id) == (Result.AGREED, 200, "req-1")
    assert row.seawall_seconds is not None and row.seawall_seconds >= 1.0


async def test_diffs_are_recorded_with_the_ignored_fields_left_out(
    started_app: StartApp, runtime: Runtime, legacy: LegacyApp,
) -> None:
    app: FastAPI = await started_app()  # Seawall's own stack, as the bridge hands it to the runner
    runner = runner_for(runtime)
    strict = dataclasses.replace(SIGNUPS, name="POST /v1/signups strict", ignore=())
    for route in (SIGNUPS, strict):
        request, answer = call_legacy(legacy, "POST", "/v1/signups", headers={"idempotency-key": new_key()},
                                      json={"email": new_email("diff"), "password": STRONG_PASSWORD})
        assert answer.status == 201, answer.body
        runner.submit(app, route, request, answer)
        await runner.wait_idle(10.0)

    [lenient] = await comparisons(runtime.database, SIGNUPS.name)
    assert (lenient.result, lenient.patch) == (Result.AGREED, None), lenient.patch
    [differs] = await comparisons(runtime.database, strict.name)
    assert (differs.result, differs.legacy_status, differs.seawall_status) == (Result.BODY_DIFFERS, 201, 201)
    assert differs.patch is not None
    assert {op["path"] for op in differs.patch} == {"/user/id", "/user/created_at"}, differs.patch
    assert {op["op"] for op in differs.patch} == {"replace"}


async def test_calls_over_the_concurrency_limit_are_dropped_and_counted(runtime: Runtime) -> None:
    runner = runner_for(runtime, legacy_shadow_max_concurrent=2)
    app = SlowApp(seconds=0.3)
    route = dataclasses.replace(SIGNUPS, name="GET /v1/things dropped")
    before = counted(route.name, "dropped")

    for _ in range(5):
        request, answer = fabricated()
        runner.submit(app, route, request, answer)

    assert (runner.in_flight, runner.dropped_total[route.name]) == (2, 3)
    assert counted(route.name, "dropped") - before == 3
    await runner.wait_idle(5.0)
    assert app.calls == 2
    rows = await comparisons(runtime.database, route.name)
    assert sorted(row.result for row in rows) == ["agreed", "agreed", "dropped", "dropped", "dropped"]


async def test_a_run_past_its_deadline_is_a_seawall_error(runtime: Runtime) -> None:
    runner = runner_for(runtime, legacy_shadow_timeout_seconds=0.2)
    request, answer = fabricated()
    started = time.perf_counter()
    runner.submit(SlowApp(seconds=5.0), SIGNUPS, request, answer)
    await runner.wait_idle(5.0)
    assert time.perf_counter() - started < 2.0
    [row] = await comparisons(runtime.database)
    assert (row.result, row.seawall_status) == (Result.SEAWALL_ERROR, None)
    assert row.note is not None and "timed out" in row.note


async def test_a_request_body_not_captured_is_not_compared_and_not_run(runtime: Runtime) -> None:
    runner = runner_for(runtime)
    app = SlowApp(seconds=0.0)
    request, answer = fabricated()
    runner.submit(app, SIGNUPS, dataclasses.replace(request, body=None), answer)
    await runner.wait_idle(5.0)
    [row] = await comparisons(runtime.database)
    assert (row.result, app.calls) == (Result.NOT_COMPARED, 0)


async def test_aclose_ends_the_runs_in_flight(runtime: Runtime) -> None:
    runner = runner_for(runtime)
    request, answer = fabricated()
    runner.submit(SlowApp(seconds=30.0), SIGNUPS, request, answer)
    started = time.perf_counter()
    await runner.aclose()
    assert time.perf_counter() - started < 3.0  # not the 30 s run
    assert runner.in_flight == 0
