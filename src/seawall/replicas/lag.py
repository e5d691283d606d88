"""The replica's lag, measured against the primary's WAL position: pure arithmetic over samples, no I/O.

Contract:
- `PrimaryPositions.add(taken_at, lsn)` records that the primary was at WAL position `lsn` (bytes, as
  `pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')`) at `taken_at` (`time.monotonic()`, when its answer came).
  A sample at the same position as the newest one is not kept (the oldest time at a position is what
  counts, so an idle primary adds nothing); a position behind the newest (another primary: failover,
  restore) starts the history again from that sample.
- `PrimaryPositions.lag_seconds(replay_lsn, now=...)`: 0 when the replica's replay position has reached
  the newest sample (every sample must be taken before the replica was asked); else `now` minus the time
  of the oldest sample the replica has not reached: how long ago the primary was at a position the replica
  still has not replayed. It is a lower bound, short of the truth by at most the time between two samples
  (one check interval). A replica frozen in time (no WAL received) behind a primary that writes: the lag
  grows with the clock. An idle primary: 0, and the first write after the quiet period counts from the
  first sample that saw it, never from the replica's last replayed transaction. None without any sample.
- Samples the replica has reached are dropped (replay only moves forward); past `MAX_SAMPLES` unreached
  ones, every other one but the oldest and the newest is dropped, so the history spans the whole lag
  with a coarser step rather than forgetting where it began.

Why no library: this is the standard "compare the standby's replay LSN with the primary's current LSN"
of PostgreSQL's monitoring (`pg_stat_replication` does it on the primary per walsender), turned into a time
on the reader's side, where the primary's view of a replica it no longer hears from is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SAMPLES = 512


@dataclass(frozen=True)
class PrimarySample:
    taken_at: float  # time.monotonic()
    lsn: int  # bytes since 0/0


class PrimaryPositions:
    """A short history of the primary's WAL position, oldest first, each position at its first sighting."""

    def __init__(self) -> None:
        self.samples: list[PrimarySample] = []

    @property
    def newest(self) -> PrimarySample | None:
        return self.samples[-1] if self.samples else None

    def add(self, taken_at: float, lsn: int) -> None:
        newest = self.newest
        if newest is not None and lsn == newest.lsn:
            return
        if newest is not None and lsn < newest.lsn:
            self.samples.clear()
        self.samples.append(PrimarySample(taken_at, lsn))
        if len(self.samples) > MAX_SAMPLES:
            self.samples = [*self.samples[:-1:2], self.samples[-1]]

    def lag_seconds(self, replay_lsn: int, *, now: float) -> float | None:
        """Seconds the replica's replay trails the primary (see the module's contract); drops what it reached."""
        if not self.samples:
            return None
        unreached = [sample for sample in self.samples if sample.lsn > replay_lsn]
        if not unreached:
            self.samples = [self.samples[-1]]  # kept: the position a later sample is compared with
            return 0.0
        self.samples = unreached
        return max(0.0, now - unreached[0].taken_at)
