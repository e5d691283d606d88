"""What one provider's calls report: the catalogue's provider series and one OpenTelemetry span per call.

`ProviderPolicy` (payments, SMTP, SMS) and `webhooks.sender.WebhookSender` (outbound webhooks, one
provider `webhooks` for every endpoint) each hold one `ProviderTelemetry` and report through it, so
every remote call is counted and traced exactly once, where it is made.

Metrics (`observability.metrics`; names and label values there):

    seawall_provider_calls_total{provider, outcome}            one per call; outcome (`PROVIDER_OUTCOMES`):
    seawall_provider_call_duration_seconds{provider, outcome}    success  answered as designed (a decline too)
                                                                 error    the provider failed
                                                                 timeout  no answer in time: outcome unknown
                                                                 rejected not sent (no duration observed)
    seawall_bulkhead_rejections_total / seawall_breaker_rejections_total{provider}   the rejected calls, by cause
    seawall_bulkhead_in_use{provider}                          slots taken now
    seawall_breaker_state{provider}                            0 closed, 1 half-open, 2 open; set at construction
    seawall_breaker_transitions_total{provider, from_state, to_state}   every change, an adopted opening included
    seawall_retry_budget_tokens{provider}                      after every spend and refund

A call is a `timeout` when it raised `TimeoutError` (the policy's total timeout) or an error whose
`timed_out` attribute is true (`ProviderUnavailableError` from a read, command or deadline timeout: the
request was sent and may have been acted on). A connection that could not be made in time is an
`error`: nothing was sent, and the provider is unreachable rather than slow.

Label children are looked up once, when the telemetry is built, and again only if the catalogue was
rebuilt since (`metrics.rebuild`, when `install` picks multiprocess mode), carrying over the gauges'
values: a call costs a dictionary lookup and an increment per series.

Spans (OpenTelemetry API only; `observability.tracing` installs the SDK): a CLIENT span named
`provider <name>` (`provider stripe`, `provider smtp`) per call, a child of the current span (the job's),
with the attributes below and status ERROR unless the outcome is success. With no SDK installed (or the
trace not sampled) the span is non-recording, no attribute is built and no context is attached.
Exception messages are not recorded (only the type): spans leave the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from seawall.observability.metrics import BREAKER_STATE_VALUES, METRICS, PROVIDER_OUTCOMES
from seawall.resilience.breaker import BreakerState, CircuitBreaker
from seawall.resilience.budget import RetryBudget

TRACER_NAME = "seawall.providers"
# Span attributes. `error.type` is OpenTelemetry's semantic-convention name.
PROVIDER = "seawall.provider.name"
OPERATION = "seawall.provider.operation"  # charge, refund, lookup, send
OUTCOME = "seawall.provider.outcome"  # a PROVIDER_OUTCOMES value, or "cancelled"
REFUSAL = "seawall.provider.refusal"  # on a success: the business refusal's type (e.g. CardDeclinedError)
REJECTED_BY = "seawall.provider.rejected_by"  # breaker or bulkhead
ERROR_TYPE = "error.type"

Outcome = Literal["success", "error", "timeout", "rejected"]
SUCCESS: Outcome = "success"
ERROR: Outcome = "error"
TIMEOUT: Outcome = "timeout"
REJECTED: Outcome = "rejected"


def failure_outcome(exc: BaseException) -> Outcome:
    """The class of a call that failed with `exc`: `timeout` when it got no answer in time, else `error`."""
    return TIMEOUT if isinstance(exc, TimeoutError) or getattr(exc, "timed_out", False) is True else ERROR


class _Series:
    """One provider's label children of the current catalogue."""

    def __init__(self, provider: str) -> None:
        self.catalogue = METRICS.provider_calls  # identity tells whether the catalogue was rebuilt since
        self.calls = {outcome: METRICS.provider_calls.labels(provider, outcome) for outcome in PROVIDER_OUTCOMES}
        self.durations = {outcome: METRICS.provider_call_duration.labels(provider, outcome)
                          for outcome in PROVIDER_OUTCOMES if outcome != REJECTED}
        self.bulkhead_rejections = METRICS.bulkhead_rejections.labels(provider)
        self.breaker_rejections = METRICS.breaker_rejections.labels(provider)
        self.in_use = METRICS.bulkhead_in_use.labels(provider)
        self.breaker_state = METRICS.breaker_state.labels(provider)
        self.budget_tokens = METRICS.retry_budget_tokens.labels(provider)
        self.transitions = {(old.value, new.value): METRICS.breaker_transitions.labels(provider, old.value, new.value)
                            for old in BreakerState for new in BreakerState if old != new}


