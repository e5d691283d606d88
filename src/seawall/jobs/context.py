"""What a running handler sees: its job, the completion session, and fenced extra transactions.

`JobContext[S]` is generic in what the process shares with handlers (`ctx.runtime: S`): the engine
passes the object it was given (`Worker(runtime=...)`) without looking at it, and each domain's
`tasks.py` declares, as a small `Protocol`, what its handlers use of it (a secret, the channels, a
gateway), so mypy checks the handlers against that Protocol and the composition root's `Runtime`
against each Protocol (`seawall.runtime`). The engine imports no domain to do so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import repository
from seawall.jobs.errors import LeaseLostError
from seawall.kit.clock import Clock


@dataclass(frozen=True)
class ClaimedJob:
    """A snapshot of the job row as this worker claimed it."""

    id: int
    kind: str
    queue: str
    payload: dict[str, Any]
    attempt: int  # 1-based number of this attempt
    max_attempts: int
    lease_token: str
    # Where it came from (`jobs/telemetry.py`): the enqueuing span's W3C traceparent, the originating
    # request id, and the span of the last attempt that gave the job back (a retry's link).
    traceparent: str | None = None
    request_id: str | None = None
    last_attempt_traceparent: str | None = None


S = TypeVar("S")


@dataclass
class JobContext(Generic[S]):
    job: ClaimedJob
    session: AsyncSession  # commits together with the job's completion
    database: Database
    settings: Settings
    clock: Clock
    runtime: S  # the process's shared objects (providers, secrets), as the handler's Protocol sees them

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A separate, fenced transaction for state that must commit before an external call.

        It commits only if this worker still holds the job's lease (checked inside the
        transaction); otherwise it rolls back and raises `LeaseLostError`. Use it to read or record
        state before a slow provider call so `ctx.session` is not held open across that call.
        """
        async with self.database.transaction() as session:
            yield session
            if not await repository.holds_lease(
                session, job_id=self.job.id, lease_token=self.job.lease_token, now=self.clock.now()
            ):
                raise LeaseLostError(f"job {self.job.id} lost its lease")
