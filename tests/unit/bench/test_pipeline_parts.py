"""The pure parts of `seawall bench pipeline`: the request mix, the open loop and the HDR summaries."""

from __future__ import annotations

import asyncio

from seawall.bench.pipeline import _interleave, _open_loop
from seawall.bench.pipeline_report import WebhookPayment, latency_summary
from seawall.cli.demo.subscribers import Subscriber
from seawall.cli.demo.workload import DemoUser


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
