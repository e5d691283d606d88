"""A whole Seawall in one event loop for the promise state machine, and the promises checked against
the providers' own records (the sandbox's intents and refunds, the SMTP sink's Message-IDs, the
webhook receiver's verified deliveries), not against our tables alone.

`World.open()` starts the sandbox (fake Stripe + SMTP sink), a webhook receiver, the API in process
on a fake clock and a worker runtime beside it (as another process would be), on a fresh SQLite
file or PostgreSQL database. Time moves only when `settle` (or a rule) advances the clock: only as
far as the next due job or expired lease, so webhook timestamps stay within the receiver's tolerance.

Promises (DESIGN §1; `docs/guarantees.md`):
- at every step: no payment has two intents at the provider (never charged twice); refunds never
  exceed what was captured, at the provider and in our records; the ledger balances (`check_ledger`);
- once quiet (`settle`): no job is queued or running; every accepted payment and refund is settled
  and agrees with the provider, or its job is dead-lettered with its error; every notification due
  (receipt, failure notice, refund receipt, a paying user's welcome, a reset link) exists and reached
  the sink by its Message-ID (or was refused by the channel, or its job is dead with its error); every
  webhook event has a delivery per subscribed endpoint, each verified and answered 2xx at the receiver.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from seawall.app import create_app
from seawall.config import Settings, WebhookSettings
from seawall.jobs import Job, load_job_modules
from seawall.jobs.models import JobStatus
from seawall.jobs.worker import Worker
from seawall.kit.clock import FakeClock
from seawall.notifications.channels.email import MESSAGE_ID_DOMAIN
from seawall.notifications.models import Notification, NotificationStatus
from seawall.payments.ledger import check_ledger
from seawall.payments.models import Payment, Refund
from seawall.payments.state import CAPTURED_STATUSES, RefundStatus
from seawall.runtime import Runtime
from seawall.sandbox import SandboxServer
from seawall.sandbox.webhook_receiver import WebhookReceiverServer
from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from seawall.webhooks.state import DeliveryStatus, EndpointStatus
from tests.conftest import ADMIN_KEY, SECRET_KEY
from tests.integration.payments.conftest import PAYMENT_SETTINGS
from tests.support.apps import asgi_client

SETTLE_ROUNDS = 200  # worker rounds `settle` may take before the system must be quiet
SETTLE_REAL_SECONDS = 60.0  # ... and real seconds (a breaker open in real time needs a little)
WEBHOOK_SCHEDULE_SCALE = 0.0005  # the ~75.6 h retry schedule in ~136 s of fake time


def world_settings(*, var_dir: Path, database_url: str | None, sandbox: SandboxServer) -> Settings:
    """The test suite's settings (tests/conftest.py), the payments tests' provider tuning, the SMTP
    sink and loopback webhooks; rate limits out of the way (one client makes every request)."""
    assert sandbox.smtp is not None
    load_job_modules(["tests.support.effects"])
    return Settings(
        var_dir=var_dir, database_url=database_url, secret_key=SECRET_KEY if database_url else None,
        admin_api_key=ADMIN_KEY, job_lease_seconds=3.0, job_poll_interval_seconds=0.05,
        job_backoff_base_seconds=0.05, job_backoff_cap_seconds=0.2,
        log_level="WARNING",
    ).model_copy(update={
        **PAYMENT_SETTINGS, "stripe_api_base": sandbox.base_url, "sms_api_base": sandbox.base_url,
        "smtp_host": "127.0.0.1", "smtp_port": sandbox.smtp.port, "smtp_security": "none",
        "webhooks": WebhookSettings(allow_private=True, schedule_scale=WEBHOOK_SCHEDULE_SCALE, schedule_jitter=0.0),
        "rate_limit_scale": 1000.0,
        # Password hashing is not what this proves: far below the production floor (no validation here).
        "argon2_time_cost": 1, "argon2_memory_kib": 256,
    })


@dataclass
class World:
    settings: Settings
    clock: FakeClock
    sandbox: SandboxServer
    receiver: WebhookReceiverServer
    client: httpx.AsyncClient
    runtime: Runtime  # the workers' (another process's) runtime
    stack: AsyncExitStack
    worker_rounds: int = 0
    settle_rounds: int = 0

    @classmethod
    async def open(cls, *, var_dir: Path, database_url: str | None, migrated: bool = False) -> World:
        """`migrated`: the database is already a copy of a migrated template."""
        stack = AsyncExitStack()
        try:
            sandbox = await stack.enter_async_context(SandboxServer(smtp_port=0))
            receiver = await stack.enter_async_context(WebhookReceiverServer())
            settings = world_settings(var_dir=var_dir, database_url=database_url, sandbox=sandbox)
            clock = FakeClock(datetime.now(UTC))
            runtime = Runtime.build(settings)
            stack.push_async_callback(runtime.aclose)
            if not migrated:
                await runtime.database.migrate()
            app = create_app(settings, run_worker=False, clock=clock)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(asgi_client(app))
        except BaseException:
            await stack.aclose()
            raise
        return cls(settings=settings, clock=clock, sandbox=sandbox, receiver=receiver, client=client,
                   runtime=runtime, stack=stack)

    async def close(self) -> None:
        await self.stack.aclose()

    # -- jobs ------------------------------------------------------------------------------------
    async def run_worker(self, *, concurrency: int | None = None) -> None:
        """One worker, as a fresh process would be, runs every due job until none is due."""
        worker = Worker(database=self.runtime.database, settings=self.settings, clock=self.clock,
                        runtime=self.runtime, concurrency=concurrency)
        await worker.run_until_idle()
        self.worker_rounds += 1

    async def unfinished_jobs(self) -> list[Job]:
        async with self.runtime.database.transaction() as session:
            query = select(Job).where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            return list((await session.execute(query)).scalars().all())

    async def settle(self) -> None:
        """Run workers until no job is queued or running, moving the clock only as far as the next
        due job or expired lease (a crashed worker's job is taken over once its lease expires)."""
        started = asyncio.get_running_loop().time()
        for _ in range(SETTLE_ROUNDS):
            await self.run_worker()
            self.settle_rounds += 1
            unfinished = await self.unfinished_jobs()
            if not unfinished:
                return
            due = min(job.lease_expires_at if job.status == JobStatus.RUNNING and job.lease_expires_at
                      else job.next_run_at for job in unfinished)
            ahead = (due - self.clock.now()).total_seconds()
            if ahead > 0:
                self.clock.advance(ahead + 0.01)
            else:
                await asyncio.sleep(0.05)  # due now but refused (e.g. a breaker open in real time)
            if asyncio.get_running_loop().time() - started > SETTLE_REAL_SECONDS:
                break
        left = await self.unfinished_jobs()
        raise AssertionError(f"not quiet after {SETTLE_ROUNDS} worker rounds: "
                             f"{[(job.id, job.kind, job.status, job.attempts) for job in left]}")


# -- promises at every step -------------------------------------------------------------------------

@dataclass
class Accepted:
    """What the API answered 2xx to: the work the system owes."""

    payments: dict[str, int] = field(default_factory=dict)  # payment id → amount
    refunds: dict[str, str] = field(default_factory=dict)  # refund id → payment id
    resets: set[str] = field(default_factory=set)  # emails a reset was requested for (existing users)
    endpoints: dict[str, str] = field(default_factory=dict)  # endpoint id → receiver name


async def _payments_and_refunds(world: World) -> tuple[list[Payment], list[Refund]]:
    async with world.runtime.database.transaction() as session:
        payments = list((await session.execute(select(Payment))).scalars().all())
        refunds = list((await session.execute(select(Refund))).scalars().all())
    return payments, refunds


async def check_always(world: World, accepted: Accepted) -> None:
    """Never charged twice; refunds never beyond captures; the ledger balances."""
    state = world.sandbox.state.payments
    for payment_id in accepted.payments:
        intents = world.sandbox.state.intents_for(payment_id)
        assert len(intents) <= 1, f"payment {payment_id} has {len(intents)} intents at the provider: {intents}"
    for intent in state.intents.values():
        assert state.refunded_amount(intent.id) <= intent.amount_received, f"refunded beyond capture: {intent}"
    payments, refunds = await _payments_and_refunds(world)
    reserved: dict[str, int] = defaultdict(int)
    for refund in refunds:
        if refund.status != RefundStatus.FAILED:
            reserved[refund.payment_id] += refund.amount
    for payment in payments:
        assert payment.amount_refunded <= payment.amount, (payment.id, payment.amount_refunded, payment.amount)
        assert reserved[payment.id] <= payment.amount, (payment.id, reserved[payment.id], payment.amount)
    async with world.runtime.database.transaction() as session:
        report = await check_ledger(session)
    assert report.ok, report.problems


# -- promises once quiet ----------------------------------------------------------------------------

async def _jobs_by_dedup_key(world: World) -> dict[str, Job]:
    async with world.runtime.database.transaction() as session:
        jobs = (await session.execute(select(Job).where(Job.dedup_key.is_not(None)))).scalars().all()
    return {str(job.dedup_key): job for job in jobs}


def _dead_with_error(job: Job | None) -> bool:
    return job is not None and job.status == JobStatus.DEAD and bool(job.last_error)


async def check_quiet(world: World, accepted: Accepted) -> dict[str, int]:
    """After `settle`: nothing lost, everything agrees with the provider, everything delivered.
    Returns counts for the report (settled, dead-lettered, delivered)."""
    await check_always(world, accepted)
    assert await world.unfinished_jobs() == []
    jobs = await _jobs_by_dedup_key(world)
    payments, refunds = await _payments_and_refunds(world)
    by_id = {payment.id: payment for payment in payments}
    state = world.sandbox.state.payments
    counts: dict[str, int] = defaultdict(int)
    for payment_id, amount in accepted.payments.items():
        payment = by_id.get(payment_id)
        assert payment is not None and payment.amount == amount, f"accepted payment {payment_id} lost"
        succeeded = [i for i in world.sandbox.state.intents_for(payment_id) if i.status == "succeeded"]
        if payment.status in CAPTURED_STATUSES:
            assert len(succeeded) == 1 and succeeded[0].id == payment.provider_intent_id, (payment_id, succeeded)
            assert state.refunded_amount(succeeded[0].id) == payment.amount_refunded, payment_id
            counts["payments_captured"] += 1
        elif payment.status == "failed":
            assert succeeded == [], f"{payment_id} failed here but was captured at the provider"
            counts[f"payments_failed_{payment.failure_code}"] += 1
        else:
            job = jobs.get(f"payments.charge:{payment_id}")
            assert _dead_with_error(job), f"payment {payment_id} is {payment.status} and its job is not dead-lettered"
            counts["payments_dead_lettered"] += 1
    refund_by_id = {refund.id: refund for refund in refunds}
    for refund_id in accepted.refunds:
        refund = refund_by_id.get(refund_id)
        assert refund is not None, f"accepted refund {refund_id} lost"
        if refund.status == RefundStatus.PENDING:
            assert _dead_with_error(jobs.get(f"payments.refund:{refund_id}")), f"refund {refund_id} stuck pending"
            counts["refunds_dead_lettered"] += 1
        else:
            counts[f"refunds_{refund.status}"] += 1
    counts.update(await _check_notifications(world, accepted, payments, refunds, jobs))
    counts.update(await _check_webhooks(world, accepted))
    return dict(counts)


async def _check_notifications(world: World, accepted: Accepted, payments: list[Payment], refunds: list[Refund],
                               jobs: dict[str, Job]) -> dict[str, int]:
    async with world.runtime.database.transaction() as session:
        notifications = list((await session.execute(select(Notification))).scalars().all())
        send_jobs = (await session.execute(select(Job).where(Job.kind == "notifications.send"))).scalars().all()
    job_of = {str(job.payload.get("notification_id")): job for job in send_jobs}
    keys = {notification.event_key for notification in notifications}
    due = {f"payment_receipt:{p.id}" for p in payments if p.id in accepted.payments and p.status in CAPTURED_STATUSES}
    due |= {f"welcome:{p.user_id}" for p in payments if p.id in accepted.payments and p.status in CAPTURED_STATUSES}
    due |= {f"payment_failed:{p.id}" for p in payments if p.id in accepted.payments and p.status == "failed"}
    due |= {f"refund_issued:{r.id}" for r in refunds if r.id in accepted.refunds and r.status == RefundStatus.SUCCEEDED}
    assert due <= keys, f"notifications never recorded: {sorted(due - keys)[:5]}"
    if accepted.resets:
        assert any(key.startswith("password_reset:") for key in keys), "no reset link recorded"
    mailbox = world.sandbox.state.mail
    delivered = 0
    for notification in notifications:
        if notification.status == NotificationStatus.SENT and notification.channel == "email":
            message_id = f"<{notification.id}@{MESSAGE_ID_DOMAIN}>"
            assert mailbox.with_message_id(message_id), f"{notification.event_key} sent but not at the sink"
            delivered += 1
        elif notification.status == NotificationStatus.PENDING:
            assert _dead_with_error(job_of.get(notification.id)), f"{notification.event_key} pending, job not dead"
    return {"notifications_delivered": delivered, "emails_redelivered": sum(mailbox.duplicates().values())}


async def _check_webhooks(world: World, accepted: Accepted) -> dict[str, int]:
    async with world.runtime.database.transaction() as session:
        endpoints = list((await session.execute(select(WebhookEndpoint))).scalars().all())
        events = list((await session.execute(select(WebhookEvent))).scalars().all())
        deliveries = list((await session.execute(select(WebhookDelivery))).scalars().all())
        count = (await session.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one()
    assert count == len(deliveries)
    delivered_pairs = {(d.event_id, d.endpoint_id) for d in deliveries}
    for event in events:
        for endpoint in endpoints:
            if (endpoint.user_id == event.user_id and event.type in endpoint.event_types
                    and endpoint.created_at < event.created_at and endpoint.status == EndpointStatus.ACTIVE):
                assert (event.id, endpoint.id) in delivered_pairs, f"event {event.id} never delivered to {endpoint.id}"
    verified = 0
    for delivery in deliveries:
        name = accepted.endpoints.get(delivery.endpoint_id)
        if name is None:
            continue
        assert delivery.status == DeliveryStatus.SUCCEEDED, (delivery.id, delivery.status, delivery.last_error)
        arrived = [d for d in world.receiver.received(delivery.id, name=name) if d.verified and d.answered // 100 == 2]
        assert arrived, f"webhook delivery {delivery.id} is delivered but never reached the receiver verified"
        verified += 1
    return {"webhooks_delivered": verified}


def describe(payload: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(payload.items()))
