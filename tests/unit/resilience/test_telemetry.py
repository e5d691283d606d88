"""Promise 8 for provider calls: every call through a `ProviderPolicy` is one CLIENT span named
`provider <name>` (a child of the caller's span) with its operation and outcome, status ERROR unless it
succeeded, and one count in `seawall_provider_calls_total{provider, outcome}`; the breaker's state and
transitions, the bulkhead's slots and the retry budget's tokens are series that follow them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from seawall.kit.clock import FakeClock
from seawall.observability.metrics import METRICS, Metrics
from seawall.providers.errors import CardDeclinedError, ProviderUnavailableError, translate_transport_error
from seawall.resilience import (
    BreakerConfig,
    BreakerState,
    Bulkhead,
    BulkheadFullError,
    CallOutcome,
    CircuitBreaker,
    CircuitOpenError,
    ProviderPolicy,
    RetryBudget,
)
from seawall.resilience.telemetry import failure_outcome
from tests.support.catalogue import catalogue_value

_names = itertools.count()


@pytest.fixture
def provider() -> str:
    """A provider name of this test's own: the catalogue is process-wide."""
    return f"unit{next(_names)}"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


def make_policy(provider: str, exporter: InMemorySpanExporter | None = None, *, max_concurrent: int = 2,
                timeout: float = 5.0, clock: FakeClock | None = None) -> ProviderPolicy:
    tracer = None
    if exporter is not None:
        tracer_provider = TracerProvider()  # local: the global provider is left alone
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = tracer_provider.get_tracer("test")
    config = BreakerConfig(minimum_number_of_calls=2, sliding_window_size=2, wait_duration_in_open_seconds=10,
                           permitted_calls_in_half_open=1)
    return ProviderPolicy(
        name=provider,
        breaker=CircuitBreaker(provider, config, clock or FakeClock()),
        bulkhead=Bulkhead(provider, max_concurrent),
        budget=RetryBudget(capacity=10, retry_cost=5, timeout_cost=10, success_refund=1),
        total_timeout_seconds=timeout,
        tracer=tracer,
    )


def calls(provider: str, outcome: str) -> float:
    return catalogue_value("seawall_provider_calls_total", provider=provider, outcome=outcome)


def durations(provider: str, outcome: str) -> float:
    return catalogue_value("seawall_provider_call_duration_seconds_count", provider=provider, outcome=outcome)


def the_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


async def ok() -> str:
    return "ok"


async def fail() -> None:
    raise ConnectionError("provider down")


def declines(exc: BaseException) -> CallOutcome:
    return CallOutcome.SUCCESS if isinstance(exc, CardDeclinedError) else CallOutcome.FAILURE


async def test_a_successful_call_is_one_client_span_named_after_the_provider(
        provider: str, spans: InMemorySpanExporter) -> None:
    policy = make_policy(provider, spans)
    parent_provider = TracerProvider()
    with parent_provider.get_tracer("test").start_as_current_span("job") as job:
        assert await policy.call(ok, action="charge") == "ok"

    span = the_span(spans)
    assert span.name == f"provider {provider}" and span.kind == SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == job.get_span_context().span_id
    assert span.attributes == {"seawall.provider.name": provider, "seawall.provider.operation": "charge",
                               "seawall.provider.outcome": "success"}
    assert span.status.status_code == StatusCode.UNSET
    assert (calls(provider, "success"), durations(provider, "success"), calls(provider, "error")) == (1, 1, 0)


async def test_a_failed_call_has_status_error_and_the_error_type(provider: str, spans: InMemorySpanExporter) -> None:
    policy = make_policy(provider, spans)
    with pytest.raises(ConnectionError):
        await policy.call(fail, action="lookup")

    span = the_span(spans)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert (span.attributes["seawall.provider.outcome"], span.attributes["error.type"]) == ("error",
                                                                                          "ConnectionError")
    assert (calls(provider, "error"), durations(provider, "error"), calls(provider, "success")) == (1, 1, 0)