class ProviderTelemetry:
    def __init__(self, provider: str, *, tracer: Tracer | None = None) -> None:
        self.provider = provider
        self.tracer = tracer if tracer is not None else trace.get_tracer(TRACER_NAME)
        self.span_name = f"provider {provider}"
        self._series = _Series(provider)
        self._in_use = 0
        self._breaker_state: BreakerState | None = None
        self._budget_tokens: float | None = None

    def _current(self) -> _Series:
        series = self._series
        if series.catalogue is METRICS.provider_calls:
            return series
        series = self._series = _Series(self.provider)  # the catalogue was rebuilt: carry the gauges over
        series.in_use.inc(self._in_use)
        if self._breaker_state is not None:
            series.breaker_state.set(BREAKER_STATE_VALUES[self._breaker_state.value])
        if self._budget_tokens is not None:
            series.budget_tokens.set(self._budget_tokens)
        return series

    # -- wiring ------------------------------------------------------------------------------------

    def watch(self, breaker: CircuitBreaker, budget: RetryBudget) -> None:
        """Report `breaker`'s state (now and on every transition, before its own `on_transition`) and
        `budget`'s tokens."""
        reported = breaker.on_transition

        def on_transition(name: str, old: BreakerState, new: BreakerState) -> None:
            self.breaker_changed(old, new)
            if reported is not None:
                reported(name, old, new)

        breaker.on_transition = on_transition
        self.breaker_is(breaker.state)
        budget.on_change = self.budget_is
        self.budget_is(budget.tokens)

    def breaker_is(self, state: BreakerState) -> None:
        self._breaker_state = state
        self._current().breaker_state.set(BREAKER_STATE_VALUES[state.value])

    def breaker_changed(self, old: BreakerState, new: BreakerState) -> None:
        self._current().transitions[(old.value, new.value)].inc()
        self.breaker_is(new)

    def budget_is(self, tokens: float) -> None:
        self._budget_tokens = tokens
        self._current().budget_tokens.set(tokens)

    def slot_taken(self) -> None:
        self._in_use += 1
        self._current().in_use.inc()

    def slot_released(self) -> None:
        self._in_use -= 1
        self._current().in_use.dec()

    # -- one call ----------------------------------------------------------------------------------

    @contextmanager
    def span(self, operation: str) -> Iterator[Span]:
        """The call's CLIENT span, current inside the block when it records; ended on exit."""
        span = self.tracer.start_span(self.span_name, kind=SpanKind.CLIENT, record_exception=False,
                                      set_status_on_exception=False)
        if not span.is_recording():
            yield span
            return
        span.set_attribute(PROVIDER, self.provider)
        span.set_attribute(OPERATION, operation)
        with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            yield span

    def finished(self, span: Span, outcome: Outcome, duration_seconds: float, *,
                 error: BaseException | None = None, error_type: str | None = None) -> None:
        """A call that was sent: count it, time it, and say on `span` how it ended. `error` is what the
        call raised (a business refusal on a success); `error_type` names a failure that raised nothing
        (a webhook's HTTP status)."""
        series = self._current()
        series.calls[outcome].inc()
        series.durations[outcome].observe(duration_seconds)
        if not span.is_recording():
            return
        span.set_attribute(OUTCOME, outcome)
        kind = type(error).__name__ if error is not None else error_type
        if outcome == SUCCESS:
            if kind is not None:
                span.set_attribute(REFUSAL, kind)
            return
        kind = kind or outcome
        span.set_attribute(ERROR_TYPE, kind)
        span.set_status(Status(StatusCode.ERROR, f"{outcome}: {kind}"))

    def rejected(self, span: Span, error: BaseException, *, by: Literal["breaker", "bulkhead"]) -> None:
        """A call refused before it was sent, by the open breaker or the full bulkhead."""
        series = self._current()
        series.calls[REJECTED].inc()
        (series.breaker_rejections if by == "breaker" else series.bulkhead_rejections).inc()
        if not span.is_recording():
            return
        span.set_attribute(OUTCOME, REJECTED)
        span.set_attribute(REJECTED_BY, by)
        span.set_attribute(ERROR_TYPE, type(error).__name__)
        span.set_status(Status(StatusCode.ERROR, f"rejected by the {by}"))

    def cancelled(self, span: Span) -> None:
        """A call abandoned mid-way (its task was cancelled): no outcome, so not counted."""
        if span.is_recording():
            span.set_attribute(OUTCOME, "cancelled")
