"""`execute_once` against the real database: caller scopes, retention and purge, duplicates in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts import service as accounts
from seawall.accounts.models import User
from seawall.idempotency import service
from seawall.idempotency.errors import IdempotencyInFlightError, IdempotencyMismatchError
from seawall.idempotency.models import IdempotencyRecord, RecordStatus
from seawall.jobs import enqueue
from seawall.jobs.worker import Worker
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime

PURGE_JOB = "idempotency.purge_expired"


class Created(BaseModel):
    label: str


class Counter:
    """An operation that counts its runs and answers with a label."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.runs = 0

    async def __call__(self, _session: AsyncSession) -> Created:
        self.runs += 1
        return Created(label=self.label)


async def run_once(runtime: Runtime, clock: FakeClock, *, scope: str = "usr_a", key: str = "key-1",
                   fingerprint: str = "fp-1", operation: service.Operation) -> service.StoredResponse:
    return await service.execute_once(
        database=runtime.database, settings=runtime.settings, clock=clock, scope=scope, key=key,
        request_fingerprint=fingerprint, status_code=201, operation=operation,
    )


async def records(runtime: Runtime) -> list[IdempotencyRecord]:
    async with runtime.database.transaction() as session:
        return list((await session.execute(select(IdempotencyRecord))).scalars().all())


async def run_purge_job(runtime: Runtime, clock: FakeClock) -> None:
    async with runtime.database.transaction() as session:
        await enqueue(session, PURGE_JOB, {}, clock=clock)
    await Worker(database=runtime.database, settings=runtime.settings, clock=clock,
                 queues=["maintenance"]).run_until_idle()


async def test_keys_are_scoped_to_the_caller(runtime: Runtime, fake_clock: FakeClock) -> None:
    alice, bob = Counter("alice"), Counter("bob")
    first = await run_once(runtime, fake_clock, scope="usr_alice", operation=alice)
    second = await run_once(runtime, fake_clock, scope="usr_bob", operation=bob, fingerprint="fp-other")
    assert (first.body, first.replayed) == ({"label": "alice"}, False)
    assert (second.body, second.replayed) == ({"label": "bob"}, False)

    # Within each scope, the key still replays its own answer.
    again = await run_once(runtime, fake_clock, scope="usr_alice", operation=alice)
    assert (again.body, again.replayed) == ({"label": "alice"}, True)
    assert (alice.runs, bob.runs) == (1, 1)
    assert len(await records(runtime)) == 2


async def test_replay_and_mismatch_at_the_service(runtime: Runtime, fake_clock: FakeClock) -> None:
    operation = Counter("once")
    await run_once(runtime, fake_clock, operation=operation)
    replay = await run_once(runtime, fake_clock, operation=operation)
    assert replay.status_code == 201 and replay.replayed and replay.body == {"label": "once"}
    with pytest.raises(IdempotencyMismatchError):
        await run_once(runtime, fake_clock, fingerprint="fp-2", operation=operation)
    assert operation.runs == 1


async def test_keys_are_kept_for_the_ttl(runtime: Runtime, fake_clock: FakeClock) -> None:
    operation = Counter("kept")
    await run_once(runtime, fake_clock, operation=operation)
    assert runtime.settings.idempotency_ttl_hours >= 24
    fake_clock.advance(runtime.settings.idempotency_ttl_hours * 3600 - 1)

    await run_purge_job(runtime, fake_clock)
    assert len(await records(runtime)) == 1
    replay = await run_once(runtime, fake_clock, operation=operation)
    assert replay.replayed and operation.runs == 1


async def test_expired_records_are_purged_by_the_purge_job(runtime: Runtime, fake_clock: FakeClock) -> None:
    await run_once(runtime, fake_clock, key="old", operation=Counter("old"))
    fake_clock.advance(3600)
    await run_once(runtime, fake_clock, key="newer", operation=Counter("newer"))
    fake_clock.advance(runtime.settings.idempotency_ttl_hours * 3600 - 1800)

    await run_purge_job(runtime, fake_clock)
    assert [record.key for record in await records(runtime)] == ["newer"]


async def test_expired_key_can_be_reused_with_a_different_payload(
    runtime: Runtime, fake_clock: FakeClock
) -> None:
    first, second = Counter("first"), Counter("second")
    await run_once(runtime, fake_clock, fingerprint="fp-1", operation=first)
    fake_clock.advance(runtime.settings.idempotency_ttl_hours * 3600)

    # Not purged yet: the expired record is ignored all the same.
    reused = await run_once(runtime, fake_clock, fingerprint="fp-2", operation=second)
    assert (reused.body, reused.replayed) == ({"label": "second"}, False)
    assert (first.runs, second.runs) == (1, 1)
    [record] = await records(runtime)
    assert record.fingerprint == "fp-2" and record.response_body == {"label": "second"}


