"""Shadow calls: a shadowed route run here after the upstream answered, off the request path, as a dry
run, and the two answers compared (`compare`) and recorded (`store`, metric `seawall_legacy_shadow_total`).

Contract:
- `ShadowRunner.submit` starts a task and returns at once; it never raises and never awaits the run, so
  the client's answer (legacy's, already sent) and its latency are untouched. The shadow answer is
  collected here and never reaches the client.
- The run sends the same method, path, query, headers and body through `app` (Seawall's stack inside
  the bridge), with `scope["extensions"]["seawall.legacy.shadow"]` set so the bridge serves it here (never
  forwards or shadows it again), bounded by `SEAWALL_LEGACY_SHADOW_TIMEOUT_SECONDS`.
- Side effects once: with `side_effects = "rollback"` (the default) the run is a dry run (`db.dry_run()`):
  every database transaction it opens rolls back, so no row it writes and no job it enqueues (the outbox:
  charges, emails, webhooks all leave through jobs) is ever committed, and the caches keep nothing it read.
  With `side_effects = "none"` (safe methods only, checked by the route table) it runs as is.
- More than `SEAWALL_LEGACY_SHADOW_MAX_CONCURRENT` runs in flight: the call is dropped (never queued) and
  counted; dropped calls are written to the store by the next run to finish (or at `aclose`), one row
  each in one transaction (at most 10,000 waiting; beyond, only the metric counts), so an overload costs no
  extra task.
- The recording is its own committed transaction, outside the dry run.
- `aclose()` cancels the runs in flight and waits for them at most `CLOSE_WAIT_SECONDS`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog
from starlette.types import ASGIApp, Message

from seawall.config import Settings
from seawall.db import Database, dry_run, first_line
from seawall.kit.clock import Clock
from seawall.legacy import store
from seawall.legacy.compare import Comparison, Result, compare
from seawall.legacy.routes import Route, SideEffects
from seawall.observability.metrics import METRICS
from seawall.web.middleware import LOG_CONTEXT

log = structlog.get_logger("seawall.legacy.shadow")

CLOSE_WAIT_SECONDS = 5.0
SHADOW_EXTENSION = "seawall.legacy.shadow"  # in scope["extensions"]: this request is a shadow call


@dataclass(frozen=True)
class ShadowRequest:
    scope: dict[str, Any]  # a copy of the request's HTTP scope (method, path, raw_path, query_string, headers, client)
    body: bytes | None  # None: larger than SEAWALL_LEGACY_SHADOW_MAX_BODY_BYTES (recorded as not compared)


@dataclass(frozen=True)
class LegacyAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | None  # None: larger than SEAWALL_LEGACY_SHADOW_MAX_BODY_BYTES
    seconds: float  # the upstream's answer time, head to last byte


@dataclass
class SeawallAnswer:
    status: int | None = None
    body: bytearray | None = None  # None once over the bound
    error: str | None = None


class ShadowRunner:
    def __init__(self, settings: Settings, database: Database, clock: Clock) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._dropped: list[store.Recorded] = []
        self.dropped_total: Counter[str] = Counter()  # per route name, since start (tests, diagnostics)

    @classmethod
    def build(cls, settings: Settings, *, database: Database, clock: Clock) -> ShadowRunner:
        return cls(settings, database, clock)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, app: ASGIApp, route: Route, request: ShadowRequest, legacy: LegacyAnswer) -> None:
        """Start the shadow run of `request` through `app` (Seawall's own stack) in the background and
        return at once; never raises. More than SEAWALL_LEGACY_SHADOW_MAX_CONCURRENT in flight: dropped,
        counted."""
        try:
            if len(self._tasks) >= self.settings.legacy_shadow_max_concurrent:
                self._drop(route, request, legacy)
                return
            task = asyncio.get_running_loop().create_task(self._run(app, route, request, legacy),
                                                          name=f"seawall-shadow {route.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        except Exception as exc:  # never the client's problem
            log.error("legacy.shadow_submit_failed", route=route.name, error=first_line(exc))

    async def wait_idle(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until no run is in flight (tests, drain)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    async def aclose(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_WAIT_SECONDS)
        await self._flush_dropped()

    def _drop(self, route: Route, request: ShadowRequest, legacy: LegacyAnswer) -> None:
        METRICS.legacy_shadow.labels(route=route.name, result=Result.DROPPED.value).inc()
        self.dropped_total[route.name] += 1
        if len(self._dropped) < 10_000:  # bounded: beyond it only the metric counts
            self._dropped.append(self._recorded(route, request, legacy, None, Comparison(
                Result.DROPPED, note=f"over {self.settings.legacy_shadow_max_concurrent} shadow calls in flight"),
                None))

    async def _flush_dropped(self) -> None:
        dropped, self._dropped = self._dropped, []
        try:
            await store.record_many(self.database, dropped)  # one transaction, however many
        except Exception as exc:
            log.error("legacy.shadow_record_failed", route="(dropped calls)", rows=len(dropped),
                      error=first_line(exc))

    async def _run(self, app: ASGIApp, route: Route, request: ShadowRequest, legacy: LegacyAnswer) -> None:
        started = time.perf_counter()
        answer = SeawallAnswer()
        if request.body is None:  # over the bound: the same request cannot be replayed here
            await self._record(route, request, legacy, None, Comparison(
                Result.NOT_COMPARED, note="request body not captured (over the shadow body bound): not run"), None)
            return
        try:
            async with asyncio.timeout(self.settings.legacy_shadow_timeout_seconds):
                if route.side_effects == SideEffects.ROLLBACK:
                    with dry_run():
                        await self._call(app, request, answer)
                else:
                    await self._call(app, request, answer)
        except TimeoutError:
            answer.error = f"timed out after {self.settings.legacy_shadow_timeout_seconds} s"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            answer.error = f"{type(exc).__name__}: {first_line(exc)}"
        seconds = time.perf_counter() - started
        if answer.error is not None or answer.status is None:
            comparison = Comparison(Result.SEAWALL_ERROR, note=answer.error or "no answer started")
        else:
            body = bytes(answer.body) if answer.body is not None else None
            comparison = compare(legacy_status=legacy.status, legacy_body=legacy.body, seawall_status=answer.status,
                                 seawall_body=body, ignore=route.ignore, method=str(request.scope.get("method")))
        await self._record(route, request, legacy, answer.status, comparison, seconds)

    async def _record(self, route: Route, request: ShadowRequest, legacy: LegacyAnswer, seawall_status: int | None,
                      comparison: Comparison, seconds: float | None) -> None:
        METRICS.legacy_shadow.labels(route=route.name, result=comparison.result.value).inc()
        try:
            await store.record(self.database, self._recorded(route, request, legacy, seawall_status, comparison,
                                                             seconds))
            await self._flush_dropped()
        except Exception as exc:
            log.error("legacy.shadow_record_failed", route=route.name, error=first_line(exc))

    async def _call(self, app: ASGIApp, request: ShadowRequest, answer: SeawallAnswer) -> None:
        scope = dict(request.scope)
        scope["headers"] = list(scope.get("headers", []))
        scope["extensions"] = {**(scope.get("extensions") or {}), SHADOW_EXTENSION: {}}
        if "state" in request.scope:  # a copy: the shadow run's middleware must not touch the request's
            scope["state"] = dict(request.scope["state"])
        body = request.body or b""
        sent = False
        limit = self.settings.legacy_shadow_max_body_bytes
        answer.body = bytearray()

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # a shadow client never disconnects; the timeout ends the run
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.status = int(message["status"])
            elif message["type"] == "http.response.body" and answer.body is not None:
                answer.body += message.get("body", b"")
                if len(answer.body) > limit:
                    answer.body = None

        await app(scope, receive, send)

    def _recorded(self, route: Route, request: ShadowRequest, legacy: LegacyAnswer, seawall_status: int | None,
                  comparison: Comparison, seconds: float | None) -> store.Recorded:
        scope = request.scope
        return store.Recorded(
            route=route.name, method=str(scope.get("method", "")), path=str(scope.get("path", "")),
            legacy_status=legacy.status, seawall_status=seawall_status, comparison=comparison,
            request_id=_request_id(scope), legacy_seconds=legacy.seconds, seawall_seconds=seconds,
            at=self.clock.now(),
        )


def _request_id(scope: dict[str, Any]) -> str | None:
    """The id Seawall gave the request (`RequestIdMiddleware`, outside the bridge: the one on the answer's
    X-Request-Id and in its log lines), whether the client sent one or Seawall made it; the client's own
    header only when no middleware bound one (a scope built by hand)."""
    context = scope.get(LOG_CONTEXT)
    if isinstance(context, dict) and context.get("request_id"):
        return str(context["request_id"])
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            return bytes(value).decode("latin-1")
    return None
