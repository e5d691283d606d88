"""Promise: one slow receiver cannot take delivery down — every attempt has a deadline, a host gets
at most `max_concurrent_per_host` attempts at once from a process — and no connection is ever made
to an address the SSRF guard did not check. Each attempt is one `provider webhooks` span and one
count of `seawall_provider_calls_total{provider="webhooks"}` by outcome."""

from __future__ import annotations

import asyncio

import httpcore
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from seawall.resilience import BulkheadFullError
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.sender import PinnedNetworkBackend, WebhookSender
from seawall.webhooks.ssrf import WebhookTarget
from tests.support.catalogue import CatalogueDelta


def _calls(*outcomes: str) -> CatalogueDelta:
    return CatalogueDelta({outcome: ("seawall_provider_calls_total", {"provider": "webhooks", "outcome": outcome})
                           for outcome in outcomes})


def _target(receiver: WebhookReceiverServer, host: str, name: str = "slow") -> WebhookTarget:
    return WebhookTarget(url=f"http://{host}:{receiver.port}/hooks/{name}", scheme="http", host=host,
                         port=receiver.port, target=f"/hooks/{name}", address="127.0.0.1")


async def test_an_attempt_that_gets_no_answer_ends_at_its_deadline(receiver: WebhookReceiverServer) -> None:
    receiver.set_faults(hang_rate=1.0)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    sender = WebhookSender(connect_timeout_seconds=1, timeout_seconds=0.2, max_concurrent_per_host=2,
                           tracer=tracer_provider.get_tracer("test"))
    calls = _calls("timeout", "error")
    try:
        result = await sender.post(_target(receiver, "slow.test"), headers={}, body=b"{}")
    finally:
        await sender.aclose()
    assert result.status_code is None and not result.succeeded
    assert result.error is not None and "no answer" in result.error
    assert calls.changes() == {"timeout": 1, "error": 0}
    [span] = spans.get_finished_spans()
    assert (span.name, span.kind, span.status.status_code) == ("provider webhooks", SpanKind.CLIENT, StatusCode.ERROR)
    assert span.attributes is not None and span.attributes["seawall.provider.outcome"] == "timeout"


async def test_a_host_gets_at_most_its_share_of_concurrent_attempts(receiver: WebhookReceiverServer) -> None:
    receiver.set_faults(hang_rate=1.0)
    receiver.register("fast")
    sender = WebhookSender(connect_timeout_seconds=1, timeout_seconds=1.0, max_concurrent_per_host=1)
    calls = _calls("rejected", "error", "timeout")
    try:
        hanging = asyncio.create_task(sender.post(_target(receiver, "slow.test"), headers={}, body=b"{}"))
        while sender.in_flight("slow.test") == 0:
            await asyncio.sleep(0.005)
        with pytest.raises(BulkheadFullError):
            await sender.post(_target(receiver, "slow.test"), headers={}, body=b"{}")
        # The slow request must have reached the receiver (and drawn its hang) before the faults are
        # cleared: under load it could arrive after, and be answered at once (seen in a full run).
        async with asyncio.timeout(5):
            while receiver.state.requests.in_flight == 0:
                await asyncio.sleep(0.005)
        receiver.set_faults()  # another host is not held up by the slow one
        other = await sender.post(_target(receiver, "other.test", "fast"), headers={}, body=b"{}")
        assert other.status_code == 400  # answered (unsigned, so refused by the receiver)
        await hanging
    finally:
        await sender.aclose()
    assert sender.in_flight("slow.test") == 0
    assert calls.changes() == {"rejected": 1, "error": 1, "timeout": 1}  # the 400 is an error: not delivered


async def test_no_connection_without_an_address_checked_by_the_guard() -> None:
    backend = PinnedNetworkBackend()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", 9)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_unix_socket("/var/run/docker.sock")
