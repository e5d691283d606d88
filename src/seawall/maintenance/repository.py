"""The queries of retention and of the routine checks' records.

Maintenance is an operator's concern that spans domains, like `admin`: it reads and deletes other
domains' finished rows directly, by the rules written in `retention.py`, and nothing else.

A purge batch (`purge_batch`) selects up to `limit` ids of rows that match the target's condition,
oldest first, along an index (on PostgreSQL `FOR UPDATE SKIP LOCKED`: a row another transaction is
changing is left for the next batch), deletes the rows that go with them (a job's attempts), then
deletes those ids *still matching the condition* (the condition is repeated on the DELETE, so a row
changed in between — a dead job replayed — is never deleted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from seawall.accounts.models import AuthSession
from seawall.jobs.models import Job, JobAttempt, JobStatus
from seawall.legacy.models import ShadowComparison
from seawall.maintenance.models import RoutineRun
from seawall.notifications.models import Notification, NotificationStatus
from seawall.webhooks.models import WebhookDelivery, WebhookEvent
from seawall.webhooks.state import DeliveryStatus


@dataclass(frozen=True)
class PurgeTarget:
    """What one purge deletes: rows of `entity` matching `condition`, oldest (`order_by`) first, and
    with each, the rows of `children` whose column points at it (`(entity, column)` pairs)."""

    name: str  # the `table` label of the metric, and the key of the run's report
    entity: type[Any]
    condition: ColumnElement[bool]
    order_by: InstrumentedAttribute[Any]
    children: tuple[tuple[type[Any], InstrumentedAttribute[Any]], ...] = ()


def finished_jobs(*, status: JobStatus, finished_before: datetime) -> PurgeTarget:
    """Jobs in `status` (succeeded or dead) that finished before the cutoff, with their attempts.
    Along `ix_jobs_finished` (status, finished_at), partial on finished jobs."""
    return PurgeTarget(
        name="jobs" if status == JobStatus.SUCCEEDED else "dead_jobs", entity=Job,
        condition=and_(Job.status == status, Job.finished_at < finished_before),
        order_by=Job.finished_at, children=((JobAttempt, JobAttempt.job_id),))


def ended_sessions(*, ended_before: datetime, idle: timedelta) -> PurgeTarget:
    """Sessions that ended before the cutoff: past their absolute expiry, revoked, or idle since
    before `ended_before - idle`. The expiry uses `ix_auth_sessions_expires_at`; the early ends are
    found by a scan of the sessions table, which holds at most one session lifetime of logins."""
    last_used = func.coalesce(AuthSession.last_used_at, AuthSession.created_at)
    return PurgeTarget(
        name="sessions", entity=AuthSession,
        condition=or_(AuthSession.expires_at < ended_before, AuthSession.revoked_at < ended_before,
                      last_used < ended_before - idle),
        order_by=AuthSession.expires_at)


def settled_notifications(*, created_before: datetime) -> PurgeTarget:
    """Notifications sent or failed (never one still pending), created before the cutoff."""
    return PurgeTarget(
        name="notifications", entity=Notification,
        condition=and_(Notification.created_at < created_before,
                       Notification.status.in_([NotificationStatus.SENT, NotificationStatus.FAILED])),
        order_by=Notification.created_at)


def settled_deliveries(*, settled_before: datetime) -> PurgeTarget:
    """Webhook deliveries that succeeded or failed (never one pending), whose last activity (delivered,
    last attempted, created) is before the cutoff. Along `ix_webhook_deliveries_created_at`."""
    last_activity = func.coalesce(WebhookDelivery.delivered_at, WebhookDelivery.last_attempt_at,
                                  WebhookDelivery.created_at)
    return PurgeTarget(
        name="webhook_deliveries", entity=WebhookDelivery,
        condition=and_(WebhookDelivery.created_at < settled_before, last_activity < settled_before,
                       WebhookDelivery.status.in_([DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED])),
        order_by=WebhookDelivery.created_at)


def undelivered_events(*, created_before: datetime) -> PurgeTarget:
    """Webhook events created before the cutoff that no delivery references any more (an event's
    deliveries are written with it, in one transaction, so none can appear later)."""
    referenced = exists().where(WebhookDelivery.event_id == WebhookEvent.id)
    return PurgeTarget(
        name="webhook_events", entity=WebhookEvent,
        condition=and_(WebhookEvent.created_at < created_before, ~referenced),
        order_by=WebhookEvent.created_at)


def old_routine_runs(*, started_before: datetime) -> PurgeTarget:
    return PurgeTarget(name="routine_runs", entity=RoutineRun, condition=RoutineRun.started_at < started_before,
                       order_by=RoutineRun.started_at)


def old_shadow_comparisons(*, created_before: datetime) -> PurgeTarget:
    """The legacy bridge's shadow comparisons (`legacy.store`), along their `created_at` index."""
    return PurgeTarget(name="legacy_shadow_comparisons", entity=ShadowComparison,
                       condition=ShadowComparison.created_at < created_before, order_by=ShadowComparison.created_at)


async def purge_batch(session: AsyncSession, target: PurgeTarget, *, limit: int) -> dict[str, int]:
    """Delete up to `limit` rows of `target` (and their children) in the session's transaction.
    Returns rows deleted per table (`{}` when nothing matched)."""
    primary_key = target.entity.id
    query = select(primary_key).where(target.condition).order_by(target.order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=target.entity)
    ids = list((await session.execute(query)).scalars().all())
    if not ids:
        return {}
    deleted: dict[str, int] = {}
    for child, column in target.children:
        result = await session.execute(delete(child).where(column.in_(ids)).execution_options(
            synchronize_session=False))
        deleted[child.__tablename__] = int(result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(delete(target.entity).where(primary_key.in_(ids), target.condition)
                                   .execution_options(synchronize_session=False))
    deleted[target.name] = int(result.rowcount)  # type: ignore[attr-defined]
    return deleted


# -- the routine checks' records -------------------------------------------------------------------

def add_run(session: AsyncSession, run: RoutineRun) -> None:
    session.add(run)


async def latest_runs(session: AsyncSession) -> list[RoutineRun]:
    """The latest run of each routine, by routine name."""
    latest = select(func.max(RoutineRun.id)).group_by(RoutineRun.routine)
    rows = await session.execute(select(RoutineRun).where(RoutineRun.id.in_(latest)).order_by(RoutineRun.routine))
    return list(rows.scalars().all())


async def last_problem_runs(session: AsyncSession) -> list[RoutineRun]:
    """The latest run of each routine that did not end `ok` (they stay visible after a good run)."""
    latest = (select(func.max(RoutineRun.id)).where(RoutineRun.outcome != "ok").group_by(RoutineRun.routine))
    rows = await session.execute(select(RoutineRun).where(RoutineRun.id.in_(latest)).order_by(RoutineRun.routine))
    return list(rows.scalars().all())
