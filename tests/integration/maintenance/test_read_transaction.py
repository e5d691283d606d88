"""`Database.read_transaction()` (issue 14): the ledger scan of `seawall doctor` and of the routine
check reads without a write lock. On the embedded SQLite file a write commits while the scan's
transaction is open (before, doctor's scan ran in a writing transaction, BEGIN IMMEDIATE, and held
up every write of an embedded server for its whole length); on PostgreSQL the scan is one READ ONLY,
REPEATABLE READ snapshot: it cannot write, and a commit made during it does not show in it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.maintenance import checks
from seawall.payments.ledger import LedgerCheck
from seawall.runtime import Runtime

WRITE = text("INSERT INTO test_effects (job_id, attempt, worker_pid, label) VALUES (1, 1, 1, 'during the scan')")
COUNT = text("SELECT count(*) FROM test_effects")


@pytest.mark.backends("sqlite", "postgres")
async def test_doctors_ledger_scan_does_not_block_an_embedded_writer(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    scanning, finish_scan = asyncio.Event(), asyncio.Event()
    real_check = checks.check_ledger

    async def held_open_check(session: AsyncSession) -> LedgerCheck:
        found = await real_check(session)  # the scan has read: its transaction holds its snapshot
        scanning.set()
        await finish_scan.wait()
        return found

    monkeypatch.setattr(checks, "check_ledger", held_open_check)
    scan = asyncio.create_task(checks.inspect_database(runtime.database))
    await asyncio.wait_for(scanning.wait(), 60)
    try:
        async with runtime.database.transaction() as session:
            await session.execute(WRITE)
        wrote_during_scan = not scan.done()
    finally:
        finish_scan.set()
    report: dict[str, Any] = await scan
    assert wrote_during_scan, "the write committed while the scan's transaction was open"
    assert report["ledger"]["ok"] is True
    async with runtime.database.read_transaction() as session:
        assert (await session.execute(COUNT)).scalar_one() == 1


@pytest.mark.backends("postgres")
async def test_a_read_transaction_on_postgresql_is_one_read_only_snapshot(runtime: Runtime) -> None:
    async with runtime.database.read_transaction() as session:
        assert (await session.execute(text("SHOW transaction_isolation"))).scalar_one() == "repeatable read"
        assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "on"
        before = (await session.execute(COUNT)).scalar_one()
        async with runtime.database.transaction() as writer:  # not blocked by the open snapshot
            await writer.execute(WRITE)
        assert (await session.execute(COUNT)).scalar_one() == before, "the snapshot does not move"
    with pytest.raises(DBAPIError, match="read-only transaction"):
        async with runtime.database.read_transaction() as session:
            await session.execute(WRITE)
    async with runtime.database.transaction() as session:  # the pooled connection is writable again
        assert (await session.execute(text("SHOW transaction_read_only"))).scalar_one() == "off"
        await session.execute(WRITE)
