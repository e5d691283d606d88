"""`seawall bench write --metrics-cost`: what the metrics cost on the write path, in one sitting.

The same `POST /v1/payments` load as `bench write`'s first step, against `seawall api` started
alternately with `SEAWALL_METRICS_ENABLED=false` and `=true` (tracing off in both:
`OTEL_SDK_DISABLED=true`), `rounds` times each, on one fresh database. Alternating spreads the
machine's drift (shared, noisy hosts move 2–10× within the hour) over both arms rather than onto one.

The figure is server CPU per request (user + system time of every serving process over the measured
window, divided by the responses), each arm's mean over its rounds, and their ratio. Issue 13's budget
is a ratio of at most 1.05.

With a `timeline` (`--html`): the jobs table is sampled from the first server's start as in `bench
write`, each measured pass is a phase named after its arm and round, and the Python generator's
responses are recorded under the arm's name.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import Any

from seawall.bench import load
from seawall.bench.databases import BenchDatabase
from seawall.bench.write import (
    PAYMENT_BODY,
    Measured,
    WriteBenchOptions,
    _closed_loop,
    _generator,
    _measure,
    _sign_in,
    _start_sampler,
    _start_seawall,
    _warm_up,
)
from seawall.reports.timeline import Sampler, Timeline

BUDGET_RATIO = 1.05  # issue 13: metrics on costs at most 5 % more server CPU per request than off
ARMS = {"metrics_off": "false", "metrics_on": "true"}


def _one_pass(directory: Path, database: BenchDatabase, options: WriteBenchOptions, *, generator: str,
              metrics: str, timeline: Timeline | None = None, phase: str = "",
              on_ready: Callable[[], None] | None = None) -> Measured:
    """One measured pass; `on_ready` is called once the server is up (the report's sampler starts there)."""
    settings = {"SEAWALL_METRICS_ENABLED": metrics, "OTEL_SDK_DISABLED": "true"}
    api = _start_seawall(directory, database, options.api_workers, options.seawall_python, settings)
    try:
        if on_ready is not None:
            on_ready()
        _user_id, token = _sign_in(api.base_url)
        target = load.PostTarget(url=f"{api.base_url}/v1/payments", body=json.dumps(PAYMENT_BODY), token=token)
        _warm_up(target, generator=generator, options=options)
        return _measure([api.process.pid], lambda: _closed_loop(
            target, generator=generator, connections=options.concurrency, seconds=options.duration,
            timeline=timeline, series=phase), timeline=timeline, phase=phase)
    finally:
        api.stop()


def run(options: WriteBenchOptions, *, rounds: int = 2, timeline: Timeline | None = None) -> dict[str, Any]:
    """Every pass's figures, in the order run, and each arm's mean CPU ms per request and their ratio.
    `timeline`: also record the run for the HTML report (see the module docstring)."""
    generator = _generator(options)
    passes: list[dict[str, Any]] = []
    cpu: dict[str, list[float]] = {arm: [] for arm in ARMS}
    sampler: Sampler | None = None
    with tempfile.TemporaryDirectory(prefix="seawall-bench-metrics-") as temp, \
            BenchDatabase.create(options.database_url) as database:

        def start_sampling() -> None:  # once: the first server has made and migrated the database
            nonlocal sampler
            if sampler is None:
                sampler = _start_sampler(timeline, database, Path(temp))

        try:
            for round_number in range(1, rounds + 1):
                for arm, enabled in ARMS.items():
                    figures = _one_pass(Path(temp), database, options, generator=generator, metrics=enabled,
                                        timeline=timeline, phase=f"{arm}, round {round_number}",
                                        on_ready=start_sampling).figures()
                    passes.append({"arm": arm, "round": round_number, **figures})
                    if figures["cpu_ms_per_request"] is not None:
                        cpu[arm].append(figures["cpu_ms_per_request"])
        finally:
            if sampler is not None:
                sampler.stop()
    means = {arm: round(mean(values), 3) if values else None for arm, values in cpu.items()}
    off, on = means["metrics_off"], means["metrics_on"]
    ratio = round(on / off, 3) if on is not None and off else None
    return {
        "config": {"database": database.kind, "api_workers": options.api_workers, "concurrency": options.concurrency,
                   "duration_seconds": options.duration, "warmup_seconds": options.warmup, "rounds": rounds,
                   "load_generator": generator, "seawall_python": options.seawall_python,
                   "tracing": "off (OTEL_SDK_DISABLED=true)"},
        "passes": passes,
        "cpu_ms_per_request": means,
        "metrics_on_to_off": ratio,
        "budget_ratio": BUDGET_RATIO,
        "within_budget": ratio is not None and ratio <= BUDGET_RATIO,
    }
