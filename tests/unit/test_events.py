"""The domain-event bus: subscribers run in order, in the publisher's transaction, and a failing
subscriber's exception reaches the publisher (nothing is logged and skipped). The list of
subscriptions is pinned here, so a new or lost subscription is a visible change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from seawall.events import DomainEvent, EventBus, subscriptions
from seawall.kit.clock import FakeClock

SESSION: Any = object()  # the bus hands the session through untouched
CLOCK = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, slots=True, kw_only=True)
class Happened(DomainEvent):
    what: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HappenedTwice(Happened):
    pass


async def test_subscribers_run_in_registration_order_base_class_subscribers_first() -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []

    @bus.subscriber(HappenedTwice)
    async def second(session: Any, event: HappenedTwice, *, clock: FakeClock) -> None:
        seen.append(("second", event.what))

    @bus.subscriber(Happened)
    async def first(session: Any, event: Happened, *, clock: FakeClock) -> None:
        assert session is SESSION and clock is CLOCK
        seen.append(("first", event.what))

    await bus.publish(SESSION, HappenedTwice(what="x"), clock=CLOCK)
    await bus.publish(SESSION, Happened(what="y"), clock=CLOCK)

    assert seen == [("first", "x"), ("second", "x"), ("first", "y")]


async def test_a_failing_subscriber_stops_the_publish_and_its_error_reaches_the_publisher() -> None:
    bus = EventBus()
    after: list[str] = []

    @bus.subscriber(Happened)
    async def fails(session: Any, event: Happened, *, clock: FakeClock) -> None:
        raise LookupError("no such row")

    @bus.subscriber(Happened)
    async def later(session: Any, event: Happened, *, clock: FakeClock) -> None:
        after.append(event.what)

    with pytest.raises(LookupError, match="no such row"):
        await bus.publish(SESSION, Happened(what="x"), clock=CLOCK)
    assert after == []


async def test_registering_twice_subscribes_once_and_unsubscribe_removes() -> None:
    bus = EventBus()
    calls: list[str] = []

    async def handler(session: Any, event: Happened, *, clock: FakeClock) -> None:
        calls.append(event.what)

    bus.subscriber(Happened)(handler)
    bus.subscriber(Happened)(handler)
    await bus.publish(SESSION, Happened(what="once"), clock=CLOCK)
    bus.unsubscribe(Happened, handler)
    await bus.publish(SESSION, Happened(what="never"), clock=CLOCK)

    assert calls == ["once"]


def test_events_are_immutable_values() -> None:
    event = Happened(what="x")
    with pytest.raises(AttributeError):
        event.what = "y"  # type: ignore[misc]
    assert event == Happened(what="x")


def test_the_subscriptions_are_these() -> None:
    """Discovered from every `seawall.<package>.subscribers` module, in the order they run."""
    assert subscriptions() == {
        "accounts.events.PasswordResetIssued": ["notifications.subscribers.send_reset_link"],
        "accounts.events.UserActivated": ["notifications.subscribers.welcome"],
        "payments.events.PaymentFailed": [
            "accounts.subscribers.hold_unpaid_account",
            "notifications.subscribers.send_failure_notice",
            "webhooks.subscribers.payment_failed",
        ],
        "payments.events.PaymentSucceeded": [
            "accounts.subscribers.activate_paid_account",
            "notifications.subscribers.send_receipt",
            "webhooks.subscribers.payment_succeeded",
        ],
        "payments.events.RefundIssued": [
            "notifications.subscribers.send_refund_receipt",
            "webhooks.subscribers.refund_created",
        ],
    }
