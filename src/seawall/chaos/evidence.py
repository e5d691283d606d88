"""Gather a chaos run's `History` once the system is quiet: the clients' 2xx answers (`Traffic`),
the run's database, the sandbox's records over its HTTP steering API, and the webhook receiver.

Also `wait_until_quiet`: poll the jobs table until no job is queued or running (periodic jobs of
the `maintenance` queue aside), bounded in time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select

from seawall.chaos.invariants import (
    IDLE_QUEUES,
    SETTLED,
    History,
    JobRecord,
    NotificationRecord,
    PaymentRecord,
    ProviderCharge,
    ProviderRefund,
    RefundRecord,
)
from seawall.chaos.workload import Traffic, payments_by_subscriber
from seawall.cli.demo.subscribers import webhook_findings
from seawall.db import Database
from seawall.jobs.models import Job, JobAttempt
from seawall.notifications.models import Notification
from seawall.payments.ledger import check_ledger
from seawall.payments.models import Payment, Refund

if TYPE_CHECKING:
    from seawall.sandbox.webhook_receiver import WebhookReceiverServer


async def pending_jobs(database: Database) -> int:
    """Jobs queued or running, outside the periodic queues."""
    async with database.read_transaction() as session:
        count = await session.scalar(select(func.count()).select_from(Job).where(
            Job.status.in_(("queued", "running")), Job.queue.not_in(IDLE_QUEUES)))
    return int(count or 0)


async def wait_until_quiet(database: Database, *, timeout: float, on_poll: Any = None) -> bool:
    """True once no job is pending (twice in a row, half a second apart); False past `timeout` s.
    `on_poll()` (e.g. restart a process that died) is awaited before each look."""
    deadline = time.monotonic() + timeout
    quiet_once = False
    while time.monotonic() < deadline:
        if on_poll is not None:
            await on_poll()
        try:
            pending = await pending_jobs(database)
        except Exception:  # a server still coming back after a restart: look again
            pending = -1
        if pending == 0:
            if quiet_once:
                return True
            quiet_once = True
        else:
            quiet_once = False
        await asyncio.sleep(0.5)
    return False


async def job_figures(database: Database) -> dict[str, dict[str, int]]:
    async with database.read_transaction() as session:
        jobs = dict((await session.execute(select(Job.status, func.count()).group_by(Job.status))).all())
        attempts = dict((await session.execute(
            select(JobAttempt.outcome, func.count()).group_by(JobAttempt.outcome))).all())
    return {"jobs_by_status": {str(k): int(v) for k, v in jobs.items()},
            "attempts_by_outcome": {str(k): int(v) for k, v in attempts.items()}}


async def _database_part(database: Database, history: History) -> None:
    async with database.read_transaction() as session:
        for p in (await session.execute(select(Payment))).scalars():
            history.payments[p.id] = PaymentRecord(id=p.id, user_id=p.user_id, amount=p.amount, status=p.status,
                                                   amount_refunded=p.amount_refunded)
        for r in (await session.execute(select(Refund))).scalars():
            history.refunds[r.id] = RefundRecord(id=r.id, payment_id=r.payment_id, amount=r.amount, status=r.status)
        for j in (await session.execute(select(Job).where(Job.status != "succeeded"))).scalars():
            history.jobs.append(JobRecord(id=j.id, kind=j.kind, queue=j.queue, status=j.status,
                                          payload=dict(j.payload or {}), last_error=j.last_error))
        for n in (await session.execute(select(Notification))).scalars():
            history.notifications.append(NotificationRecord(id=n.id, event_key=n.event_key, channel=n.channel,
                                                            status=n.status))
        history.ledger_problems = list((await check_ledger(session)).problems)


async def _sandbox_part(sandbox_url: str, history: History) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30.0) as provider:
        intents = (await provider.get("/_sandbox/payments/intents")).json()["data"]
        refunds = (await provider.get("/_sandbox/payments/refunds")).json()["data"]
        mail = (await provider.get("/_sandbox/smtp/messages")).json()
        stats = (await provider.get("/_sandbox/stats")).json()
    history.charges = [ProviderCharge(intent_id=i["id"], amount=int(i["amount"]), status=i["status"],
                                      payment_id=(i.get("metadata") or {}).get("seawall_payment_id", ""))
                       for i in intents]
    history.provider_refunds = [ProviderRefund(intent_id=r["payment_intent"], amount=int(r["amount"]),
                                               status=r["status"]) for r in refunds]
    history.mail_deliveries = Counter({str(k): int(v) for k, v in mail.get("deliveries_by_message_id", {}).items()})
    return {"provider_outcomes": stats.get("outcomes", {}), "emails_accepted": len(mail.get("data", []))}


async def gather_history(database: Database, *, traffic: Traffic, sandbox_url: str,
                         receiver: WebhookReceiverServer) -> tuple[History, dict[str, Any]]:
    """The run's history, and figures seen on the way (provider outcomes, emails accepted)."""
    history = History(signup_user_ids={u.user_id for u in traffic.accepted_signups if u.plan and u.user_id},
                      payment_ids=traffic.payment_ids, refund_ids=set(traffic.refund_ids),
                      resets=traffic.resets_accepted)
    await _database_part(database, history)
    figures = await _sandbox_part(sandbox_url, history)
    # Webhooks are expected for settled payments only: a payment in the dead-letter queue has none yet.
    statuses = {pid: p.status for pid, p in history.payments.items() if p.status in SETTLED}
    by_subscriber = {name: [p for p in payments if p["status"] != "missing"]
                     for name, payments in payments_by_subscriber(traffic, statuses).items()}
    history.webhooks = webhook_findings(receiver, traffic.subscribers, by_subscriber)
    return history, figures