async def test_concurrent_request_while_in_flight_is_409(runtime: Runtime, fake_clock: FakeClock) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(_session: AsyncSession) -> Created:
        started.set()
        await release.wait()
        return Created(label="slow")

    holder = asyncio.create_task(run_once(runtime, fake_clock, operation=slow))
    await asyncio.wait_for(started.wait(), timeout=30)
    second = Counter("second")
    with pytest.raises(IdempotencyInFlightError):
        await run_once(runtime, fake_clock, operation=second)
    release.set()
    assert (await holder).body == {"label": "slow"}
    assert second.runs == 0


async def test_a_duplicate_from_another_process_never_runs_the_work_twice(
    runtime: Runtime, make_runtime: Callable[..., Runtime], fake_clock: FakeClock, backend: str
) -> None:
    """Request A holds the key in flight; B, the same request in another process, arrives meanwhile.

    PostgreSQL: B sees A's advisory lock and gets 409; once A commits, B replays A's answer.
    SQLite (writers take turns, nothing in flight is visible across processes): B runs and commits
    first; A's late transaction then meets B's record, rolls back whole and answers with B's.
    Either way one user exists and the stored record is the one that committed.
    """
    other_process = make_runtime()
    holder_started, holder_resume = asyncio.Event(), asyncio.Event()

    async def holder_operation(session: AsyncSession) -> BaseModel:
        holder_started.set()
        await holder_resume.wait()  # stalls before its writes (SQLite has one writer)
        user = await accounts.sign_up(session, passwords=runtime.passwords, clock=fake_clock,
                                      email="holder@example.com", password="holder password 1")
        return Created(label=user.user.email)

    async def taker_operation(session: AsyncSession) -> BaseModel:
        user = await accounts.sign_up(session, passwords=runtime.passwords, clock=fake_clock,
                                      email="taker@example.com", password="taker password 12")
        return Created(label=user.user.email)

    holder = asyncio.create_task(run_once(runtime, fake_clock, operation=holder_operation))
    await asyncio.wait_for(holder_started.wait(), timeout=30)

    # In the same process, the key in flight is refused at once.
    with pytest.raises(IdempotencyInFlightError):
        await run_once(runtime, fake_clock, operation=taker_operation)

    if backend == "sqlite":
        taken = await run_once(other_process, fake_clock, operation=taker_operation)
        assert (taken.body, taken.replayed) == ({"label": "taker@example.com"}, False)
        holder_resume.set()
        late = await holder
        assert (late.body, late.replayed) == ({"label": "taker@example.com"}, True)
        winner = "taker@example.com"
    else:
        with pytest.raises(IdempotencyInFlightError):
            await run_once(other_process, fake_clock, operation=taker_operation)
        holder_resume.set()
        assert (await holder).body == {"label": "holder@example.com"}
        replay = await run_once(other_process, fake_clock, operation=taker_operation)
        assert replay.replayed and replay.body == {"label": "holder@example.com"}
        winner = "holder@example.com"

    async with runtime.database.transaction() as session:
        emails = set((await session.execute(select(User.email))).scalars().all())
    assert emails == {winner}
    [record] = await records(runtime)
    assert record.status == RecordStatus.COMPLETED
    assert record.response_body == {"label": winner}


async def test_an_old_style_reservation_is_honoured_until_its_lock_runs_out(
    runtime: Runtime, fake_clock: FakeClock
) -> None:
    """Rows `in_flight` come only from versions that reserved the key ahead of the work (a rolling
    deploy): 409 while their lock holds, then the key is free."""
    now = fake_clock.now()
    async with runtime.database.transaction() as session:
        session.add(IdempotencyRecord(scope="usr_a", key="key-1", fingerprint="fp-1", status=RecordStatus.IN_FLIGHT,
                                      lock_token="old", locked_until=now + timedelta(seconds=60), created_at=now,
                                      expires_at=now + timedelta(hours=24)))
    counter = Counter("after")
    with pytest.raises(IdempotencyInFlightError):
        await run_once(runtime, fake_clock, operation=counter)
    fake_clock.advance(61)
    done = await run_once(runtime, fake_clock, operation=counter)
    assert (done.body, done.replayed, counter.runs) == ({"label": "after"}, False, 1)
    [record] = await records(runtime)
    assert record.status == RecordStatus.COMPLETED
