"""Promise (issue 16, shadow mode): a dry run (`db.dry_run()`, the shadow calls of a `rollback` route)
keeps nothing it writes, on SQLite and PostgreSQL: `Database.transaction()` rolls back, the other commit
path a request reaches (`audit.record_apart`, its own transaction) does too, any raw commit is refused,
and the in-process session cache keeps nothing looked up during it. Outside the block everything commits
as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from seawall import audit
from seawall.accounts.session_cache import Principal, PrincipalSession, PrincipalUser, SessionCache
from seawall.audit.models import AuditEvent
from seawall.db import DryRunCommitRefused, dry_run, in_dry_run
from seawall.replicas.engine import ReplicaEngine
from seawall.runtime import Runtime

pytestmark = pytest.mark.backends("sqlite", "postgres")


async def audit_rows(runtime: Runtime, action: str) -> int:
    async with runtime.database.read_transaction() as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int((await session.execute(query)).scalar_one())


async def test_a_dry_run_keeps_no_row_written_through_transaction_or_record_apart(runtime: Runtime) -> None:
    with dry_run():
        assert in_dry_run()
        async with runtime.database.transaction() as session:
            await audit.record(session, audit.AuditEntry(action="test.dry_in_transaction"), clock=runtime.clock)
            seen = (await session.execute(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "test.dry_in_transaction"))).scalar_one()
            assert seen == 1  # visible inside its own transaction, as the route's later reads expect
        await audit.record_apart(runtime.database, audit.AuditEntry(action="test.dry_apart"), clock=runtime.clock)
    assert not in_dry_run()
    await audit.record_apart(runtime.database, audit.AuditEntry(action="test.wet_apart"), clock=runtime.clock)

    assert await audit_rows(runtime, "test.dry_in_transaction") == 0
    assert await audit_rows(runtime, "test.dry_apart") == 0
    assert await audit_rows(runtime, "test.wet_apart") == 1


async def test_a_raw_commit_during_a_dry_run_is_refused(runtime: Runtime) -> None:
    with dry_run():
        async with runtime.database.sessionmaker() as session:
            session.add(audit.service._row(audit.AuditEntry(action="test.raw_commit"), runtime.clock))
            with pytest.raises(DryRunCommitRefused):
                await session.commit()
        with pytest.raises(DryRunCommitRefused):
            async with runtime.database.engine.begin() as connection:
                await connection.execute(AuditEvent.__table__.insert().values(
                    id="aud_raw_engine", created_at=datetime.now(UTC), action="test.raw_commit", outcome="ok",
                    actor_type="anonymous", details={}))
    assert await audit_rows(runtime, "test.raw_commit") == 0
    # the pooled connections are left usable: a later write commits
    await audit.record_apart(runtime.database, audit.AuditEntry(action="test.after_raw"), clock=runtime.clock)
    assert await audit_rows(runtime, "test.after_raw") == 1


async def test_the_session_cache_keeps_nothing_looked_up_during_a_dry_run() -> None:
    cache = SessionCache(ttl_seconds=60.0, max_entries=10)
    now = datetime.now(UTC)
    principal = Principal(user=PrincipalUser(id="usr_1", email="a@example.com"),
                          auth_session=PrincipalSession(id="ses_1", user_id="usr_1", token_digest="d1",
                                                        expires_at=now + timedelta(hours=1)))
    with dry_run():
        cache.put("d1", principal, lookup=cache.begin_lookup())
    assert cache.get("d1", now=now) is None
    cache.put("d1", principal, lookup=cache.begin_lookup())
    assert cache.get("d1", now=now) == principal


@pytest.mark.backends("postgres")
async def test_reads_on_the_replica_still_work_during_a_dry_run(runtime: Runtime) -> None:
    """A replica read ends in COMMIT (`replicas.routing`); it keeps nothing, so it is allowed."""
    settings = runtime.settings.model_copy(update={"database_replica_url": runtime.settings.database_url})
    replica = ReplicaEngine.build(settings)
    assert replica is not None
    try:
        with dry_run():
            async with replica.read_transaction() as session:
                assert (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one() >= 0
            async with runtime.database.read_transaction() as session:  # the primary's reader: rolled back
                assert (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one() >= 0
    finally:
        await replica.dispose()
