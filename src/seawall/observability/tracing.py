"""Traces: the OpenTelemetry SDK, configured by the standard `OTEL_*` variables, off unless asked for.

`configure_tracing(settings, role=...)` is called once, early, by every process role (the app
factories, `seawall worker`, the demo). It reads:
- `OTEL_SDK_DISABLED=true`: off, whatever else is set;
- `OTEL_TRACES_EXPORTER`: a comma-separated list of `otlp`, `console`, `none`. **Unset means off**
  (the OpenTelemetry specification's default is `otlp`; Seawall does not send spans anywhere until
  told to). `otlp` is the OTLP/HTTP (protobuf) exporter, which reads its own variables
  (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `..._HEADERS`, `..._TIMEOUT`);
  gRPC is not installed, so `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL` other than `http/protobuf` is a
  setting error. `console` prints each span as JSON on standard output.
- `SEAWALL_TRACES_FILE` (`Settings.traces_file`, Seawall's own): also append every finished span to
  this file, one JSON object a line (the SDK's own span JSON). Traces on one machine without a
  collector, and what the acceptance tests read from the processes they start. It turns tracing on.
- `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`: the resource (the SDK reads them); the service
  name defaults to `seawall-<role>` (`seawall-api`, `seawall-worker`, `seawall-serve`).
- `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`: read by the SDK's `TracerProvider` itself
  (default `parentbased_always_on`); `OTEL_BSP_*` by the batch span processor behind `otlp`.

Off (the default), no tracer provider is installed, nothing is instrumented, and Seawall's own
spans are not even started: `enabled()` is a module-level flag the hot paths test first, so the
cost is one attribute read per request and per job.

On, `instrument_app` adds the FastAPI instrumentation (a server span per request, `/livez`,
`/readyz` and `/metrics` excluded, no per-message send/receive spans) and `instrument_engine` the
SQLAlchemy one (a client span per statement: the SQL text with its placeholders, never the bound
values). The job engine's spans and the trace context stored with each job are `jobs/telemetry.py`'s.

Tests install a provider around an exporter of their own with `install(exporter)` (typically
`InMemorySpanExporter`); `reset()` turns tracing off again. The OpenTelemetry API lets a process set
its global tracer provider once, so the provider is created once and later installs only swap the
exporter it feeds. What stays global is a gate (`_Gate`) in front of the SDK provider: once tracing is
off again, every span started through it, by Seawall or by a library holding a tracer from before
(FastAPI's native telemetry starts its spans whenever a configured provider is global; an engine
instrumented while tracing was on), is the invalid span: nothing records and no log line gets ids.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from seawall.config import SettingError

if TYPE_CHECKING:
    from seawall.config import Settings

TRACER_NAME = "seawall"
EXCLUDED_URLS = "/livez,/readyz,/metrics"  # probes and scrapes: frequent, and of no interest in a trace
EXPORTERS = ("otlp", "console", "none")

# FastAPI's own OpenTelemetry support (FastAPI >= 0.16x), switched off on Seawall's app: it starts a server
# span, operation spans, metrics and log records whenever a configured provider is global, that is in
# a process where tracing was once on (a test run), or under a host's `opentelemetry-instrument`, even
# with Seawall's tracing off. Seawall's server spans are `instrument_app`'s (probes excluded, the query
# string redacted); its metrics are Prometheus'.
FASTAPI_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False,
                                             "operation_spans": False}

_enabled = False
_provider: TracerProvider | None = None
_lock = threading.Lock()
_propagator = TraceContextTextMapPropagator()


def enabled() -> bool:
    """True while spans are recorded and exported in this process."""
    return _enabled


def tracer() -> trace.Tracer:
    """Seawall's own tracer (the job engine's spans; provider call spans)."""
    return trace.get_tracer(TRACER_NAME)


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span to a file as one JSON object a line (`ReadableSpan.to_json`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        with open(self.path, "a", encoding="utf-8") as out:  # one write: lines of processes sharing it stay whole
            out.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class _Exporting(SpanProcessor):
    """The provider's one processor, handing spans to whichever processors are current (see `install`)."""

    def __init__(self) -> None:
        self.targets: tuple[SpanProcessor, ...] = ()

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        for target in self.targets:
            target.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for target in self.targets:
            target.on_end(span)

    def shutdown(self) -> None:
        for target in self.targets:
            target.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(target.force_flush(timeout_millis) for target in self.targets)


_exporting = _Exporting()


def configure_tracing(settings: Settings, *, role: str) -> bool:
    """Turn tracing on as the `OTEL_*` variables and `settings.traces_file` say; True if it is on.

    Raises `SettingError` for an unknown exporter name or an OTLP protocol that is not installed.
    Calling it again in the same process changes nothing (the first configuration stands).
    """
    if _enabled:
        return True
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return False
    names = [name.strip().lower() for name in os.environ.get(OTEL_TRACES_EXPORTER, "").split(",") if name.strip()]
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise SettingError(OTEL_TRACES_EXPORTER, f"names an exporter Seawall does not have: {', '.join(unknown)} "
                                                 f"(known: {', '.join(EXPORTERS)})")
    processors: list[SpanProcessor] = []
    if "otlp" in names:
        processors.append(BatchSpanProcessor(_otlp_exporter()))
    if "console" in names:
        processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
    if settings.traces_file is not None:
        try:
            open(settings.traces_file, "a").close()  # a path that cannot be written fails now, in one line
        except OSError as exc:
            raise SettingError("SEAWALL_TRACES_FILE", f"cannot be opened for appending: {exc.strerror}") from None
        processors.append(SimpleSpanProcessor(JsonLinesSpanExporter(settings.traces_file)))
    if not processors:
        return False
    _install(processors, role=role)
    return True


