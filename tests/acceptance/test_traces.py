"""Promise: a request, the job it enqueues and that job's provider call make one trace, across an API
process and a worker process, through the jobs table alone (`postgres`) and through RabbitMQ (`full`);
the worker's lines for that job carry the request's X-Request-ID and the trace id.

Both processes write their spans to a file of their own (`SEAWALL_TRACES_FILE`), which the test reads
and joins by span id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from tests.integration.accounts.wire import bearer, new_key
from tests.integration.jobs.harness import wait_until
from tests.integration.payments.flow import new_user, wait_for_payments
from tests.support.server import ServerFactory
from tests.support.traces import SpanTree, read_spans_file

pytestmark = pytest.mark.backends("postgres", "full")

REQUEST_ID = "trace-acceptance-0001"


async def test_a_payment_request_its_charge_job_and_the_provider_call_are_one_trace_across_processes(
    servers: ServerFactory, runtime: Runtime, sandbox: SandboxServer, var_dir: Path, backend: str
) -> None:
    api_file, worker_file = var_dir / "api-spans.jsonl", var_dir / "worker-spans.jsonl"
    env = {"SEAWALL_STRIPE_API_BASE": sandbox.base_url, "OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "none"}
    worker = servers.start("worker", env={**env, "SEAWALL_TRACES_FILE": str(worker_file)})  # starts meanwhile
    api = servers.start("api", env={**env, "SEAWALL_TRACES_FILE": str(api_file)})
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
        auth = bearer(await new_user(http))
        response = await http.post(
            "/v1/payments", json={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa"},
            headers={**auth, "Idempotency-Key": new_key(), "X-Request-ID": REQUEST_ID})
    assert response.status_code == 202, response.text
    await wait_for_payments(runtime.database, [response.json()["id"]], "succeeded")

    async def traced() -> SpanTree | None:  # the attempt's span ends just after its outcome commits
        tree = SpanTree(read_spans_file(api_file) + read_spans_file(worker_file))
        return tree if tree.named("job payments.charge") else None

    tree = await wait_until(traced, what="the charge job's span")
    server, enqueued, job = tree.one("POST /v1/payments"), tree.one("enqueue payments.charge"), \
        tree.one("job payments.charge")
    assert (server.service, enqueued.service, job.service) == ("seawall-api", "seawall-api", "seawall-worker")
    assert server.kind == "SpanKind.SERVER" and tree.is_ancestor(server, enqueued)
    assert job.parent_id == enqueued.span_id  # continued from the traceparent stored with the job
    assert {server.trace_id, enqueued.trace_id, job.trace_id} == {server.trace_id}
    assert server.start_time <= enqueued.start_time <= job.start_time
    assert job.attributes["seawall.job.outcome"] == "succeeded"
    if backend == "full":  # the job id reached the worker through the broker
        assert job.attributes.get("messaging.system") == "rabbitmq"
    # The job's own statements are its children (SQLAlchemy instrumentation in the worker process).
    assert any(child.kind == "SpanKind.CLIENT" for child in tree.children(job))
    # The charge at the fake Stripe, inside the job's span (`resilience`'s provider call spans).
    provider = tree.provider_calls_under(job)
    assert provider and all(span.trace_id == server.trace_id for span in provider), tree.children(job)
    assert job.start_time <= min(span.start_time for span in provider)

    charge_lines = [line for line in json_lines(worker.log())
                    if line.get("kind") == "payments.charge" and line.get("event") == "job.succeeded"]
    assert charge_lines and all(line.get("request_id") == REQUEST_ID for line in charge_lines), charge_lines
    assert all(line.get("trace_id") == server.trace_id for line in charge_lines), charge_lines


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines
