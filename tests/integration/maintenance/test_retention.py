"""Retention (issue 14, Deliver 4): what has outlived its retention is purged, in bounded batches;
what is still needed — a job in flight, a dead-lettered job, anything changed within the idempotency
window (an idempotency record written with it may still be replayed), a pending notification or
delivery, a live session — is not. On the embedded SQLite file and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from seawall.accounts.models import AuthSession
from seawall.jobs.models import Job, JobAttempt
from seawall.maintenance.retention import RetentionPolicy, purge_expired
from seawall.notifications.models import Notification
from seawall.runtime import Runtime
from seawall.webhooks.models import WebhookDelivery, WebhookEvent
from tests.integration.maintenance.rows import (
    add_delivery,
    add_endpoint,
    add_idempotency_record,
    add_job,
    add_notification,
    add_session,
    add_user,
    count,
    days,
    ids_of,
)

pytestmark = pytest.mark.backends("sqlite", "postgres")

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"retention_jobs_days": 7.0, "retention_sessions_days": 7.0, "retention_notifications_days": 30.0,
            "retention_webhook_deliveries_days": 30.0, "idempotency_ttl_hours": 24.0,
            "session_idle_minutes": 60.0 * 24}


def policy(runtime: Runtime, **changes: Any) -> RetentionPolicy:
    return RetentionPolicy.from_settings(runtime.settings.model_copy(update=changes))


async def test_a_succeeded_job_past_retention_goes_with_its_attempts_and_jobs_still_needed_stay(
        runtime: Runtime) -> None:
    db = runtime.database
    old = await add_job(db, status="succeeded", created=NOW - days(9), finished=NOW - days(8), attempts=2)
    recent = await add_job(db, status="succeeded", created=NOW - days(3), finished=NOW - days(2))
    scheduled = await add_job(db, status="queued", created=NOW - days(60), attempts=3)  # a retry, waiting
    running = await add_job(db, status="running", created=NOW - days(60))
    dead = await add_job(db, status="dead", created=NOW - days(400), finished=NOW - days(399), attempts=5)

    report = await purge_expired(db, policy(runtime), now=NOW)

    assert old not in await ids_of(db, Job)
    assert await ids_of(db, Job) == {recent, scheduled, running, dead}
    assert report.purged["jobs"] == 1 and report.purged["job_attempts"] == 2 and report.complete
    async with db.read_transaction() as session:
        attempts_left = set((await session.execute(select(JobAttempt.job_id))).scalars().all())
    assert attempts_left == {recent, scheduled, running, dead}, "attempts go with their job, and only then"


async def test_dead_jobs_are_purged_only_once_their_own_retention_is_set(runtime: Runtime) -> None:
    db = runtime.database
    dead = await add_job(db, status="dead", created=NOW - days(40), finished=NOW - days(31), attempts=5)
    newer_dead = await add_job(db, status="dead", created=NOW - days(10), finished=NOW - days(10))

    await purge_expired(db, policy(runtime), now=NOW)
    assert await ids_of(db, Job) == {dead, newer_dead}, "the dead-letter queue is kept by default"

    report = await purge_expired(db, policy(runtime, retention_dead_jobs_days=30.0), now=NOW)
    assert await ids_of(db, Job) == {newer_dead}
    assert report.purged["dead_jobs"] == 1 and report.purged["job_attempts"] == 5


async def test_a_job_an_idempotency_record_may_still_name_is_kept_until_the_record_expires(
        runtime: Runtime) -> None:
    """With keys kept 10 days, a request replayed on day 9 answers from its record: the job written in
    the same transaction as that record (and finished long past the 7-day job retention) is kept until
    the record has expired."""
    db = runtime.database
    ttl = days(10)
    written = NOW - days(9)
    await add_idempotency_record(db, created=written, ttl=ttl)
    job = await add_job(db, status="succeeded", created=written, finished=written + days(0.01))
    kept_ten_days = policy(runtime, idempotency_ttl_hours=24.0 * 10)

    await purge_expired(db, kept_ten_days, now=NOW)
    assert job in await ids_of(db, Job)

    await purge_expired(db, kept_ten_days, now=written + ttl + days(0.1))
    assert job not in await ids_of(db, Job)


async def test_ended_sessions_are_purged_and_live_ones_are_not(runtime: Runtime) -> None:
    db = runtime.database
    user = await add_user(db, now=NOW - days(100))
    expired = await add_session(db, user_id=user, created=NOW - days(30), expires=NOW - days(8))
    revoked = await add_session(db, user_id=user, created=NOW - days(9), expires=NOW + days(5),
                                revoked=NOW - days(8))
    idle = await add_session(db, user_id=user, created=NOW - days(10), expires=NOW + days(4),
                             last_used=NOW - days(9))  # idle 1 day: ended 8 days ago
    just_expired = await add_session(db, user_id=user, created=NOW - days(15), expires=NOW - days(1),
                                     last_used=NOW - days(1.5))  # ended a day ago: kept a week
    live = await add_session(db, user_id=user, created=NOW - days(1), expires=NOW + days(13),
                             last_used=NOW - days(0.1))

    report = await purge_expired(db, policy(runtime), now=NOW)

    assert await ids_of(db, AuthSession) == {just_expired, live}
    assert {expired, revoked, idle}.isdisjoint(await ids_of(db, AuthSession))
    assert report.purged["sessions"] == 3


async def test_old_notifications_and_deliveries_are_purged_and_pending_or_recent_ones_are_not(
        runtime: Runtime) -> None:
    db = runtime.database
    user = await add_user(db, now=NOW - days(100))
    old_sent = await add_notification(db, user_id=user, status="sent", created=NOW - days(31))
    old_failed = await add_notification(db, user_id=user, status="failed", created=NOW - days(31))
    old_pending = await add_notification(db, user_id=user, status="pending", created=NOW - days(31))
    new_sent = await add_notification(db, user_id=user, status="sent", created=NOW - days(2))
    endpoint = await add_endpoint(db, user_id=user, now=NOW - days(100))
    old_event, old_delivery = await add_delivery(db, user_id=user, endpoint_id=endpoint, status="succeeded",
                                                 created=NOW - days(31))
    pending_event, pending_delivery = await add_delivery(db, user_id=user, endpoint_id=endpoint, status="pending",
                                                         created=NOW - days(31))
    # Created long ago, but replayed (and failed again) yesterday: its last attempt counts.
    replayed_event, replayed = await add_delivery(db, user_id=user, endpoint_id=endpoint, status="failed",
                                                  created=NOW - days(60), last_attempt=NOW - days(1))

    report = await purge_expired(db, policy(runtime), now=NOW)

    assert await ids_of(db, Notification) == {old_pending, new_sent}
    assert {old_sent, old_failed}.isdisjoint(await ids_of(db, Notification))
    assert await ids_of(db, WebhookDelivery) == {pending_delivery, replayed}
    assert await ids_of(db, WebhookEvent) == {pending_event, replayed_event}, (
        "an event goes once no delivery is left that points at it")
    assert old_delivery not in await ids_of(db, WebhookDelivery) and old_event not in await ids_of(db, WebhookEvent)
    assert (report.purged["notifications"], report.purged["webhook_deliveries"],
            report.purged["webhook_events"]) == (2, 1, 1)


async def test_each_run_is_bounded_and_leaves_the_rest_for_the_next(runtime: Runtime) -> None:
    db = runtime.database
    for _ in range(12):
        await add_job(db, status="succeeded", created=NOW - days(20), finished=NOW - days(10), attempts=1)
    bounded = policy(runtime, retention_batch_size=3, retention_max_rows_per_run=5)

    first = await purge_expired(db, bounded, now=NOW)
    assert (first.purged["jobs"], first.complete, first.unfinished) == (5, False, ["jobs"])
    assert await count(db, Job) == 7
    second = await purge_expired(db, bounded, now=NOW)
    assert (second.purged["jobs"], second.complete) == (5, False)
    third = await purge_expired(db, bounded, now=NOW)
    assert (third.purged["jobs"], third.complete) == (2, True)
    assert await count(db, Job) == 0 and await count(db, JobAttempt) == 0
    assert first.batches >= 2, "5 rows in batches of 3: two transactions for the jobs"
