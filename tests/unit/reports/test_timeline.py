"""Promise: the sampler records each probe's rows at start, on its interval and at stop, off the caller's
thread, and survives a failing probe; the per-bucket aggregations give the percentiles and rates they name."""

from __future__ import annotations

import threading
import time

import pytest

from seawall.reports.timeline import (
    COUNTER,
    LATENCY,
    QUEUE,
    Sampler,
    Timeline,
    bucket_seconds_for,
    counter_rate,
    events_per_second,
    latency_percentiles,
    nearest_rank,
)


class CountingProbe:
    name = "counting"

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.closed = False
        self.calls = 0

    async def sample(self, timeline: Timeline, at: float) -> None:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        timeline.add(QUEUE, "queued", self.calls, at)

    async def aclose(self) -> None:
        self.closed = True


class BrokenProbe:
    name = "broken"

    async def sample(self, timeline: Timeline, at: float) -> None:
        raise ConnectionError("server gone")

    async def aclose(self) -> None:
        return None


def test_the_sampler_samples_at_start_on_its_interval_and_at_stop_on_its_own_thread() -> None:
    timeline = Timeline()
    probe = CountingProbe()
    with Sampler(timeline, [probe], interval=0.05):
        time.sleep(0.3)
    rows = timeline.of_kind(QUEUE)["queued"]
    assert 4 <= len(rows) <= 9  # start + ~5 ticks + the last one, on a loaded machine fewer ticks
    assert [value for _, value in rows] == list(range(1, len(rows) + 1))
    assert probe.threads == {"seawall-report-sampler"} and probe.closed


def test_a_failing_probe_is_counted_and_the_others_keep_sampling() -> None:
    timeline = Timeline()
    sampler = Sampler(timeline, [BrokenProbe(), CountingProbe()], interval=0.05)
    with sampler:
        time.sleep(0.12)
    assert len(timeline.of_kind(QUEUE)["queued"]) >= 2
    assert sampler.failures["broken"] >= 2
    assert len(timeline.notes) == 1  # written at stop
    assert timeline.notes[0].startswith("broken: ") and "ConnectionError: server gone" in timeline.notes[0]


def test_start_returns_once_the_first_sample_is_in() -> None:
    """So a bench can release its workers right after, and the chart still shows the full queue."""
    timeline = Timeline()
    sampler = Sampler(timeline, [CountingProbe()], interval=10)
    sampler.start()
    try:
        assert [value for _, value in timeline.of_kind(QUEUE)["queued"]] == [1]
    finally:
        sampler.stop()
    assert len(timeline.of_kind(QUEUE)["queued"]) == 2  # and the last one at stop, without waiting 10 s


def test_stop_without_start_does_nothing() -> None:
    Sampler(Timeline(), [CountingProbe()]).stop()


def test_latency_percentiles_per_bucket_are_nearest_rank_in_milliseconds() -> None:
    origin = 1000.0
    rows = [(origin + 0.1, i / 1000) for i in range(1, 101)] + [(origin + 1.5, 0.5)]
    buckets = latency_percentiles(rows, origin=origin, bucket_seconds=1.0)
    assert [(b.t, b.p50_ms, b.p95_ms, b.p99_ms, b.count) for b in buckets] == [
        (0.5, 50.0, 95.0, 99.0, 100), (1.5, 500.0, 500.0, 500.0, 1)]
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0 and nearest_rank([7.0], 0.99) == 7.0


def test_events_per_second_counts_every_bucket_up_to_the_end_including_empty_ones() -> None:
    rows = [(10.1, 0.0), (10.2, 0.0), (10.7, 0.0), (11.6, 0.0)]
    assert events_per_second(rows, origin=10.0, end=12.4, bucket_seconds=0.5) == [
        (0.25, 4.0), (0.75, 2.0), (1.25, 0.0), (1.75, 2.0), (2.25, 0.0)]
    assert events_per_second([], origin=0.0, end=1.0, bucket_seconds=1.0) == []  # no series, no zeros


def test_counter_rate_is_the_slope_between_samples_and_skips_resets() -> None:
    rows = [(100.0, 0.0), (100.5, 10.0), (101.0, 10.0), (101.5, 4.0), (102.0, 9.0)]
    assert counter_rate(rows, origin=100.0) == [(0.5, 20.0), (1.0, 0.0), (2.0, 10.0)]


@pytest.mark.parametrize(("span", "bucket"), [(600.0, 1.0), (20.0, 1.0), (12.0, 0.5), (3.0, 0.1), (0.2, 0.1)])
def test_buckets_are_one_second_unless_the_run_is_too_short_to_draw_a_curve(span: float, bucket: float) -> None:
    assert bucket_seconds_for(span) == bucket


def test_rows_and_phases_extend_the_timeline_end() -> None:
    timeline = Timeline(started_at=50.0)
    assert timeline.ended_at == 50.0
    timeline.add(LATENCY, "requests", 0.01, at=52.0)
    timeline.add(COUNTER, "jobs succeeded", 3, at=51.0)
    timeline.add_phase("pass", 50.0, 53.0)
    assert timeline.ended_at == 53.0
