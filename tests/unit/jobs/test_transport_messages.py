"""The broker transport's wire format and queue arguments, without a broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from aio_pika import DeliveryMode

from seawall.config import Settings
from seawall.jobs.transport import job_message, topology
from seawall.jobs.transport.consumer import parse


def delivered(body: bytes) -> Any:
    return cast(Any, SimpleNamespace(body=body))


def test_a_job_message_carries_only_the_id_and_is_persistent() -> None:
    message = job_message(42)
    assert message.delivery_mode == DeliveryMode.PERSISTENT
    assert parse(delivered(message.body)).job_id == 42


@pytest.mark.parametrize("body", [b"not json", b"42", b'{"job_id": "42"}', b'{"job_id": true}', b'{"id": 42}',
                                  b"[42]", b"\xff"])
def test_anything_else_is_not_a_job_message(body: bytes) -> None:
    assert parse(delivered(body)).job_id is None


def test_work_queues_are_quorum_with_an_explicit_poison_limit_and_at_least_once_dead_letters() -> None:
    settings = Settings(broker_queue_prefix="acme.", broker_delivery_limit=7)
    assert topology.queue_name(settings, "payments") == "acme.payments"
    assert topology.queue_arguments(settings, "payments") == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "acme.dead-letter",
        "x-dead-letter-routing-key": "acme.payments",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert topology.dead_letter_queue_name(settings, "payments") == "acme.payments.dead"


def test_a_job_message_carries_the_jobs_trace_context_and_request_id_as_headers() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    message = job_message(7, traceparent=traceparent, request_id="req-1")
    assert message.headers == {"traceparent": traceparent, "request_id": "req-1"}
    assert parse(delivered(message.body)).job_id == 7
    assert not job_message(8).headers  # a job enqueued with tracing off and outside a request
