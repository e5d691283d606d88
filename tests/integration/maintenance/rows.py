"""Rows written straight into the tables, at chosen instants, for the retention tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from seawall.accounts.models import AuthSession, User
from seawall.db import Database
from seawall.idempotency.models import IdempotencyRecord
from seawall.jobs.models import Job, JobAttempt
from seawall.notifications.models import Notification
from seawall.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

_ids = itertools.count(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


async def add_user(database: Database, *, now: datetime) -> str:
    user_id = f"usr_{next(_ids)}"
    async with database.transaction() as session:
        session.add(User(id=user_id, email=f"{user_id}@example.com", password_hash="x", status="active",
                         created_at=now, updated_at=now))
    return user_id


async def add_job(database: Database, *, status: str, created: datetime, finished: datetime | None = None,
                  attempts: int = 1, dedup_key: str | None = None) -> int:
    async with database.transaction() as session:
        job = Job(kind="effects.record", queue="default", payload={}, status=status, dedup_key=dedup_key,
                  attempts=attempts, max_attempts=5, next_run_at=created, created_at=created,
                  updated_at=finished or created, finished_at=finished)
        session.add(job)
        await session.flush()
        for number in range(1, attempts + 1):
            session.add(JobAttempt(job_id=job.id, attempt=number, worker_id="w", lease_token=f"t{number}",
                                   outcome="retry" if number < attempts else status, started_at=created,
                                   finished_at=finished))
        return job.id


async def add_idempotency_record(database: Database, *, created: datetime, ttl: timedelta) -> None:
    async with database.transaction() as session:
        session.add(IdempotencyRecord(scope="usr_x", key=f"key-{next(_ids)}", fingerprint="f" * 64,
                                      status="completed", response_status=202, response_body={},
                                      created_at=created, expires_at=created + ttl))


async def add_session(database: Database, *, user_id: str, created: datetime, expires: datetime,
                      revoked: datetime | None = None, last_used: datetime | None = None) -> str:
    session_id = f"ses_{next(_ids)}"
    async with database.transaction() as session:
        session.add(AuthSession(id=session_id, user_id=user_id, token_digest=f"{session_id:0>64}", created_at=created,
                                expires_at=expires, revoked_at=revoked, last_used_at=last_used or created))
    return session_id


async def add_notification(database: Database, *, user_id: str, status: str, created: datetime) -> str:
    notification_id = f"ntf_{next(_ids)}"
    async with database.transaction() as session:
        session.add(Notification(id=notification_id, user_id=user_id, event_type="welcome",
                                 event_key=f"welcome:{notification_id}", channel="email", payload={}, status=status,
                                 attempts=1, created_at=created, sent_at=created if status == "sent" else None))
    return notification_id


async def add_endpoint(database: Database, *, user_id: str, now: datetime) -> str:
    endpoint_id = f"we_{next(_ids)}"
    async with database.transaction() as session:
        session.add(WebhookEndpoint(id=endpoint_id, user_id=user_id, url="https://example.com/hook",
                                    event_types=["*"], secret="whsec_x", status="active", created_at=now,
                                    updated_at=now))
    return endpoint_id


async def add_delivery(database: Database, *, user_id: str, endpoint_id: str, status: str, created: datetime,
                       last_attempt: datetime | None = None) -> tuple[str, str]:
    """An event and its one delivery; returns (event id, delivery id)."""
    event_id, delivery_id = f"evt_{next(_ids)}", f"msg_{next(_ids)}"
    async with database.transaction() as session:
        session.add(WebhookEvent(id=event_id, user_id=user_id, type="payment.succeeded", payload={},
                                 created_at=created))
        await session.flush()
        session.add(WebhookDelivery(
            id=delivery_id, event_id=event_id, endpoint_id=endpoint_id, status=status, attempts=1,
            schedule_start=0, created_at=created, last_attempt_at=last_attempt or created,
            delivered_at=(last_attempt or created) if status == "succeeded" else None))
    return event_id, delivery_id


async def ids_of(database: Database, entity: type[Any]) -> set[Any]:
    async with database.read_transaction() as session:
        return set((await session.execute(select(entity.id))).scalars().all())


async def count(database: Database, entity: type[Any]) -> int:
    async with database.read_transaction() as session:
        return int((await session.execute(select(func.count()).select_from(entity))).scalar_one())
