"""Time series recorded during a demo or bench run, and their per-bucket aggregations.

A `Timeline` holds rows `(t, value)` per series, `t` in epoch seconds (`time.time()`), of four kinds:
- `LATENCY`: one row per completed operation, at its completion, `value` its latency in seconds;
- `QUEUE`: sampled jobs in one state (a count);
- `BREAKER`: sampled circuit-breaker state of one provider route, as its `BREAKER_LEVELS` number;
- `COUNTER`: a sampled cumulative total (jobs succeeded), drawn as a rate per second.
and `phases`: named windows of the run (start, end, and for a load generator that reports one
histogram per pass, wrk, that pass's p50/p95/p99 in ms).

`Sampler` runs probes (`Probe.sample`) on a thread of its own with its own event loop: once at
start, every `interval` seconds, and once at stop. So sampling never runs on the measured code's
event loop, and none happens at all unless a command makes a sampler (only with `--html`).
Appends are guarded by one lock; the recording side costs one tuple per operation.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

LATENCY = "latency"
QUEUE = "queue"
BREAKER = "breaker"
COUNTER = "counter"
KINDS = (LATENCY, QUEUE, BREAKER, COUNTER)

# Resilience4j's states (`seawall.resilience.breaker.BreakerState` values), ordered by how closed
# the provider is to traffic: the breaker chart's y axis.
BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}

Row = tuple[float, float]  # (epoch seconds, value)


@dataclass(frozen=True)
class Phase:
    """A named window of the run in epoch seconds; `percentiles_ms`: {"p50", "p95", "p99"} of the
    whole window when the load generator reports no time series (wrk), else None."""

    name: str
    start: float
    end: float
    percentiles_ms: dict[str, float] | None = None


@dataclass
class Timeline:
    """Rows per `(kind, series name)`; `started_at` (epoch seconds) is the charts' time zero."""

    started_at: float = field(default_factory=time.time)
    series: dict[tuple[str, str], list[Row]] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sentences for the report: what was not sampled, and why
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, name: str, value: float, at: float | None = None) -> None:
        """Record one row; `at` defaults to now. Safe from any thread."""
        row = (time.time() if at is None else at, float(value))
        with self._lock:
            self.series.setdefault((kind, name), []).append(row)

    def add_phase(self, name: str, start: float, end: float,
                  percentiles_ms: dict[str, float] | None = None) -> None:
        with self._lock:
            self.phases.append(Phase(name, start, end, percentiles_ms))

    def of_kind(self, kind: str) -> dict[str, list[Row]]:
        """Series name → rows sorted by time, for one kind."""
        with self._lock:
            return {name: sorted(rows) for (k, name), rows in self.series.items() if k == kind}

    @property
    def ended_at(self) -> float:
        """The last row's or phase's time (or `started_at` when there is none)."""
        with self._lock:
            ends = [rows[-1][0] for rows in self.series.values() if rows]
            ends += [phase.end for phase in self.phases]
        return max([self.started_at, *ends])


# -- aggregations -----------------------------------------------------------------------------


NICE_BUCKETS = (0.1, 0.2, 0.25, 0.5, 1.0)


def bucket_seconds_for(span_seconds: float, *, points: int = 20) -> float:
    """One second per bucket, or less for a run shorter than `points` seconds (so it still shows a
    curve): the largest of NICE_BUCKETS that gives at least `points` buckets, 0.1 s at the least."""
    for size in reversed(NICE_BUCKETS):
        if span_seconds / size >= points:
            return size
    return NICE_BUCKETS[0]


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-quantile (0 < q <= 1) of an ascending, non-empty sequence."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class BucketPercentiles:
    """One bucket of a latency series: its middle (seconds since the run started), p50/p95/p99 in ms."""

    t: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    count: int


def _bucket_index(at: float, origin: float, bucket_seconds: float) -> int:
    return math.floor((at - origin) / bucket_seconds)


