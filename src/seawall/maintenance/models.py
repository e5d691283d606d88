"""`routine_runs`: one row per run of a routine check (reconcile, ledger, purge) and what it found."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from seawall.db import Base
from seawall.kit.types import BigIntPK, UTCDateTime


class Routine(StrEnum):
    RECONCILE = "reconcile"  # payments and refunds against the provider
    LEDGER = "ledger"  # the ledger balances and agrees with payments and refunds
    PURGE = "purge"  # rows past their retention


class RunOutcome(StrEnum):
    OK = "ok"
    PROBLEMS = "problems"  # it ran and found something a person must look at
    ERROR = "error"  # it could not run to the end (the job is retried; the next period runs again)


class RoutineRun(Base):
    __tablename__ = "routine_runs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    routine: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    problems: Mapped[int] = mapped_column(Integer, default=0)  # how many problems it found
    # What it checked or purged: {"checked": n, "settled": n, ...}, {"purged": {table: rows}, ...},
    # and up to 20 problem lines under "problems" (never a secret: ids, statuses, amounts).
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_routine_runs_routine_id", "routine", "id"),  # the latest run of each routine
        Index("ix_routine_runs_started_at", "started_at"),  # its own retention
    )