async def test_a_decline_is_a_success_that_names_the_refusal(provider: str, spans: InMemorySpanExporter) -> None:
    policy = make_policy(provider, spans)

    async def decline() -> None:
        raise CardDeclinedError("declined", provider=provider, code="card_declined", decline_code="generic_decline")

    with pytest.raises(CardDeclinedError):
        await policy.call(decline, classify=declines, action="charge")

    span = the_span(spans)
    assert span.status.status_code == StatusCode.UNSET
    assert span.attributes is not None and span.attributes["seawall.provider.outcome"] == "success"
    assert span.attributes["seawall.provider.refusal"] == "CardDeclinedError" and "error.type" not in span.attributes
    assert (calls(provider, "success"), calls(provider, "error")) == (1, 0)


async def test_no_answer_in_time_is_a_timeout(provider: str, spans: InMemorySpanExporter) -> None:
    policy = make_policy(provider, spans, timeout=0.01)

    async def hang() -> None:
        await asyncio.sleep(10)

    async def read_timeout() -> None:
        raise translate_transport_error(httpx.ReadTimeout("slow"), provider=provider)

    with pytest.raises(TimeoutError):
        await policy.call(hang)
    with pytest.raises(ProviderUnavailableError):
        await policy.call(read_timeout)

    assert [s.attributes and s.attributes["seawall.provider.outcome"] for s in spans.get_finished_spans()] == [
        "timeout", "timeout"]
    assert all(s.status.status_code == StatusCode.ERROR for s in spans.get_finished_spans())
    assert (calls(provider, "timeout"), durations(provider, "timeout"), calls(provider, "error")) == (2, 2, 0)


def test_only_an_unanswered_request_is_a_timeout_not_a_connection_that_never_opened() -> None:
    assert failure_outcome(TimeoutError()) == "timeout"
    assert failure_outcome(translate_transport_error(httpx.ReadTimeout("slow"), provider="p")) == "timeout"
    assert failure_outcome(translate_transport_error(TimeoutError(), provider="p")) == "timeout"
    assert failure_outcome(translate_transport_error(httpx.ConnectTimeout("no route"), provider="p")) == "error"
    assert failure_outcome(translate_transport_error(httpx.ConnectError("refused"), provider="p")) == "error"
    assert failure_outcome(ConnectionError()) == "error"


async def test_an_open_breaker_rejects_with_a_short_span_and_the_series_follow_it(
        provider: str, spans: InMemorySpanExporter) -> None:
    policy = make_policy(provider, spans)
    state = ("seawall_breaker_state", {"provider": provider})
    assert catalogue_value(state[0], **state[1]) == 0  # set when the policy is built

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await policy.call(fail)
    assert policy.breaker.state == BreakerState.OPEN
    spans.clear()
    with pytest.raises(CircuitOpenError):
        await policy.call(ok)

    span = the_span(spans)
    assert span.attributes is not None and span.status.status_code == StatusCode.ERROR
    assert (span.attributes["seawall.provider.outcome"], span.attributes["seawall.provider.rejected_by"],
            span.attributes["error.type"]) == ("rejected", "breaker", "CircuitOpenError")
    assert catalogue_value(state[0], **state[1]) == 2
    assert catalogue_value("seawall_breaker_transitions_total", provider=provider, from_state="closed",
                           to_state="open") == 1
    assert (calls(provider, "error"), calls(provider, "rejected"), durations(provider, "rejected")) == (2, 1, 0)
    assert catalogue_value("seawall_breaker_rejections_total", provider=provider) == 1
    assert catalogue_value("seawall_bulkhead_rejections_total", provider=provider) == 0