def _otlp_exporter() -> SpanExporter:
    for variable in (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL):
        protocol = os.environ.get(variable, "").strip()
        if protocol and protocol != "http/protobuf":
            raise SettingError(variable, f"is {protocol!r}: Seawall ships the OTLP exporter over HTTP only "
                                         "(set it to http/protobuf or leave it unset)")
        if protocol:
            break
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: from its own OTEL_EXPORTER_OTLP_* variables


def install(exporter: SpanExporter, *, role: str = "test") -> None:
    """Record every span from now on and hand it to `exporter` as it ends (tests: `InMemorySpanExporter`)."""
    _install([SimpleSpanProcessor(exporter)], role=role)


def reset() -> None:
    """Tracing off again: spans started from now on are not Seawall's to record (tests)."""
    global _enabled
    with _lock:
        _enabled = False
        _exporting.targets = ()


class _GatedTracer(trace.Tracer):
    """The SDK's tracer while tracing is on; the API's no-op one (the invalid span, not current) while
    it is off. Decided at each span start, so a tracer kept from before `reset()` records nothing."""

    _off = trace.NoOpTracer()

    def __init__(self, inner: trace.Tracer) -> None:
        self._inner = inner

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return (self._inner if _enabled else self._off).start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return (self._inner if _enabled else self._off).start_as_current_span(*args, **kwargs)


class _Gate(trace.TracerProvider):
    """The process's global tracer provider once tracing has been on: `provider`'s tracers, gated."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _GatedTracer(self.provider.get_tracer(*args, **kwargs))


def _install(processors: list[SpanProcessor], *, role: str) -> None:
    global _enabled, _provider
    with _lock:
        if _provider is None:
            _provider = TracerProvider(resource=_resource(role))  # the sampler: OTEL_TRACES_SAMPLER(_ARG)
            _provider.add_span_processor(_exporting)
            trace.set_tracer_provider(_Gate(_provider))
        _exporting.targets = tuple(processors)
        _enabled = True


def _resource(role: str) -> Resource:
    """The SDK's resource from `OTEL_RESOURCE_ATTRIBUTES`/`OTEL_SERVICE_NAME`, named `seawall-<role>` by default."""
    named = SERVICE_NAME in OTELResourceDetector().detect().attributes
    return Resource.create({} if named else {SERVICE_NAME: f"seawall-{role}"})


def instrument_app(app: Any) -> None:
    """Server spans for the FastAPI `app` (probes and `/metrics` excluded), when tracing is on."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"],
                                       server_request_hook=_without_query)


# Attributes of a server span that may hold the query string (old and stable HTTP semantic conventions).
URL_ATTRIBUTES = ("http.url", "http.target", "url.full")


def _without_query(span: Any, scope: dict[str, Any]) -> None:
    """Keep the query string, where a client may have put a token or a card number, out of the span: the
    URL attributes lose it and `url.query` is replaced. The route template names the operation anyway."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.split("?", 1)[0])
    if "url.query" in attributes:
        span.set_attribute("url.query", "[redacted]")


class _ChildSpansOnly(trace.Tracer):
    """A tracer that starts a span only inside another: the SQL a request or a job runs is traced, the
    worker's polls and the lease keeper's renewals (no span around them) would each be a one-statement
    trace, about 15 per second per idle process, and are not."""

    def __init__(self, inner: trace.Tracer) -> None:
        self._inner = inner

    def start_span(self, name: str, context: otel_context.Context | None = None,  # type: ignore[override]
                   *args: Any, **kwargs: Any) -> trace.Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._inner.start_span(name, context, *args, **kwargs)

    def start_as_current_span(self, name: str, context: otel_context.Context | None = None,  # type: ignore[override]
                              *args: Any, **kwargs: Any) -> Any:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return contextlib.nullcontext(trace.INVALID_SPAN)
        return self._inner.start_as_current_span(name, context, *args, **kwargs)


def instrument_engine(engine: Any) -> None:
    """A client span per SQL statement of this `AsyncEngine`, when tracing is on: the statement text
    with its placeholders; bound values never (the instrumentation does not record them)."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.sqlalchemy import __version__ as version
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    name = "opentelemetry.instrumentation.sqlalchemy"
    connections = get_meter(name, version).create_up_down_counter(
        "db.client.connections.usage", unit="connections", description="connections in use or idle")
    EngineTracer(_ChildSpansOnly(trace.get_tracer(name, version)), engine.sync_engine, connections)


# -- the W3C trace context as text (what the job engine stores with a job) -------------------------


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None when there is no valid one."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def traceparent_of(span_context: SpanContext) -> str:
    """`00-<trace id>-<span id>-<flags>`, the W3C traceparent of a span context."""
    return (f"00-{trace.format_trace_id(span_context.trace_id)}-{trace.format_span_id(span_context.span_id)}"
            f"-{int(span_context.trace_flags):02x}")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context | None:
    """The context whose current span is the remote one `traceparent` names; None if absent or malformed."""
    if not traceparent:
        return None
    extracted = _propagator.extract({"traceparent": traceparent})
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def span_context_from_traceparent(traceparent: str | None) -> SpanContext | None:
    """The (remote) span context a traceparent names, for a span link; None if absent or malformed."""
    context = context_from_traceparent(traceparent)
    return None if context is None else trace.get_current_span(context).get_span_context()

