"""What the inbound-Stripe-events tests send and read: the API on a loopback socket (so the sandbox's
webhook sender can reach it), signed events built by hand, and the rows they leave."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import select

from seawall.db import Database
from seawall.jobs import Job
from seawall.payments.models import ProviderEvent
from seawall.payments.provider_events import APPLY_EVENT_JOB
from seawall.sandbox import SandboxServer
from seawall.sandbox.embedded import EmbeddedHttpServer
from seawall.sandbox.smtp import SmtpSink
from seawall.sandbox.stripe_webhooks import sign
from tests.integration.payments.flow import ledger_entries

EVENTS_PATH = "/v1/providers/stripe/events"
SECRET = "whsec_test_seawall_current"
OLD_SECRET = "whsec_test_seawall_previous"


def point_sandbox_at(sandbox: SandboxServer, api_server: EmbeddedHttpServer, **options: Any) -> None:
    sandbox.set_stripe_webhooks(url=f"{api_server.base_url}{EVENTS_PATH}", secrets=[SECRET],
                                retry_interval_seconds=0.05, **options)


def stripe_event(event_type: str, resource: dict[str, Any], *, event_id: str | None = None) -> bytes:
    return json.dumps({"id": event_id or f"evt_test_{time.time_ns()}", "object": "event", "type": event_type,
                       "created": int(time.time()), "api_version": "2022-08-01", "livemode": False,
                       "data": {"object": resource}}).encode()


async def post_event(client: httpx.AsyncClient, body: bytes, *, secrets: Sequence[str] = (SECRET,),
                     timestamp: int | None = None, header: str | None = None) -> httpx.Response:
    signature = header if header is not None else sign(body, list(secrets), timestamp=timestamp or int(time.time()))
    return await client.post(EVENTS_PATH, content=body,
                             headers={"Content-Type": "application/json", "Stripe-Signature": signature})


async def stored_events(database: Database) -> list[ProviderEvent]:
    async with database.transaction() as session:
        query = select(ProviderEvent).order_by(ProviderEvent.received_at, ProviderEvent.id)
        return list((await session.execute(query)).scalars().all())


async def apply_jobs(database: Database) -> list[Job]:
    async with database.transaction() as session:
        return list((await session.execute(select(Job).where(Job.kind == APPLY_EVENT_JOB))).scalars().all())


async def outcome_of(database: Database, event_id: str) -> str | None:
    (event,) = [e for e in await stored_events(database) if e.event_id == event_id]
    return event.outcome


async def balances(database: Database, payment_id: str) -> dict[str, int]:
    """Account → debits minus credits, over the payment's ledger entries."""
    totals: dict[str, int] = defaultdict(int)
    for entry in await ledger_entries(database, payment_id):
        totals[entry.account] += entry.amount if entry.side == "debit" else -entry.amount
    return dict(totals)


def mails_with_subject(sink: SmtpSink, prefix: str) -> list[str]:
    return [m.subject for m in sink.messages if m.subject.startswith(prefix)]
