"""The send rules of `notifications.send`, judged by their public effects: the notification's status,
attempts and last error, what the channel was asked to deliver, and the job error the handler raised.

Sent → `sent` with the provider's message id; a permanent refusal → `failed`, no retry; a transient
error → recorded on the notification and retried; a channel that cannot reach the user → `failed`
without a send; a call the channel's breaker or bulkhead refused → deferred, no attempt counted.

Each test runs the handler alone (`handlers` fixture: an in-memory SQLite database, no file and no
server) with a `ScriptedChannel` as the `email` channel. The notification is the welcome email a free
sign-up records, created through the accounts service as the API creates it.
"""

from __future__ import annotations

import itertools

from sqlalchemy import select

from seawall.accounts import service as accounts
from seawall.jobs import DeferJobError, RetryableJobError
from seawall.notifications.models import Notification
from seawall.providers.errors import ProviderRejectedError, ProviderUnavailableError
from seawall.resilience import CircuitOpenError
from tests.support.fakes import PlainPasswords
from tests.support.handlers import HandlerHarness

SEND = "notifications.send"
_emails = itertools.count(1)


async def welcome_notification(handlers: HandlerHarness) -> tuple[str, str]:
    """Sign a user up (free plan): (the pending welcome notification's id, the user's email)."""
    email = f"reader{next(_emails)}@example.com"
    async with handlers.database.transaction() as session:
        signed = await accounts.sign_up(session, passwords=PlainPasswords(),  # type: ignore[arg-type]
                                        clock=handlers.clock, email=email, password="correct horse battery staple")
        user_id = signed.user.id
    async with handlers.database.read_transaction() as session:
        found = (await session.execute(select(Notification).where(Notification.user_id == user_id))).scalars().all()
    [notification] = found
    assert (notification.channel, notification.status) == ("email", "pending")
    return notification.id, email


async def load(handlers: HandlerHarness, notification_id: str) -> Notification:
    async with handlers.database.read_transaction() as session:
        notification = await session.get(Notification, notification_id)
    assert notification is not None
    return notification


async def test_a_delivered_notification_is_sent_under_its_own_id(handlers: HandlerHarness) -> None:
    notification_id, email = await welcome_notification(handlers)
    handlers.channel.script("send", "provider-msg-1")

    assert await handlers.run(SEND, {"notification_id": notification_id}) is None

    notification = await load(handlers, notification_id)
    assert (notification.status, notification.provider_message_id, notification.attempts) == (
        "sent", "provider-msg-1", 1)
    assert notification.sent_at is not None and notification.last_error is None
    [sent] = handlers.channel.sent
    assert sent["message_id"] == notification_id
    assert sent["recipient"].email == email


async def test_a_permanent_refusal_fails_the_notification_without_a_retry(handlers: HandlerHarness) -> None:
    notification_id, _ = await welcome_notification(handlers)
    handlers.channel.script("send", ProviderRejectedError("550 mailbox unavailable", provider="smtp"))

    assert await handlers.run(SEND, {"notification_id": notification_id}) is None

    notification = await load(handlers, notification_id)
    assert (notification.status, notification.attempts) == ("failed", 1)
    assert "550 mailbox unavailable" in (notification.last_error or "")


async def test_a_transient_error_is_recorded_and_retried_then_sent(handlers: HandlerHarness) -> None:
    notification_id, _ = await welcome_notification(handlers)
    handlers.channel.script("send", ProviderUnavailableError("421 try again later", provider="smtp",
                                                             outcome="unknown", retry_after=30.0), "provider-msg-2")

    error = await handlers.run(SEND, {"notification_id": notification_id})

    assert type(error) is RetryableJobError and error.retry_after == 30.0
    notification = await load(handlers, notification_id)
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert "421 try again later" in (notification.last_error or "")

    assert await handlers.run(SEND, {"notification_id": notification_id}, attempt=2) is None

    notification = await load(handlers, notification_id)
    assert (notification.status, notification.attempts, notification.provider_message_id) == (
        "sent", 2, "provider-msg-2")
    assert [sent["message_id"] for sent in handlers.channel.sent] == [notification_id, notification_id]


async def test_a_timeout_is_retried(handlers: HandlerHarness) -> None:
    notification_id, _ = await welcome_notification(handlers)
    handlers.channel.script("send", TimeoutError())

    error = await handlers.run(SEND, {"notification_id": notification_id})

    assert type(error) is RetryableJobError
    notification = await load(handlers, notification_id)
    assert (notification.status, notification.attempts, notification.last_error) == ("pending", 1, "timed out")


async def test_a_channel_that_cannot_reach_the_user_fails_the_notification_without_sending(
        handlers: HandlerHarness) -> None:
    notification_id, _ = await welcome_notification(handlers)
    handlers.channel.reachable = False

    assert await handlers.run(SEND, {"notification_id": notification_id}) is None

    notification = await load(handlers, notification_id)
    assert notification.status == "failed" and "cannot reach" in (notification.last_error or "")
    assert handlers.channel.sent == []


async def test_a_call_refused_before_sending_is_deferred_without_counting_an_attempt(
        handlers: HandlerHarness) -> None:
    notification_id, _ = await welcome_notification(handlers)
    handlers.channel.script("send", CircuitOpenError("email: circuit open", retry_after=5.0))

    error = await handlers.run(SEND, {"notification_id": notification_id})

    assert isinstance(error, DeferJobError) and error.retry_after == 5.0
    notification = await load(handlers, notification_id)
    assert (notification.status, notification.attempts) == ("pending", 0)


async def test_a_notification_no_longer_pending_is_not_sent_again(handlers: HandlerHarness) -> None:
    notification_id, _ = await welcome_notification(handlers)
    assert await handlers.run(SEND, {"notification_id": notification_id}) is None

    assert await handlers.run(SEND, {"notification_id": notification_id}, attempt=2) is None

    assert len(handlers.channel.sent) == 1
    assert (await load(handlers, notification_id)).status == "sent"
