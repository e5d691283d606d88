"""Promise: one slow receiver cannot take delivery down — every attempt has a deadline, a host gets
at most `max_concurrent_per_host` attempts at once from a process — and no connection is ever made
to an address the SSRF guard did not check."""

from __future__ import annotations

import asyncio

import httpcore
import pytest

from seawall.resilience import BulkheadFullError
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.sender import PinnedNetworkBackend, WebhookSender
from seawall.webhooks.ssrf import WebhookTarget


def _target(receiver: WebhookReceiverServer, host: str, name: str = "slow") -> WebhookTarget:
    return WebhookTarget(url=f"http://{host}:{receiver.port}/hooks/{name}", scheme="http", host=host,
                         port=receiver.port, target=f"/hooks/{name}", address="127.0.0.1")


async def test_an_attempt_that_gets_no_answer_ends_at_its_deadline(receiver: WebhookReceiverServer) -> None:
    receiver.set_faults(hang_rate=1.0)
    sender = WebhookSender(connect_timeout_seconds=1, timeout_seconds=0.2, max_concurrent_per_host=2)
    try:
        result = await sender.post(_target(receiver, "slow.test"), headers={}, body=b"{}")
    finally:
        await sender.aclose()
    assert result.status_code is None and not result.succeeded
    assert result.error is not None and "no answer" in result.error


async def test_a_host_gets_at_most_its_share_of_concurrent_attempts(receiver: WebhookReceiverServer) -> None:
    receiver.set_faults(hang_rate=1.0)
    receiver.register("fast")
    sender = WebhookSender(connect_timeout_seconds=1, timeout_seconds=1.0, max_concurrent_per_host=1)
    try:
        hanging = asyncio.create_task(sender.post(_target(receiver, "slow.test"), headers={}, body=b"{}"))
        while sender.in_flight("slow.test") == 0:
            await asyncio.sleep(0.005)
        with pytest.raises(BulkheadFullError):
            await sender.post(_target(receiver, "slow.test"), headers={}, body=b"{}")
        receiver.set_faults()  # another host is not held up by the slow one
        other = await sender.post(_target(receiver, "other.test", "fast"), headers={}, body=b"{}")
        assert other.status_code == 400  # answered (unsigned, so refused by the receiver)
        await hanging
    finally:
        await sender.aclose()
    assert sender.in_flight("slow.test") == 0


async def test_no_connection_without_an_address_checked_by_the_guard() -> None:
    backend = PinnedNetworkBackend()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", 9)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_unix_socket("/var/run/docker.sock")
