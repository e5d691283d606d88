"""The replica's health as this process last measured it: reachable?, in recovery?, replay lag.

Contract:
- `ReplicaHealth.verdict()` answers from memory whether reads may go to the replica now: `usable`, or why
  not (`replica_down`: its check failed or timed out, or it is not in recovery, i.e. not a replica;
  `replica_lagging`: its lag is above `SEAWALL_DATABASE_REPLICA_MAX_LAG_SECONDS`). It never waits on the
  network once the first check is done: when the last check is older than
  `SEAWALL_DATABASE_REPLICA_CHECK_INTERVAL_SECONDS`, one check starts in the background and the previous
  verdict serves meanwhile. So a process asks the replica (and the primary its position) at most once per
  interval, not once per request. Only the process's first call waits for its first check (at most
  `CHECK_TIMEOUT_SECONDS` per server).
- A check asks the primary first, then the replica, each bounded by `CHECK_TIMEOUT_SECONDS`: the primary's
  WAL position (`pg_current_wal_lsn()`, one short query on the `Database` engine), then the replica's
  `pg_is_in_recovery()` and replay position (`pg_last_wal_replay_lsn()`). The lag is measured against the
  primary's positions (`lag.PrimaryPositions`): 0 when the replica has replayed up to the primary's position
  of this check, else how long ago the primary was at the oldest sampled position the replica has not
  replayed (resolution: one check interval). So a replica that stops receiving WAL (a network split, its
  walreceiver down) reads as lagging more and more while the primary writes, and a replica of an idle
  primary reads 0, also right after the first write that ends a long quiet period.
- A primary that cannot be asked (down, slow, its pool exhausted: its own failures are handled where it is
  used) adds no sample; the replica is still asked (down? in recovery?), and its lag is measured against the
  samples held: it still grows for a replica that has not reached them; when it has, the previous check's
  lag stands, 0 if it had none (the replica cannot be shown current without the primary; with the primary
  down the replica is where reads can still be served). `ReplicaState.primary_error` says why.
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

from seawall.db import Database
from seawall.observability.metrics import METRICS
from seawall.replicas.engine import ReplicaEngine
from seawall.replicas.lag import PrimaryPositions

log = structlog.get_logger("seawall.replicas")

CHECK_TIMEOUT_SECONDS = 2.0
# WAL positions as bytes since 0/0 (pg_lsn's own difference), compared as integers here.
PRIMARY_POSITION_QUERY = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS lsn")
REPLICA_POSITION_QUERY = text(
    "SELECT pg_is_in_recovery() AS in_recovery, pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') AS replay_lsn")

Verdict = Literal["usable", "replica_down", "replica_lagging"]


@dataclass(frozen=True)
class ReplicaState:
    """One check's outcome. `lag_seconds` is None when the replica's check failed; `error` says why;
    `primary_error` why the primary's position could not be sampled (the lag then used the samples held)."""

    verdict: Verdict
    in_recovery: bool | None
    lag_seconds: float | None
    error: str | None
    checked_at: float  # time.monotonic()
    primary_error: str | None = None


def _reason(error: BaseException) -> str:
    detail = next(iter(str(error).strip().splitlines()), "") or "no answer"
    return f"{type(error).__name__}: {detail}"[:300]


class ReplicaHealth:
    """The replica's health in this process, from checks against `primary` (see the module's contract)."""

    def __init__(self, engine: ReplicaEngine, *, primary: Database, max_lag_seconds: float,
                 check_interval_seconds: float) -> None:
        self.engine = engine
        self.primary = primary
        self.max_lag_seconds = max_lag_seconds
        self.check_interval_seconds = check_interval_seconds
        self.positions = PrimaryPositions()
        self.state: ReplicaState | None = None
        self._check: asyncio.Task[ReplicaState] | None = None
        self._measuring = asyncio.Lock()  # one check at a time: samples are added in the order taken

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
        self._record(ReplicaState("replica_down", None, None, _reason(error),
                                  time.monotonic() - self.check_interval_seconds))

    async def measure(self) -> ReplicaState:
        """One check (primary, then replica; see the contract); never raises for either server's failures."""
        async with self._measuring:
            return await self._measure()

    async def _measure(self) -> ReplicaState:
        primary_error = None
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                primary_lsn = await self.primary_position()
            self.positions.add(time.monotonic(), primary_lsn)
        except Exception as exc:  # the primary's failures are handled where it is used: no sample this time
            primary_error = _reason(exc)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                in_recovery, replay_lsn = await self.replica_position()
        except Exception as exc:  # any failure to answer is "down": the reason goes to the log and doctor
            return ReplicaState("replica_down", None, None, _reason(exc), time.monotonic(), primary_error)
        now = time.monotonic()
        if not in_recovery or replay_lsn is None:
            return ReplicaState("replica_down", False, None, "not in recovery: the server is not a replica "
                                "(promoted?); reads stay on the primary", now, primary_error)
        lag = self.positions.lag_seconds(replay_lsn, now=now)
        previous = self.state
        if lag is None or (lag == 0 and primary_error is not None):
            lag = previous.lag_seconds if previous is not None and previous.lag_seconds is not None else 0.0
        verdict: Verdict = "replica_lagging" if lag > self.max_lag_seconds else "usable"
        return ReplicaState(verdict, True, lag, None, now, primary_error)

    async def primary_position(self) -> int:
        """The primary's WAL position now (bytes since 0/0); raises what the driver raises."""
        async with self.primary.read_engine.connect() as connection:
            return int((await connection.execute(PRIMARY_POSITION_QUERY)).scalar_one())

    async def replica_position(self) -> tuple[bool, int | None]:
        """(in recovery?, replay position in bytes since 0/0: None when not in recovery); raises what the
        driver raises."""
        async with self.engine.engine.connect() as connection:
            row = (await connection.execute(REPLICA_POSITION_QUERY)).one()
        return bool(row.in_recovery), None if row.replay_lsn is None else int(row.replay_lsn)

    async def _run_check(self) -> ReplicaState:
        state = await self.measure()
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
