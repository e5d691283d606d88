"""What the job engine shows of each job: its trace, its log fields, its metrics.

Where a job came from travels with its row (migration 0012):
- `request_id`: the `X-Request-ID` of the API request that enqueued it, read from the structlog
  context that `RequestIdMiddleware` binds. Always stored (it costs a context lookup).
- `traceparent`: while tracing is on, `enqueue()` opens a short PRODUCER span `enqueue <kind>` (a
  child of the request's server span, or of whatever span is current) and stores that span's W3C
  traceparent.
- A job's handler that enqueues follow-ups does so inside its attempt's span, with the attempt's
  log fields bound: the follow-ups inherit the request id and continue the same trace.
- W3C `tracestate` (vendor-specific extra state) is not kept: the trace and the parent span are all
  a job needs to continue a trace.

Each attempt, in the job's own asyncio task (`start_attempt`):
- binds `job_id`, `kind`, `queue`, `attempt`, `worker_id` and the originating `request_id` to the
  structlog context until the attempt ends, so every line the engine or the handler logs carries
  them (trace and span ids are added by the logging processor from the current span). A task runs
  in a copy of the context it was created in, so the binding never reaches another job's task or
  the worker's loop.
- with tracing on, runs under a CONSUMER span `job <kind>` whose parent is the stored
  `traceparent` (the row is authoritative; a RabbitMQ message's headers are not read). **Every
  attempt of a job is a child of that same stored context**, so a retried job's attempts are
  siblings in one trace. An attempt that gives the job back (retry, defer, release at shutdown)
  stores its own span's traceparent in `last_attempt_traceparent`; **the next attempt's span
  carries a span Link to it** (attribute `seawall.link = previous_attempt`). An attempt whose
  worker vanished (lease expired) recorded nothing, so the attempt after it links to the last one
  that did. The span's attributes: `seawall.job.id`, `.kind`, `.queue`, `.attempt`,
  `.max_attempts`, `.outcome`, and `messaging.operation.type = process`,
  `messaging.destination.name` (the queue), `messaging.message.id` (the job id); a failed attempt
  records its exception and ends with status ERROR.
- counts `seawall_jobs_started_total`, then once its outcome is recorded
  `seawall_jobs_finished_total{outcome}` and `seawall_job_duration_seconds{outcome}` (from the
  attempt's start to its outcome being recorded). `seawall_jobs_enqueued_total` counts each job
  written to the outbox once the caller's transaction commits (`count_on_commit`; a dedup-key hit
  is not counted, nor an enqueue rolled back with its transaction).

The hot paths stay cheap: with tracing off no span is started and no traceparent is computed, and
each (kind, queue)'s metric children are looked up once per metric catalogue (`_series`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from seawall.jobs.context import ClaimedJob
from seawall.observability import tracing
from seawall.observability.metrics import JOB_OUTCOMES, METRICS

REQUEST_ID_CHARS = 128  # the column's size (and the longest X-Request-ID the API keeps)


# -- enqueue ------------------------------------------------------------------------------------------


def originating_request_id() -> str | None:
    """The request id bound to the structlog context (an API request's, or a job attempt's origin)."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return str(request_id)[:REQUEST_ID_CHARS] if request_id else None


@contextmanager
def enqueue_span(kind: str, queue: str) -> Iterator[Span]:
    """The PRODUCER span around one enqueue (call only while tracing is on); its traceparent is stored."""
    with tracing.tracer().start_as_current_span(
        f"enqueue {kind}", kind=SpanKind.PRODUCER,
        attributes={"seawall.job.kind": kind, "seawall.job.queue": queue, "messaging.operation.type": "send",
                    "messaging.destination.name": queue},
    ) as span:
        yield span


# -- attempts ------------------------------------------------------------------------------------------


