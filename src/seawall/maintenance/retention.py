"""Retention: how long finished rows are kept, and the bounded purge that removes the rest.

What is kept, and for how long (settings `SEAWALL_RETENTION_*`, in days; docs/operations.md,
"Retention and routine checks"):
- succeeded jobs, with their attempts: `retention_jobs_days` after they finished (7);
- dead-lettered jobs (the DLQ): never, unless `retention_dead_jobs_days` is set; then as long after
  they died, with their attempts;
- login sessions: `retention_sessions_days` after they ended (expired, revoked or idle; 7);
- notifications sent or failed: `retention_notifications_days` after they were created (90);
- webhook deliveries that succeeded or failed: `retention_webhook_deliveries_days` after their last
  attempt (30); then the events none of whose deliveries is left, as long after they were created;
- the routine checks' own records: `retention_routine_runs_days` (30);
- the legacy bridge's shadow comparisons: `legacy_shadow_retention_days` after they were recorded (7; no
  idempotency record points at them, so the idempotency window does not apply).

Never purged: a job queued, scheduled or running (in flight); a dead job unless its retention is set;
a pending notification or webhook delivery; and nothing whose last change is more recent than
`SEAWALL_IDEMPOTENCY_TTL_HOURS` ago. The last rule keeps everything an idempotency record may still
point at: a record is written in the same transaction as the rows and jobs of its request (and a
replayed webhook delivery is attempted again after the replay's record), so while the record can be
replayed, what its answer names is still there. A job's `dedup_key` is freed with it; the keys are
derived from rows that settle once (a payment's charge, a notification's send), and handlers are safe
to run twice, so a key freed after days enqueues nothing again. Periodic jobs' keys name their
period, which is never longer than a day (the shortest job retention).

Bounded: each table is purged in batches of `retention_batch_size` rows, each batch its own short
transaction (on SQLite the write lock is held for one batch only), at most `retention_max_rows_per_run`
rows per table per run; what is left waits for the next run (`PurgeReport.complete` is False).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from seawall.config import Settings
from seawall.db import Database
from seawall.jobs.models import JobStatus
from seawall.maintenance import repository
from seawall.maintenance.repository import PurgeTarget
from seawall.observability.metrics import METRICS


@dataclass(frozen=True)
class RetentionPolicy:
    """Retention periods (None: kept for ever) and the per-run bounds, from the settings."""

    jobs: timedelta
    dead_jobs: timedelta | None
    sessions: timedelta
    notifications: timedelta
    webhook_deliveries: timedelta
    routine_runs: timedelta
    shadow_comparisons: timedelta
    idempotency: timedelta  # nothing changed more recently than this is purged
    session_idle: timedelta
    batch_size: int
    max_rows_per_run: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        days = settings.retention_dead_jobs_days
        return cls(
            jobs=timedelta(days=settings.retention_jobs_days),
            dead_jobs=timedelta(days=days) if days is not None else None,
            sessions=timedelta(days=settings.retention_sessions_days),
            notifications=timedelta(days=settings.retention_notifications_days),
            webhook_deliveries=timedelta(days=settings.retention_webhook_deliveries_days),
            routine_runs=timedelta(days=settings.retention_routine_runs_days),
            shadow_comparisons=timedelta(days=settings.legacy_shadow_retention_days),
            idempotency=timedelta(hours=settings.idempotency_ttl_hours),
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            batch_size=settings.retention_batch_size,
            max_rows_per_run=settings.retention_max_rows_per_run,
        )

    def cutoff(self, now: datetime, kept: timedelta) -> datetime:
        """Rows whose clock is before this are past `kept`, and past the idempotency window."""
        return now - max(kept, self.idempotency)

    def targets(self, now: datetime) -> list[PurgeTarget]:
        """What to purge, in order (deliveries before the events they point at)."""
        targets = [repository.finished_jobs(status=JobStatus.SUCCEEDED, finished_before=self.cutoff(now, self.jobs))]
        if self.dead_jobs is not None:
            targets.append(repository.finished_jobs(status=JobStatus.DEAD,
                                                    finished_before=self.cutoff(now, self.dead_jobs)))
        delivery_cutoff = self.cutoff(now, self.webhook_deliveries)
        targets += [
            repository.ended_sessions(ended_before=self.cutoff(now, self.sessions), idle=self.session_idle),
            repository.settled_notifications(created_before=self.cutoff(now, self.notifications)),
            repository.settled_deliveries(settled_before=delivery_cutoff),
            repository.undelivered_events(created_before=delivery_cutoff),
            repository.old_routine_runs(started_before=self.cutoff(now, self.routine_runs)),
            repository.old_shadow_comparisons(created_before=now - self.shadow_comparisons),
        ]
        return targets


@dataclass
class PurgeReport:
    purged: dict[str, int] = field(default_factory=dict)  # rows deleted per table
    batches: int = 0
    unfinished: list[str] = field(default_factory=list)  # targets that hit the per-run maximum

    @property
    def complete(self) -> bool:
        """Whether everything past its retention was purged (no target stopped at the maximum)."""
        return not self.unfinished

    def add(self, deleted: dict[str, int]) -> None:
        for table, rows in deleted.items():
            self.purged[table] = self.purged.get(table, 0) + rows


async def purge_expired(database: Database, policy: RetentionPolicy, *, now: datetime) -> PurgeReport:
    """Purge every target in batches, one transaction each, at most `max_rows_per_run` rows per target."""
    report = PurgeReport()
    for target in policy.targets(now):
        done = 0
        while done < policy.max_rows_per_run:
            limit = min(policy.batch_size, policy.max_rows_per_run - done)
            async with database.transaction() as session:
                deleted = await repository.purge_batch(session, target, limit=limit)
            report.batches += 1
            report.add(deleted)
            for table, rows in deleted.items():
                METRICS.retention_purged_rows.labels(table=table).inc(rows)
            rows = deleted.get(target.name, 0)
            done += rows
            if rows < limit:
                break
        else:
            report.unfinished.append(target.name)
    return report
