"""One lease keeper per worker: renews the leases of every job it runs in one statement.

A claimed job is leased for `lease_seconds`; every third of that the keeper extends the lease of
all the worker's running jobs at once (`repository.renew_leases`). A job whose row no longer holds
its token (another worker took it over after the lease expired, or an operator intervened) is
reported lost, and so is one whose lease ran out by this worker's clock while renewals failed (the
database was unreachable): the worker then cancels its handler, whose writes roll back. A job
already recording its outcome is never reported: its fenced write decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from seawall.db import Database
from seawall.jobs import repository
from seawall.jobs.context import ClaimedJob
from seawall.kit.clock import Clock

log = structlog.get_logger("seawall.jobs.leases")


class LeaseKeeper:
    def __init__(self, *, database: Database, clock: Clock, lease_seconds: float,
                 on_lost: Callable[[int], None]) -> None:
        self.database = database
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.on_lost = on_lost
        self._held: dict[int, ClaimedJob] = {}
        self._expires_at: dict[int, datetime] = {}
        self._finishing: set[int] = set()

    def hold(self, job: ClaimedJob) -> None:
        self._held[job.id] = job
        self._expires_at[job.id] = self.clock.now() + timedelta(seconds=self.lease_seconds)

    def finishing(self, job_id: int) -> None:
        """The job is recording its outcome: leave it to the fenced write."""
        self._finishing.add(job_id)

    def drop(self, job_id: int) -> None:
        self._held.pop(job_id, None)
        self._expires_at.pop(job_id, None)
        self._finishing.discard(job_id)

    async def run(self) -> None:
        """Renew every third of the lease until cancelled."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            await self.renew()

    async def renew(self) -> None:
        jobs = [job for job_id, job in self._held.items() if job_id not in self._finishing]
        if not jobs:
            return
        now = self.clock.now()
        try:
            async with self.database.transaction() as session:
                kept = await repository.renew_leases(session, claims=[(job.id, job.lease_token) for job in jobs],
                                                     now=now, lease_seconds=self.lease_seconds)
        except Exception as exc:
            log.warning("job.lease_renewal_failed", jobs=len(jobs), error=f"{type(exc).__name__}: {exc}")
            lost = [job.id for job in jobs if self._expires_at.get(job.id, now) <= self.clock.now()]
        else:
            expires_at = now + timedelta(seconds=self.lease_seconds)
            lost = []
            for job in jobs:
                if job.id in kept:
                    self._expires_at[job.id] = expires_at
                else:
                    lost.append(job.id)
        for job_id in lost:
            if job_id in self._held and job_id not in self._finishing:
                self.on_lost(job_id)
