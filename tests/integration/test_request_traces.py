"""Promise: with tracing on, each API request is one server span named by its route template (never the
raw path), and the probes make none."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

pytestmark = pytest.mark.backends("sqlite")


async def test_a_request_is_one_server_span_named_by_its_route_and_probes_make_none(
    span_exporter: InMemorySpanExporter, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/livez")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/v1/payments/pay_123", headers={"Authorization": "Bearer nope"})).status_code == 401

    servers = [span for span in span_exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert [span.name for span in servers] == ["GET /v1/payments/{payment_id}"]
    assert servers[0].attributes is not None and servers[0].attributes.get("http.route") == "/v1/payments/{payment_id}"
