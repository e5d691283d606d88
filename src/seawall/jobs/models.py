"""The jobs table (the transactional outbox and the source of truth for every job) and its attempt log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from seawall.db import Base
from seawall.kit.types import BigIntPK, UTCDateTime


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for next_run_at (first run or a scheduled retry)
    RUNNING = "running"  # claimed; owned by whoever holds lease_token until lease_expires_at
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # permanent error or attempts exhausted: the dead-letter queue


class AttemptOutcome(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    DEFERRED = "deferred"  # not tried (e.g. provider bulkhead full); the attempt is given back
    DEAD = "dead"
    LEASE_EXPIRED = "lease_expired"  # the worker vanished (crash, partition) and the lease ran out
    RELEASED = "released"  # handed back unfinished during a graceful shutdown


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    dedup_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Broker transport only: when the relay last had the broker confirm a message for this job. Every
    # requeue clears it, so the relay publishes the job again once it is due (see transport/relay.py).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the job came from (migration 0012): the W3C `traceparent` of the span that enqueued it (the
    # request's, or the job's that enqueued it), so each attempt's span continues that trace; the
    # originating API request's `X-Request-ID`, bound to every log line of each attempt; and the
    # span of the last attempt that gave the job back (retry, defer, release), which the next one
    # links to. Written only while tracing is on (the request id always). See `jobs/telemetry.py`.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    request_id: Mapped[str | None] = mapped_column(String(128))
    last_attempt_traceparent: Mapped[str | None] = mapped_column(String(55))

    __table_args__ = (
        Index("ix_jobs_claim", "queue", "status", "next_run_at"),
        Index("ix_jobs_status_id", "status", "id"),
        # Only queued rows: the claim query's hot path stays small however many jobs have finished.
        Index("ix_jobs_due", "queue", "next_run_at", postgresql_where=text("status = 'queued'"),
              sqlite_where=text("status = 'queued'")),
        # What the relay has yet to publish: small however long the queues are.
        Index("ix_jobs_unpublished", "queue", "next_run_at",
              postgresql_where=text("status = 'queued' AND published_at IS NULL"),
              sqlite_where=text("status = 'queued' AND published_at IS NULL")),
        # Finished jobs by when they finished: the retention purge's walk (migration 0013).
        Index("ix_jobs_finished", "status", "finished_at", postgresql_where=text("finished_at IS NOT NULL"),
              sqlite_where=text("finished_at IS NOT NULL")),
    )


class JobAttempt(Base):
    __tablename__ = "job_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[str] = mapped_column(String(100))
    lease_token: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default=AttemptOutcome.RUNNING)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
