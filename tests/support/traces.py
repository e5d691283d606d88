"""Traces recorded in the test's own process (`span_exporter`) or read from a process it started
(`read_spans_file`), and the questions tests ask of them (`SpanTree`).

Contract:
- `span_exporter` turns tracing on for the test (`observability.tracing.install`) with an
  `InMemorySpanExporter`, and off again after it; apps and databases built during the test are
  instrumented. `span_exporter.get_finished_spans()` are the spans ended so far.
- `read_spans_file(path)` parses what a process started with `SEAWALL_TRACES_FILE=path` wrote (one JSON
  span a line) into `RecordedSpan`s; `SpanTree(spans)` answers parent/ancestor/trace questions over spans
  from any number of processes, keyed by their hex ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seawall.observability import tracing


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(exporter)
    try:
        yield exporter
    finally:
        tracing.reset()


@dataclass(frozen=True)
class RecordedSpan:
    """A finished span as the SDK renders it (ids in hex, without `0x`)."""

    name: str
    kind: str  # "SpanKind.SERVER", ...
    trace_id: str
    span_id: str
    parent_id: str | None
    start_time: str  # ISO 8601, UTC
    attributes: dict[str, Any] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)  # span ids linked to
    status: str = "UNSET"
    service: str = ""


def recorded(span: ReadableSpan) -> RecordedSpan:
    """An in-memory span in the same shape as one read from a file."""
    return _parse(json.loads(span.to_json(indent=None)))


def _parse(data: dict[str, Any]) -> RecordedSpan:
    def hex_id(value: str | None) -> str | None:
        return value[2:] if value else None

    return RecordedSpan(
        name=data["name"], kind=data["kind"], trace_id=data["context"]["trace_id"][2:],
        span_id=data["context"]["span_id"][2:], parent_id=hex_id(data.get("parent_id")),
        start_time=data["start_time"], attributes=dict(data.get("attributes") or {}),
        links=[link["context"]["span_id"][2:] for link in data.get("links") or []],
        status=data["status"]["status_code"], service=data["resource"]["attributes"].get("service.name", ""))


def read_spans_file(path: Path) -> list[RecordedSpan]:
    if not path.exists():
        return []
    return [_parse(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


class SpanTree:
    def __init__(self, spans: Iterable[RecordedSpan | ReadableSpan]) -> None:
        self.spans = [span if isinstance(span, RecordedSpan) else recorded(span) for span in spans]
        self.by_id = {span.span_id: span for span in self.spans}

    def named(self, name: str) -> list[RecordedSpan]:
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> RecordedSpan:
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r} among {sorted({s.name for s in self.spans})}"
        return found[0]

    def children(self, parent: RecordedSpan) -> list[RecordedSpan]:
        return [span for span in self.spans if span.parent_id == parent.span_id]

    def provider_calls_under(self, span: RecordedSpan) -> list[RecordedSpan]:
        """The provider call spans ("provider <name>") below `span`."""
        return [found for found in self.spans if found.name.startswith("provider ") and self.is_ancestor(span, found)]

    def is_ancestor(self, ancestor: RecordedSpan, span: RecordedSpan) -> bool:
        parent_id = span.parent_id
        for _ in range(100):
            if parent_id is None:
                return False
            if parent_id == ancestor.span_id:
                return True
            parent = self.by_id.get(parent_id)
            parent_id = parent.parent_id if parent is not None else None
        return False


def current_trace_id() -> str:
    return trace.format_trace_id(trace.get_current_span().get_span_context().trace_id)
