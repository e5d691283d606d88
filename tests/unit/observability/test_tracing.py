"""Promises: tracing is off unless an exporter is named (no provider, no spans started by Seawall);
the standard OTEL_* variables configure it, with a service name of `seawall-<role>` by default; a
misnamed exporter or an OTLP protocol Seawall lacks is a setting error; a traceparent survives the
round trip through a job row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seawall.config import SettingError, Settings
from seawall.observability import tracing


@pytest.fixture(autouse=True)
def tracing_off_after() -> Iterator[None]:
    yield
    tracing.reset()


@pytest.fixture
def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
                 "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_with_no_exporter_named_tracing_stays_off(clean_otel_env: pytest.MonkeyPatch) -> None:
    assert tracing.configure_tracing(Settings(), role="api") is False
    assert not tracing.enabled()
    clean_otel_env.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.configure_tracing(Settings(), role="api") is False


def test_sdk_disabled_wins_over_an_exporter(clean_otel_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_otel_env.setenv("OTEL_SDK_DISABLED", "true")
    clean_otel_env.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing.configure_tracing(Settings(traces_file=tmp_path / "spans.jsonl"), role="api") is False


@pytest.mark.parametrize(("variable", "value"), [("OTEL_TRACES_EXPORTER", "zipkin"),
                                                 ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
def test_an_exporter_seawall_lacks_is_a_setting_error(clean_otel_env: pytest.MonkeyPatch, variable: str,
                                                      value: str) -> None:
    clean_otel_env.setenv("OTEL_TRACES_EXPORTER", "otlp")
    clean_otel_env.setenv(variable, value)
    with pytest.raises(SettingError, match=variable):
        tracing.configure_tracing(Settings(), role="api")


def test_a_traces_file_that_cannot_be_written_is_a_setting_error(clean_otel_env: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="SEAWALL_TRACES_FILE"):
        tracing.configure_tracing(Settings(traces_file=tmp_path / "missing" / "spans.jsonl"), role="api")
    assert not tracing.enabled()


def test_the_traces_file_gets_one_json_span_a_line(clean_otel_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    assert tracing.configure_tracing(Settings(traces_file=path), role="worker") is True
    with tracing.tracer().start_as_current_span("outer"):
        with tracing.tracer().start_as_current_span("inner"):
            traceparent = tracing.current_traceparent()
    spans = [json.loads(line) for line in path.read_text().splitlines()]
    assert [span["name"] for span in spans] == ["inner", "outer"]
    assert spans[0]["parent_id"] == spans[1]["context"]["span_id"]
    assert traceparent is not None and traceparent.split("-")[2] == spans[0]["context"]["span_id"][2:]


def test_the_service_is_named_after_the_role_unless_otel_names_it(clean_otel_env: pytest.MonkeyPatch) -> None:
    assert tracing._resource("worker").attributes[SERVICE_NAME] == "seawall-worker"
    clean_otel_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=payments-core,deployment.environment=prod")
    assert tracing._resource("worker").attributes[SERVICE_NAME] == "payments-core"
    clean_otel_env.setenv("OTEL_SERVICE_NAME", "seawall-eu")
    resource = tracing._resource("worker").attributes
    assert (resource[SERVICE_NAME], resource["deployment.environment"]) == ("seawall-eu", "prod")


def test_once_off_again_no_tracer_starts_a_valid_span_not_even_one_kept_from_before() -> None:
    exporter = InMemorySpanExporter()
    tracing.install(exporter)
    kept = trace.get_tracer("a.library")  # as an instrumentation keeps the tracer it got
    with kept.start_as_current_span("on") as span:
        assert span.is_recording()
    tracing.reset()  # the SDK provider stays the global one: OpenTelemetry sets it once per process
    for tracer in (kept, trace.get_tracer("a.library"), tracing.tracer()):
        with tracer.start_as_current_span("off") as span:
            assert not span.get_span_context().is_valid
            assert not trace.get_current_span().get_span_context().is_valid
        assert not tracer.start_span("off").get_span_context().is_valid
    tracing.install(exporter)
    with kept.start_as_current_span("on again"):
        pass
    assert [span.name for span in exporter.get_finished_spans()] == ["on", "on again"]


def test_a_traceparent_names_the_remote_parent_it_was_made_from() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    remote = tracing.span_context_from_traceparent(traceparent)
    assert remote is not None and remote.is_remote
    assert tracing.traceparent_of(remote) == traceparent
    assert tracing.span_context_from_traceparent("not-a-traceparent") is None
    assert tracing.context_from_traceparent(None) is None
