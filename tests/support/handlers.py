"""One job handler run alone, as the worker runs it, on an in-memory SQLite database (no file, no
server): the `handlers` fixture, for unit tests of handler rules with the fakes of `tests.support.fakes`.

Contract of `handlers` (a `HandlerHarness`):
- `database` is migrated to head in memory (one connection, `StaticPool`), created for the test and
  dropped after it; `clock` is a `FakeClock` at a fixed instant; `settings` are the defaults;
- `runtime` carries what handlers read from `ctx.runtime`: `payments` (the real gateway built over
  `provider`, a `ScriptedPaymentProvider`), `channels` (`{"email": channel}`, a `ScriptedChannel`) and
  `secret_key`;
- `await handlers.run(kind, payload, attempt=1)` runs the handler registered for `kind` with a
  `JobContext` whose `session` commits when the handler returns and rolls back when it raises, like
  the worker's; it returns the exception the handler raised (None on success) without recording it
  on a job row (the retry policy is the engine's, tested with the engine). The job's lease is not
  checked (`ctx.transaction()` is an ordinary transaction here): nothing else runs the job.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import StaticPool

from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import JobContext, load_job_modules
from seawall.jobs import registry as job_registry
from seawall.jobs.context import ClaimedJob
from seawall.kit.clock import FakeClock
from seawall.notifications.channels import Channel
from seawall.payments.gateway import PaymentGateway, build_gateway
from tests.support.fakes import ScriptedChannel, ScriptedPaymentProvider

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SECRET_KEY = b"unit-test-secret-key-0123456789ab"


@dataclass
class HandlerRuntime:
    """The part of the process's Runtime that payment and notification handlers use."""

    payments: PaymentGateway
    channels: dict[str, Channel]
    secret_key: bytes = SECRET_KEY


class UnfencedJobContext(JobContext):
    """A `JobContext` whose extra transactions skip the lease check: no worker leased the job."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.database.transaction() as session:
            yield session


@dataclass
class HandlerHarness:
    database: Database
    settings: Settings
    clock: FakeClock
    provider: ScriptedPaymentProvider
    channel: ScriptedChannel
    runtime: HandlerRuntime
    _job_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def run(self, kind: str, payload: dict[str, Any], *, attempt: int = 1) -> Exception | None:
        spec = job_registry.get(kind)
        job_id = next(self._job_ids)
        job = ClaimedJob(id=job_id, kind=kind, queue=spec.queue, payload=payload, attempt=attempt,
                         max_attempts=spec.max_attempts or attempt, lease_token=f"unit.{job_id}")
        async with self.database.sessionmaker() as session:
            context = UnfencedJobContext(job=job, session=session, database=self.database, settings=self.settings,
                                         clock=self.clock, runtime=self.runtime)
            try:
                await spec.handler(context)
            except Exception as exc:
                await session.rollback()
                return exc
            await session.commit()
        return None


@asynccontextmanager
async def memory_database(settings: Settings) -> AsyncIterator[Database]:
    """A migrated SQLite database in this process's memory, gone when the block exits."""
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool,
                                 connect_args={"check_same_thread": False})
    database = Database(settings, engine=engine)
    try:
        await database.migrate()
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def handlers() -> AsyncIterator[HandlerHarness]:
    settings = Settings(log_level="WARNING")
    load_job_modules()
    provider, channel = ScriptedPaymentProvider(), ScriptedChannel()
    gateway = build_gateway(settings, provider_factory=lambda name, base, key: provider)
    runtime = HandlerRuntime(payments=gateway, channels={channel.name: channel})
    async with memory_database(settings) as database:
        yield HandlerHarness(database=database, settings=settings, clock=FakeClock(NOW), provider=provider,
                             channel=channel, runtime=runtime)
