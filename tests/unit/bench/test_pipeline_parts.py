"""The parts of `seawall bench pipeline` without I/O: the request mix, the open loop, the HDR summaries,
and the exactly-once check and latencies read from providers' records."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from seawall.bench.pipeline import _interleave, _open_loop
from seawall.bench.pipeline_report import (
    Effects,
    WebhookPayment,
    check_exactly_once,
    latency_summary,
    measure_latencies,
)
from seawall.cli.demo.subscribers import Subscriber
from seawall.cli.demo.workload import DemoUser
from seawall.sandbox.webhook_receiver import ReceivedWebhook, WebhookReceiverServer


def _user(index: int) -> DemoUser:
    return DemoUser(index=index, email=f"u{index}@example.com", password="pw", plan="pro", card="pm_card_visa",
                    signup_key=f"k{index}")


def test_subscriber_payments_are_spread_evenly_among_the_signups() -> None:
    users = [_user(i) for i in range(8)]
    subscriber = Subscriber(user=_user(100), name="subscriber-0")
    payments = [WebhookPayment(subscriber=subscriber, number=n) for n in range(2)]
    items = _interleave(users, payments)
    assert len(items) == 10
    assert [i for i, item in enumerate(items) if isinstance(item, WebhookPayment)] == [1, 6]
    assert [item for item in items if isinstance(item, DemoUser)] == users


def test_the_open_loop_starts_every_item_once_in_order() -> None:
    started: list[int] = []

    async def send(item: int) -> None:
        started.append(item)
        await asyncio.sleep(0.01)

    asyncio.run(_open_loop(list(range(20)), send, per_second=2000))
    assert started == list(range(20))


def test_latency_summary_reports_milliseconds_from_an_hdr_histogram() -> None:
    summary = latency_summary([0.001 * n for n in range(1, 101)])  # 1..100 ms
    assert summary["count"] == 100
    assert abs(summary["p50_ms"] - 50) <= 0.1 and abs(summary["p99_ms"] - 99) <= 0.1
    assert abs(summary["max_ms"] - 100) <= 0.1
    assert latency_summary([]) == {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "count": 0}


def _world() -> tuple[list[DemoUser], list[WebhookPayment], list[Subscriber], Effects]:
    """One sign-up and one subscriber payment whose every effect happened once, as the providers record it."""
    user = _user(1)
    user.signup_status, user.token, user.signed_up_at = 202, "tok", 1000.0
    user.payments = [{"id": "pay_1", "status": "succeeded", "amount_refunded": 0}]
    user.notifications = [{"id": "ntf_w", "event_type": "welcome", "status": "sent", "sent_at": None},
                          {"id": "ntf_r", "event_type": "payment_receipt", "status": "sent", "sent_at": None}]
    subscriber = Subscriber(user=_user(100), name="subscriber-0", payment_ids=["pay_9"])
    subscriber.user.payments = [{"id": "pay_9", "status": "succeeded"}]
    payment = WebhookPayment(subscriber=subscriber, number=0, sent_at=1000.5, status=202, payment_id="pay_9")
    intents = [{"id": f"pi_{pid}", "status": "succeeded", "metadata": {"seawall_payment_id": pid},
                "sandbox_succeeded_at": 1000.2} for pid in ("pay_1", "pay_9")]
    mail = {"data": [{"message_id": f"<{nid}@seawall.invalid>", "rcpt_tos": [user.email],
                      "received_at": datetime.fromtimestamp(1000.4 if nid == "ntf_w" else 1000.3, UTC).isoformat()}
                     for nid in ("ntf_w", "ntf_r")], "duplicates": {}}
    receiver = WebhookReceiverServer()
    receiver.state.deliveries.append(_delivery("msg_1", "pay_9", received_at=1000.9))
    return [user], [payment], [subscriber], Effects(intents=intents, mail=mail, receiver=receiver)


def _delivery(webhook_id: str, payment_id: str, *, received_at: float) -> ReceivedWebhook:
    body = json.dumps({"type": "payment.succeeded", "data": {"payment_id": payment_id}})
    return ReceivedWebhook(name="subscriber-0", webhook_id=webhook_id, timestamp=None, signature=None, host=None,
                           body=body, verified=True, error=None, answered=200, received_at=received_at)


def test_effects_that_happened_once_pass_the_check_and_give_latencies() -> None:
    users, payments, subscribers, effects = _world()
    found, _ = check_exactly_once(users=users, payments=payments, subscribers=subscribers, effects=effects)
    assert found.ok, found.as_dict()
    latencies = measure_latencies(users=users, payments=payments, effects=effects)
    assert [round(x, 3) for x in latencies.signup_to_charge] == [0.2]
    assert [round(x, 3) for x in latencies.signup_to_welcome_email] == [0.4]
    assert [round(x, 3) for x in latencies.payment_to_webhook] == [0.4]
    assert latencies.last_effect_at == 1000.9


def test_a_second_charge_an_extra_email_and_a_second_webhook_id_fail_the_check() -> None:
    users, payments, subscribers, effects = _world()
    effects.intents.append({"id": "pi_again", "status": "succeeded", "metadata": {"seawall_payment_id": "pay_1"}})
    effects.mail["data"].append({"message_id": "<other@seawall.invalid>", "rcpt_tos": [users[0].email],
                                 "received_at": datetime.fromtimestamp(1001, UTC).isoformat()})
    effects.receiver.state.deliveries.append(_delivery("msg_2", "pay_9", received_at=1001.0))
    found, _ = check_exactly_once(users=users, payments=payments, subscribers=subscribers, effects=effects)
    assert not found.ok
    assert found.charged_twice == ["pay_1"]
    assert found.emails_missing_or_extra and found.webhooks_duplicated == ["payment.succeeded pay_9"]


def test_a_lost_welcome_and_a_lost_webhook_fail_the_check() -> None:
    users, payments, subscribers, effects = _world()
    effects.mail["data"] = [m for m in effects.mail["data"] if m["message_id"] != "<ntf_w@seawall.invalid>"]
    effects.receiver.state.deliveries.clear()
    found, _ = check_exactly_once(users=users, payments=payments, subscribers=subscribers, effects=effects)
    assert not found.ok
    assert found.emails_missing_or_extra and found.webhooks_missing == ["payment.succeeded pay_9"]
