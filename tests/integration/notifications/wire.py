"""What the notifications tests send and read: users over HTTP, notification and job rows, and
message ids as the SMTP sink sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from seawall.jobs import Job, JobAttempt
from seawall.notifications.channels.email import MESSAGE_ID_DOMAIN
from seawall.notifications.models import Notification
from seawall.notifications.service import SEND_JOB
from seawall.runtime import Runtime
from tests.integration.accounts.wire import bearer, new_email, new_key, sign_up, token_for

PHONE = "+15551234567"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    headers: dict[str, str]


async def new_user(client: httpx.AsyncClient, email: str | None = None) -> User:
    """A free sign-up (active at once, welcome notified), logged in."""
    address = email or new_email("notified")
    response = await sign_up(client, address)
    assert response.status_code == 201, response.text
    headers = bearer(await token_for(client, address))
    me = await client.get("/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    return User(id=me.json()["id"], email=address, headers=headers)


async def put_preferences(client: httpx.AsyncClient, user: User, channels: list[str],
                          phone_number: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"channels": channels}
    if phone_number is not None:
        body["phone_number"] = phone_number
    return await client.put("/v1/me/notification-preferences", json=body, headers=user.headers)


async def pay(client: httpx.AsyncClient, user: User, *, amount: int = 2000) -> str:
    """POST a payment (the fake Stripe's always-succeeding card); its id. Run the jobs to settle it."""
    response = await client.post(
        "/v1/payments", json={"amount": amount, "currency": "usd", "payment_method": "pm_card_visa"},
        headers={**user.headers, "Idempotency-Key": new_key()})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def message_id_of(notification_id: str) -> str:
    return f"<{notification_id}@{MESSAGE_ID_DOMAIN}>"


async def notifications_of(runtime: Runtime, user_id: str, *, event_type: str | None = None,
                           channel: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id).order_by(Notification.created_at,
                                                                                   Notification.id)
    if event_type is not None:
        query = query.where(Notification.event_type == event_type)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    async with runtime.database.transaction() as session:
        return list((await session.execute(query)).scalars().all())


async def the_notification(runtime: Runtime, user_id: str, *, event_type: str, channel: str) -> Notification:
    found = await notifications_of(runtime, user_id, event_type=event_type, channel=channel)
    assert len(found) == 1, found
    return found[0]


async def send_jobs(runtime: Runtime, notification_ids: list[str] | None = None) -> list[Job]:
    """The `notifications.send` jobs (of these notifications), oldest first."""
    async with runtime.database.transaction() as session:
        rows = (await session.execute(select(Job).where(Job.kind == SEND_JOB).order_by(Job.id))).scalars().all()
    return [job for job in rows if notification_ids is None or job.payload["notification_id"] in notification_ids]


async def send_job(runtime: Runtime, notification_id: str) -> Job:
    (job,) = await send_jobs(runtime, [notification_id])
    return job


async def attempt_outcomes(runtime: Runtime, job_id: int) -> list[str]:
    async with runtime.database.transaction() as session:
        query = select(JobAttempt.outcome).where(JobAttempt.job_id == job_id).order_by(JobAttempt.id)
        return [str(outcome) for outcome in (await session.execute(query)).scalars().all()]
