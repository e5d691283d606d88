"""Promise: a payment request, its charge job and the charge at the provider are one trace, in order
(in this process, spans in memory; across processes and RabbitMQ: tests/acceptance/test_traces.py)."""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seawall.jobs.worker import Worker
from seawall.runtime import Runtime
from tests.integration.payments.flow import load_payment, post_payment
from tests.support.traces import SpanTree


async def test_a_payment_request_its_charge_job_and_the_provider_call_are_one_trace(
    span_exporter: InMemorySpanExporter, client: httpx.AsyncClient, auth: dict[str, str], runtime: Runtime
) -> None:
    payment = await post_payment(client, auth)
    await Worker(database=runtime.database, settings=runtime.settings, runtime=runtime).run_until_idle()
    assert (await load_payment(runtime.database, payment["id"])).status == "succeeded"

    tree = SpanTree(span_exporter.get_finished_spans())
    server, enqueued = tree.one("POST /v1/payments"), tree.one("enqueue payments.charge")
    # One span per attempt: on a loaded machine the charge may time out once and be retried; every
    # attempt continues the trace, and the one that succeeded made the charge.
    attempts = tree.named("job payments.charge")
    assert attempts and all(attempt.parent_id == enqueued.span_id for attempt in attempts)
    (job,) = [attempt for attempt in attempts if attempt.attributes.get("seawall.job.outcome") == "succeeded"]
    assert tree.is_ancestor(server, enqueued)
    assert {server.trace_id, enqueued.trace_id, *(attempt.trace_id for attempt in attempts)} == {server.trace_id}
    assert server.start_time <= enqueued.start_time <= min(attempt.start_time for attempt in attempts)
    # What the charge's success enqueued (receipt, webhook event...) continues the same trace.
    followers = [span for span in tree.spans if span.name.startswith("enqueue ") and tree.is_ancestor(job, span)]
    assert followers and all(span.trace_id == server.trace_id for span in followers)
    provider = tree.provider_calls_under(job)  # the charge at the fake Stripe (`resilience`'s call spans)
    assert provider and all(span.trace_id == server.trace_id for span in provider), tree.children(job)
    assert job.start_time <= min(span.start_time for span in provider)