def latency_percentiles(rows: Iterable[Row], *, origin: float, bucket_seconds: float) -> list[BucketPercentiles]:
    """p50/p95/p99 of the latencies completed in each bucket (empty buckets left out)."""
    buckets: dict[int, list[float]] = {}
    for at, seconds in rows:
        buckets.setdefault(_bucket_index(at, origin, bucket_seconds), []).append(seconds)
    result = []
    for index in sorted(buckets):
        ordered = sorted(buckets[index])
        result.append(BucketPercentiles(
            t=round((index + 0.5) * bucket_seconds, 3),
            p50_ms=round(1000 * nearest_rank(ordered, 0.50), 2),
            p95_ms=round(1000 * nearest_rank(ordered, 0.95), 2),
            p99_ms=round(1000 * nearest_rank(ordered, 0.99), 2),
            count=len(ordered)))
    return result


def events_per_second(rows: Iterable[Row], *, origin: float, end: float, bucket_seconds: float) -> list[Row]:
    """Rows completed per second in each bucket from `origin` to `end`, empty buckets as 0:
    (bucket middle in seconds since `origin`, rate). No rows at all: an empty list (no series)."""
    counts = Counter(_bucket_index(at, origin, bucket_seconds) for at, _ in rows)
    last = max([_bucket_index(end, origin, bucket_seconds), *counts]) if counts else -1
    return [(round((index + 0.5) * bucket_seconds, 3), round(counts.get(index, 0) / bucket_seconds, 2))
            for index in range(0, last + 1)]


def counter_rate(rows: Sequence[Row], *, origin: float) -> list[Row]:
    """Per-second rate between consecutive samples of a cumulative counter, at the later sample
    (seconds since `origin`); a pair with no time between, or where the counter went down, is skipped."""
    rates = []
    for (t0, v0), (t1, v1) in zip(rows, rows[1:], strict=False):
        if t1 > t0 and v1 >= v0:
            rates.append((round(t1 - origin, 3), round((v1 - v0) / (t1 - t0), 2)))
    return rates


# -- sampling ---------------------------------------------------------------------------------


class Probe(Protocol):
    """Something the sampler reads: `sample` records rows (at `at`, epoch seconds) into `timeline`."""

    name: str

    async def sample(self, timeline: Timeline, at: float) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class Sampler:
    """Calls every probe once at `start()`, every `interval` seconds, and once at `stop()`.

    A probe that raises is counted in `failures` (probe name → count, with `first_failure` per
    name) and sampled again next time: a report with a gap beats a run that stops. `stop()` adds
    one note per failing probe to the timeline's `notes`.
    """

    timeline: Timeline
    probes: Sequence[Probe]
    interval: float = 0.5
    failures: Counter[str] = field(default_factory=Counter)
    first_failure: dict[str, str] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Start the sampling thread; returns once the first sample is taken (at most 10 s)."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="seawall-report-sampler",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """Take the last sample, close the probes and join the thread (at most `timeout` seconds)."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None
        self.timeline.notes.extend(self.failure_notes())

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self._sample_all()
            self._ready.set()  # start() returns once the first sample is in
            while True:
                try:
                    await asyncio.wait_for(self._stop.wait(), self.interval)
                except TimeoutError:
                    await self._sample_all()
                    continue
                await self._sample_all()
                return
        finally:
            self._ready.set()
            for probe in self.probes:
                try:
                    await probe.aclose()
                except Exception as exc:  # noqa: BLE001 (closing a probe must not hide the report)
                    self._fail(probe.name, exc)

    async def _sample_all(self) -> None:
        at = time.time()
        for probe in self.probes:
            try:
                await probe.sample(self.timeline, at)
            except Exception as exc:  # noqa: BLE001 (counted and shown in the report)
                self._fail(probe.name, exc)

    def _fail(self, name: str, exc: BaseException) -> None:
        self.failures[name] += 1
        self.first_failure.setdefault(name, f"{type(exc).__name__}: {exc}"[:300])

    def failure_notes(self) -> list[str]:
        """One sentence per probe that failed, for the report."""
        return [f"{name}: {count} sample(s) failed (first: {self.first_failure[name]})"
                for name, count in sorted(self.failures.items())]
