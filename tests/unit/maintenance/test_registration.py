"""The routine checks register as periodic jobs on the `maintenance` queue when a worker loads the job
modules (`load_job_modules` finds `seawall.maintenance.tasks` by convention), and that queue is one a
worker runs by default; the retention policy reads its settings (issue 14, Deliver 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seawall.config import Settings
from seawall.jobs import load_job_modules, registry
from seawall.maintenance.retention import RetentionPolicy
from seawall.maintenance.tasks import LEDGER_JOB, PURGE_JOB, RECONCILE_JOB


def test_the_routine_checks_are_periodic_jobs_of_the_maintenance_queue() -> None:
    load_job_modules()
    periodic = {kind.name: kind for kind in registry.periodic()}
    for name, every in ((RECONCILE_JOB, 900), (LEDGER_JOB, 3600), (PURGE_JOB, 300)):
        assert name in periodic, f"{name} is not registered as a periodic job"
        assert (periodic[name].queue, periodic[name].every_seconds) == ("maintenance", every)
    assert "maintenance" in Settings().queue_names, "a default worker runs them"


def test_periods_are_never_longer_than_the_shortest_job_retention() -> None:
    """A periodic job's dedup key names its period: purging it within that period would let it run
    twice in one period. The shortest job retention is one day."""
    load_job_modules()
    shortest = Settings.model_fields["retention_jobs_days"].metadata[0].ge * 86400
    assert all(kind.every_seconds is not None and kind.every_seconds <= shortest for kind in registry.periodic())


def test_nothing_changed_within_the_idempotency_window_is_past_retention() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    policy = RetentionPolicy.from_settings(Settings(retention_jobs_days=1, idempotency_ttl_hours=72))
    assert policy.cutoff(now, policy.jobs) == now - timedelta(hours=72)
    assert policy.cutoff(now, policy.notifications) == now - timedelta(days=90)
    assert policy.dead_jobs is None, "dead-lettered jobs are kept unless their retention is set"
    assert [target.name for target in policy.targets(now)] == [
        "jobs", "sessions", "notifications", "webhook_deliveries", "webhook_events", "routine_runs",
        "legacy_shadow_comparisons"]
    with_dead = RetentionPolicy.from_settings(Settings(retention_dead_jobs_days=60))
    assert [target.name for target in with_dead.targets(now)][:2] == ["jobs", "dead_jobs"]