class Attempt:
    """One attempt's span (while tracing is on), log fields and metrics; `finish` once, then `end`."""

    __slots__ = ("job", "span", "_token", "_bound", "_started", "_series", "outcome")

    def __init__(self, job: ClaimedJob, span: Span | None, token: Any, bound: Mapping[str, Any],
                 series: _JobSeries) -> None:
        self.job = job
        self.span = span
        self._token = token
        self._bound = bound
        self._started = time.perf_counter()
        self._series = series
        self.outcome: str | None = None

    @property
    def traceparent(self) -> str | None:
        """This attempt's span as a W3C traceparent (None while tracing is off)."""
        return None if self.span is None else tracing.traceparent_of(self.span.get_span_context())

    def finish(self, outcome: str, error: BaseException | None = None) -> None:
        """The attempt's outcome is recorded (one of `JOB_OUTCOMES`); `error` failed it."""
        self.outcome = outcome
        series = self._series
        series.finished[outcome].inc()
        series.duration[outcome].observe(time.perf_counter() - self._started)
        span = self.span
        if span is not None:
            span.set_attribute("seawall.job.outcome", outcome)
            if error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))

    def end(self, error: BaseException | None = None) -> None:
        """Unbind the log fields and close the span (an `error` that escaped the attempt marks it failed)."""
        structlog.contextvars.reset_contextvars(**self._bound)
        span = self.span
        if span is None:
            return
        if error is not None and self.outcome is None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        otel_context.detach(self._token)
        span.end()


def start_attempt(job: ClaimedJob, *, worker_id: str, delivered: bool) -> Attempt:
    """Begin an attempt's telemetry. Call it inside the job's own task (its context is the task's)."""
    # `...` is structlog's "unbound": no request id (not another job's) on the lines of a job without one.
    bound = structlog.contextvars.bind_contextvars(job_id=job.id, kind=job.kind, queue=job.queue,
                                                   attempt=job.attempt, worker_id=worker_id,
                                                   request_id=job.request_id or ...)
    series = _series(job.kind, job.queue)
    series.started.inc()
    if not tracing.enabled():
        return Attempt(job, None, None, bound, series)
    links = []
    previous = tracing.span_context_from_traceparent(job.last_attempt_traceparent)
    if previous is not None:
        links.append(Link(previous, {"seawall.link": "previous_attempt"}))
    attributes: dict[str, Any] = {
        "seawall.job.id": job.id, "seawall.job.kind": job.kind, "seawall.job.queue": job.queue,
        "seawall.job.attempt": job.attempt, "seawall.job.max_attempts": job.max_attempts,
        "messaging.operation.type": "process", "messaging.destination.name": job.queue,
        "messaging.message.id": str(job.id),
    }
    if delivered:
        attributes["messaging.system"] = "rabbitmq"
    span = tracing.tracer().start_span(f"job {job.kind}", context=tracing.context_from_traceparent(job.traceparent),
                                       kind=SpanKind.CONSUMER, attributes=attributes, links=links)
    token = otel_context.attach(trace.set_span_in_context(span))
    return Attempt(job, span, token, bound, series)


# -- metric children, looked up once --------------------------------------------------------------------


class _JobSeries:
    """The job metrics' children for one (kind, queue)."""

    __slots__ = ("started", "finished", "duration")

    def __init__(self, kind: str, queue: str) -> None:
        self.started = METRICS.jobs_started.labels(kind, queue)
        self.finished = {outcome: METRICS.jobs_finished.labels(kind, queue, outcome) for outcome in JOB_OUTCOMES}
        self.duration = {outcome: METRICS.job_duration.labels(kind, queue, outcome) for outcome in JOB_OUTCOMES}


_children: dict[tuple[str, str], _JobSeries] = {}
_children_of: list[object] = [None]  # the catalogue's `jobs_started` the children belong to


def _series(kind: str, queue: str) -> _JobSeries:
    """The children of (kind, queue), rebuilt when the catalogue was (`metrics.rebuild`)."""
    if _children_of[0] is not METRICS.jobs_started:
        _children.clear()
        _children_of[0] = METRICS.jobs_started
    series = _children.get((kind, queue))
    if series is None:
        series = _children[(kind, queue)] = _JobSeries(kind, queue)
    return series
