"""The replica's health as this process last measured it: reachable?, in recovery?, replay lag.

Contract:
- `ReplicaHealth.verdict()` answers from memory whether reads may go to the replica now: `usable`, or why
  not (`replica_down`: its check failed or timed out, or it is not in recovery, i.e. not a replica;
  `replica_lagging`: its lag is above `SEAWALL_DATABASE_REPLICA_MAX_LAG_SECONDS`). It never waits on the
  network once the first check is done: when the last check is older than
  `SEAWALL_DATABASE_REPLICA_CHECK_INTERVAL_SECONDS`, one check starts in the background and the previous
  verdict serves meanwhile. So a process asks the replica at most once per interval, not once per request.
  Only the process's first call waits for its first check (at most `CHECK_TIMEOUT_SECONDS`).
- A check is one query on the replica, PostgreSQL's standard form: the lag is 0 when it has replayed
  everything it received (`pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()`), else the age of the last
  transaction it replayed (`now() - pg_last_xact_replay_timestamp()`); plus `pg_is_in_recovery()`. A replica
  that receives nothing (its primary is gone) and has replayed all it has reads as lag 0: the lag says how
  far replay trails what arrived, not how far the primary is ahead (that only the primary can tell).
- `report_failure(error)` (a routed read failed on the replica) turns the verdict to `replica_down` at once,
  until the next check, which is due at once.
- Each verdict change is one log line (`replica.fallback_to_primary` with the reason and lag,
  `replica.restored` when reads return), never one per request; `seawall_db_replica_lag_seconds` and
  `seawall_db_replica_fallback` follow every check.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy import text

from seawall.observability.metrics import METRICS
from seawall.replicas.engine import ReplicaEngine

log = structlog.get_logger("seawall.replicas")

CHECK_TIMEOUT_SECONDS = 2.0
LAG_QUERY = text(
    "SELECT pg_is_in_recovery() AS in_recovery, "
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END AS lag_seconds")

Verdict = Literal["usable", "replica_down", "replica_lagging"]


@dataclass(frozen=True)
class ReplicaState:
    """One check's outcome. `lag_seconds` is None when the check failed; `error` says why."""

    verdict: Verdict
    in_recovery: bool | None
    lag_seconds: float | None
    error: str | None
    checked_at: float  # time.monotonic()


async def measure(engine: ReplicaEngine, *, max_lag_seconds: float,
                  timeout_seconds: float = CHECK_TIMEOUT_SECONDS) -> ReplicaState:
    """Check the replica once (bounded by `timeout_seconds`); never raises for the replica's failures."""
    try:
        async with asyncio.timeout(timeout_seconds):
            async with engine.engine.connect() as connection:
                row = (await connection.execute(LAG_QUERY)).one()
    except Exception as exc:  # any failure to answer is "down": the reason goes to the log and doctor
        detail = next(iter(str(exc).strip().splitlines()), "") or "no answer"
        return ReplicaState("replica_down", None, None, f"{type(exc).__name__}: {detail}"[:300], time.monotonic())
    lag = max(0.0, float(row.lag_seconds))
    if not row.in_recovery:
        return ReplicaState("replica_down", False, lag, "not in recovery: the server is not a replica "
                            "(promoted?); reads stay on the primary", time.monotonic())
    verdict: Verdict = "replica_lagging" if lag > max_lag_seconds else "usable"
    return ReplicaState(verdict, True, lag, None, time.monotonic())


class ReplicaHealth:
    def __init__(self, engine: ReplicaEngine, *, max_lag_seconds: float, check_interval_seconds: float) -> None:
        self.engine = engine
        self.max_lag_seconds = max_lag_seconds
        self.check_interval_seconds = check_interval_seconds
        self.state: ReplicaState | None = None
        self._check: asyncio.Task[ReplicaState] | None = None

    async def verdict(self) -> Verdict:
        """Whether reads may go to the replica now (see the module's contract)."""
        state = self.state
        if state is not None and time.monotonic() - state.checked_at < self.check_interval_seconds:
            return state.verdict
        check = self._check
        if check is None or check.done():
            check = self._check = asyncio.create_task(self._run_check(), name="seawall-replica-check")
        if state is None:
            return (await asyncio.shield(check)).verdict
        return state.verdict

    async def check_now(self) -> ReplicaState:
        """Check at once and wait for the outcome (doctor, tests)."""
        return await self._run_check()

    def report_failure(self, error: BaseException) -> None:
        """A read routed to the replica failed: reads go to the primary until the next check (due now)."""
        detail = next(iter(str(error).strip().splitlines()), "") or "no answer"
        self._record(ReplicaState("replica_down", None, None, f"{type(error).__name__}: {detail}"[:300],
                                  time.monotonic() - self.check_interval_seconds))

    async def _run_check(self) -> ReplicaState:
        state = await measure(self.engine, max_lag_seconds=self.max_lag_seconds)
        self._record(state)
        return state

    def _record(self, state: ReplicaState) -> None:
        previous = self.state
        self.state = state
        if state.lag_seconds is not None:
            METRICS.db_replica_lag.set(state.lag_seconds)
        METRICS.db_replica_fallback.set(0 if state.verdict == "usable" else 1)
        was = previous.verdict if previous is not None else "usable"
        if state.verdict == was:
            return
        if state.verdict == "usable":
            log.info("replica.restored", replica=self.engine.url_text, lag_seconds=state.lag_seconds,
                     after=was)
        else:
            log.warning("replica.fallback_to_primary", replica=self.engine.url_text, reason=state.verdict,
                        lag_seconds=state.lag_seconds, max_lag_seconds=self.max_lag_seconds, error=state.error)

    async def aclose(self) -> None:
        if self._check is not None and not self._check.done():
            self._check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._check
