"""Periodic purge of idempotency records past their retention (at least 24 h)."""

from __future__ import annotations

from seawall.idempotency import service
from seawall.jobs import JobContext, job_handler


@job_handler("idempotency.purge_expired", queue="maintenance", every_seconds=3600, max_attempts=3)
async def purge_expired_records(ctx: JobContext[object]) -> None:
    await service.purge_expired(ctx.session, clock=ctx.clock)
