"""Promises: a job continues the trace of the work that enqueued it, every attempt in that one trace and
each retry linked to the attempt before; every log line of an attempt carries the job's fields and the
originating request id, never another job's; the job metrics count each outcome, and the relay what the
broker confirmed.

The worker runs in this process (`run_until_finished`: the production loop); the cross-process and
RabbitMQ paths are `tests/acceptance/test_traces.py`'s.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seawall.jobs import JobContext, JobRegistry, enqueue
from seawall.observability import tracing
from seawall.observability.metrics import JOB_OUTCOMES
from seawall.runtime import Runtime
from tests.integration.jobs.harness import (
    enqueue_effect,
    in_process_worker,
    require_job,
    run_until_finished,
    run_worker_until,
)
from tests.support.catalogue import CatalogueDelta
from tests.support.logs import captured_logs
from tests.support.traces import SpanTree

# The claim and outcome statements differ per database; RabbitMQ deliveries are the acceptance test's.
pytestmark = pytest.mark.backends("sqlite", "postgres")

JOB_FIELDS = ("job_id", "kind", "queue", "attempt", "worker_id")


async def test_a_retried_jobs_attempts_continue_the_enqueuing_trace_and_the_second_links_to_the_first(
    span_exporter: InMemorySpanExporter, runtime: Runtime
) -> None:
    with tracing.tracer().start_as_current_span("request"):
        job = await enqueue_effect(runtime.database, {"fail_times": 1})

    await run_until_finished(runtime.database, runtime.settings, job.id)

    tree = SpanTree(span_exporter.get_finished_spans())
    request, enqueued = tree.one("request"), tree.one("enqueue tests.effect")
    first, second = sorted(tree.named("job tests.effect"), key=lambda span: span.attributes["seawall.job.attempt"])
    assert enqueued.parent_id == request.span_id and enqueued.kind == "SpanKind.PRODUCER"
    assert (first.parent_id, second.parent_id) == (enqueued.span_id, enqueued.span_id)
    assert {span.trace_id for span in (request, enqueued, first, second)} == {request.trace_id}
    assert (first.links, second.links) == ([], [first.span_id])
    assert (first.attributes["seawall.job.outcome"], first.status) == ("retried", "ERROR")
    assert (second.attributes["seawall.job.outcome"], second.status) == ("succeeded", "UNSET")
    assert second.kind == "SpanKind.CONSUMER" and second.attributes["seawall.job.id"] == job.id
    # The handler's statements (SQLAlchemy instrumentation) are children of its attempt.
    assert any(span.kind == "SpanKind.CLIENT" and span.name.startswith("INSERT") for span in tree.children(second))


async def test_a_job_enqueued_by_a_job_inherits_its_request_id_and_trace(
    span_exporter: InMemorySpanExporter, runtime: Runtime
) -> None:
    kinds = JobRegistry()

    @kinds.handler("tests.parent", queue="default")
    async def parent(ctx: JobContext) -> None:
        structlog.get_logger("tests").info("tests.parent_ran")
        await enqueue(ctx.session, "tests.child", {}, registry=kinds)

    @kinds.handler("tests.child", queue="default")
    async def child(ctx: JobContext) -> None:
        structlog.get_logger("tests").info("tests.child_ran")

    with structlog.contextvars.bound_contextvars(request_id="req-origin-1"):
        with tracing.tracer().start_as_current_span("request"):
            async with runtime.database.transaction() as session:
                job = await enqueue(session, "tests.parent", {}, registry=kinds)
    worker = in_process_worker(runtime.database, runtime.settings, registry=kinds)

    async def both_ran() -> bool:
        return len(tree_of(span_exporter).named("job tests.child")) == 1

    with captured_logs() as logs:
        await run_worker_until(worker, both_ran)

    tree = tree_of(span_exporter)
    request, parent_job, child_job = tree.one("request"), tree.one("job tests.parent"), tree.one("job tests.child")
    assert tree.is_ancestor(request, parent_job) and tree.is_ancestor(parent_job, child_job)
    assert child_job.trace_id == request.trace_id
    lines = {line["event"]: line for line in parsed(logs.structured.getvalue())}
    assert lines["tests.parent_ran"]["request_id"] == lines["tests.child_ran"]["request_id"] == "req-origin-1"
    assert lines["tests.parent_ran"]["job_id"] == job.id and lines["tests.child_ran"]["job_id"] != job.id


async def test_worker_lines_carry_the_jobs_fields_and_its_own_request_id_only(runtime: Runtime) -> None:
    jobs: dict[int, str] = {}
    for request_id in ("req-a", "req-b", "req-c"):
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            jobs[(await enqueue_effect(runtime.database, {"fail_times": 1})).id] = request_id
    unrequested = await enqueue_effect(runtime.database, {"fail_times": 1})

    async def all_done() -> bool:
        return all([(await require_job(runtime.database, job_id)).status == "succeeded"
                    for job_id in (*jobs, unrequested.id)])

    with captured_logs() as logs:  # the three run at once (concurrency 8), each in its own task
        await run_worker_until(in_process_worker(runtime.database, runtime.settings), all_done)

    lines = [line for line in parsed(logs.structured.getvalue())
             if line["event"] in ("job.retry_scheduled", "job.succeeded")]
    assert len(lines) == 8, lines
    for line in lines:
        assert all(field in line for field in JOB_FIELDS), line
        assert (line["kind"], line["queue"]) == ("tests.effect", "default")
        assert line.get("request_id") == jobs.get(line["job_id"]), line  # none for the job without a request
    assert {(line["job_id"], line["attempt"]) for line in lines} == {
        (job_id, attempt) for job_id in (*jobs, unrequested.id) for attempt in (1, 2)}
    assert "job_id" not in structlog.contextvars.get_contextvars()  # nothing leaked into the caller


async def test_job_metrics_count_a_success_a_retry_and_a_dead_job(runtime: Runtime) -> None:
    of_kind = {"kind": "tests.effect", "queue": "default"}
    delta = CatalogueDelta({
        "enqueued": ("seawall_jobs_enqueued_total", of_kind),
        "started": ("seawall_jobs_started_total", of_kind),
        **{outcome: ("seawall_jobs_finished_total", {**of_kind, "outcome": outcome}) for outcome in JOB_OUTCOMES},
        **{f"{outcome} timed": ("seawall_job_duration_seconds_count", {**of_kind, "outcome": outcome})
           for outcome in ("succeeded", "retried", "dead")},
    })
    succeeded = await enqueue_effect(runtime.database, {})
    retried = await enqueue_effect(runtime.database, {"fail_times": 1})
    dead = await enqueue_effect(runtime.database, {"permanent": True})
    await enqueue_effect(runtime.database, {}, dedup_key=f"once-{succeeded.id}")
    await enqueue_effect(runtime.database, {}, dedup_key=f"once-{succeeded.id}")  # a dedup hit: not counted
    with pytest.raises(RuntimeError):  # rolled back with its transaction: not counted
        async with runtime.database.transaction() as session:
            await enqueue(session, "tests.effect", {})
            raise RuntimeError("the request failed after enqueueing")

    for job in (succeeded, retried, dead):
        await run_until_finished(runtime.database, runtime.settings, job.id)

    assert {key: value for key, value in delta.changes().items() if value} == {
        "enqueued": 4, "started": 5,  # the retried job twice
        "succeeded": 3, "retried": 1, "dead": 1, "succeeded timed": 3, "retried timed": 1, "dead timed": 1,
    }


@pytest.mark.backends("full")
async def test_the_relay_counts_the_messages_the_broker_confirmed_and_how_long_after_due(runtime: Runtime) -> None:
    delta = CatalogueDelta({"published": ("seawall_relay_published_total", {"queue": "default"}),
                            "lag observed": ("seawall_relay_publish_lag_seconds_count", {"queue": "default"})})
    jobs = [await enqueue_effect(runtime.database, {}) for _ in range(3)]

    await in_process_worker(runtime.database, runtime.settings).run_until_idle()

    assert all([(await require_job(runtime.database, job.id)).status == "succeeded" for job in jobs])
    assert delta.changes() == {"published": 3, "lag observed": 3}


def tree_of(exporter: InMemorySpanExporter) -> SpanTree:
    return SpanTree(exporter.get_finished_spans())


def parsed(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
