"""Promise 4 (bulkheads): a worker's slots are split so no queue takes more than its cap, the caps
come from `SEAWALL_WORKER_QUEUE_CONCURRENCY` (else half the slots), and the default provider
bulkhead is no larger than the payments queue's slots."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from seawall.config import Settings, parse_queue_slots
from seawall.jobs.slots import QueueSlots


def test_a_queue_never_gets_more_than_its_cap_nor_the_worker_more_than_its_slots() -> None:
    slots = QueueSlots({"payments": 4, "notifications": 4, "webhooks": 4}, total=8)
    assert {queue: slots.free(queue) for queue in slots.caps} == {"payments": 4, "notifications": 4, "webhooks": 4}
    for job_id in range(4):
        slots.take(job_id, "payments")  # a hanging provider holds every payments slot
    assert slots.free("payments") == 0 and slots.free("webhooks") == 4
    for job_id in range(4, 7):
        slots.take(job_id, "webhooks")
    assert slots.free("notifications") == 1  # the worker has one slot left, whatever the caps
    slots.take(7, "notifications")
    assert [slots.free(queue) for queue in slots.caps] == [0, 0, 0]
    slots.release(0)
    slots.release(0)  # twice: ignored
    slots.take(4, "webhooks")  # already holding its slot: ignored
    assert slots.in_use("payments") == 3 and slots.free("payments") == 1 and slots.in_use("webhooks") == 3


def test_the_first_queue_served_turns_round() -> None:
    slots = QueueSlots({"a": 2, "b": 2, "c": 2}, total=2)
    assert [slots.rotation() for _ in range(4)] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"],
                                                    ["a", "b", "c"]]


def test_slot_counts_are_at_least_one() -> None:
    with pytest.raises(ValueError):
        QueueSlots({"a": 0}, total=2)
    with pytest.raises(ValueError):
        QueueSlots({"a": 1}, total=0)


def test_caps_are_read_from_the_setting_else_half_the_slots() -> None:
    settings = Settings(worker_concurrency=8, worker_queues="default,payments,webhooks",
                        worker_queue_concurrency="payments=3, webhooks=20")
    assert settings.queue_slots() == {"default": 4, "payments": 3, "webhooks": 8}
    assert settings.queue_slots(concurrency=5) == {"default": 3, "payments": 3, "webhooks": 5}
    assert settings.queue_slots(["default", "other"], 1) == {"default": 1, "other": 1}


def test_a_worker_of_one_queue_gives_it_every_slot_unless_capped() -> None:
    settings = Settings(worker_concurrency=8)
    assert settings.queue_slots(["notifications"]) == {"notifications": 8}
    assert Settings(worker_queue_concurrency="payments=2").queue_slots(["payments"]) == {"payments": 2}


def test_the_default_bulkhead_is_the_payments_queues_slots() -> None:
    assert Settings().resolved_provider_max_concurrent_calls == Settings().queue_slots()["payments"] == 4
    assert Settings(worker_queue_concurrency="payments=2").resolved_provider_max_concurrent_calls == 2
    assert Settings(worker_queues="payments", worker_concurrency=6).resolved_provider_max_concurrent_calls == 6
    assert Settings(worker_queues="default,webhooks").resolved_provider_max_concurrent_calls == 4
    assert Settings(provider_max_concurrent_calls=9).resolved_provider_max_concurrent_calls == 9


@pytest.mark.parametrize("text", ["payments", "payments=0", "payments=x", "=3", "a=1,a=2", "a=-1"])
def test_a_malformed_setting_names_its_variable(text: str) -> None:
    with pytest.raises(ValueError):
        parse_queue_slots(text)
    with pytest.raises(ValidationError) as raised:
        Settings(worker_queue_concurrency=text)
    assert "worker_queue_concurrency" in str(raised.value)


def test_blank_entries_are_ignored() -> None:
    assert parse_queue_slots(" payments=2 ,, webhooks=1 ,") == {"payments": 2, "webhooks": 1}
    assert parse_queue_slots("") == {}
