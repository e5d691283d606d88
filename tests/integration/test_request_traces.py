"""Promise: with tracing on, each API request is one server span named by its route template (never the
raw path), and the probes make none."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from seawall.observability import tracing
from seawall.runtime import Runtime

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


async def test_the_query_string_stays_out_of_the_server_span(
    span_exporter: InMemorySpanExporter, client: httpx.AsyncClient
) -> None:
    secret = "4111111111111111"
    answer = await client.get(f"/v1/payments?card={secret}&token=tok-marker-5e1", headers={"Authorization": "Bearer x"})
    assert answer.status_code in (401, 422)
    (server,) = [span for span in span_exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    text = repr(dict(server.attributes or {}))
    assert secret not in text and "tok-marker-5e1" not in text, text
    assert any(str(value).endswith("/v1/payments") for value in (server.attributes or {}).values()), text


async def test_statements_outside_a_span_make_no_trace_and_inside_one_are_its_children(
    span_exporter: InMemorySpanExporter, runtime: Runtime
) -> None:
    """The worker's polls and the lease keeper's renewals run outside any span: no one-statement traces."""
    async with runtime.database.transaction() as session:
        await session.execute(text("SELECT 1"))
    assert span_exporter.get_finished_spans() == ()
    with tracing.tracer().start_as_current_span("a job") as parent:
        async with runtime.database.transaction() as session:
            await session.execute(text("SELECT 1"))
    statements = [span for span in span_exporter.get_finished_spans() if span.name != "a job"]
    assert statements and all(span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
                              for span in statements)