async def test_a_breaker_that_adopts_another_process_opening_counts_the_transition(provider: str) -> None:
    clock = FakeClock()
    policy = make_policy(provider, clock=clock)
    assert policy.breaker.adopt_open(clock.now() - timedelta(seconds=1))

    assert catalogue_value("seawall_breaker_state", provider=provider) == 2
    assert catalogue_value("seawall_breaker_transitions_total", provider=provider, from_state="closed",
                           to_state="open") == 1
    clock.advance(10)
    with pytest.raises(ConnectionError):
        await policy.call(fail)  # the trial call fails: half-open, then open again
    assert [catalogue_value("seawall_breaker_transitions_total", provider=provider, from_state=old, to_state=new)
            for old, new in [("open", "half_open"), ("half_open", "open")]] == [1, 1]


async def test_the_bulkhead_slots_in_use_and_its_rejections(provider: str, spans: InMemorySpanExporter) -> None:
    policy = make_policy(provider, spans, max_concurrent=1)
    in_use = ("seawall_bulkhead_in_use", {"provider": provider})
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "ok"

    first = asyncio.create_task(policy.call(slow))
    await asyncio.sleep(0)
    assert catalogue_value(in_use[0], **in_use[1]) == 1
    with pytest.raises(BulkheadFullError):
        await policy.call(slow)
    release.set()
    assert await first == "ok"

    assert catalogue_value(in_use[0], **in_use[1]) == 0
    assert catalogue_value("seawall_bulkhead_rejections_total", provider=provider) == 1
    assert (calls(provider, "rejected"), calls(provider, "success")) == (1, 1)
    rejected = [s for s in spans.get_finished_spans()
                if s.attributes and s.attributes["seawall.provider.outcome"] == "rejected"]
    assert len(rejected) == 1 and rejected[0].attributes is not None
    assert rejected[0].attributes["seawall.provider.rejected_by"] == "bulkhead"


async def test_retry_budget_tokens_follow_spends_and_refunds(provider: str) -> None:
    policy = make_policy(provider)
    tokens = ("seawall_retry_budget_tokens", {"provider": provider})
    assert catalogue_value(tokens[0], **tokens[1]) == 10
    assert policy.budget.try_spend() and policy.budget.try_spend(after_timeout=False)
    assert catalogue_value(tokens[0], **tokens[1]) == 0
    await policy.call(ok)  # a success refunds one token
    assert catalogue_value(tokens[0], **tokens[1]) == 1


async def test_a_cancelled_call_is_not_counted(provider: str, spans: InMemorySpanExporter) -> None:
    policy = make_policy(provider, spans)
    task = asyncio.create_task(policy.call(lambda: asyncio.sleep(10)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sum(calls(provider, outcome) for outcome in ("success", "error", "timeout", "rejected")) == 0
    assert catalogue_value("seawall_bulkhead_in_use", provider=provider) == 0
    span = the_span(spans)
    assert span.attributes is not None and span.attributes["seawall.provider.outcome"] == "cancelled"


async def test_the_series_carry_over_when_the_catalogue_is_rebuilt(provider: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    policy = make_policy(provider)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await policy.call(fail)
    registry = CollectorRegistry()
    for name, metric in vars(Metrics(registry)).items():  # what `metrics.rebuild` does, undone after the test
        monkeypatch.setattr(METRICS, name, metric)

    with pytest.raises(CircuitOpenError):
        await policy.call(ok)
    assert registry.get_sample_value("seawall_breaker_state", {"provider": provider}) == 2
    assert registry.get_sample_value("seawall_retry_budget_tokens", {"provider": provider}) == 10
    assert registry.get_sample_value("seawall_provider_calls_total",
                                     {"provider": provider, "outcome": "rejected"}) == 1


async def test_without_an_sdk_the_span_records_nothing_and_the_call_still_counts(provider: str) -> None:
    policy = make_policy(provider)  # the global tracer provider: none is installed in unit tests
    assert await policy.call(ok) == "ok"
    assert calls(provider, "success") == 1
