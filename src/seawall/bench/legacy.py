"""`seawall bench legacy`: what forwarding a request through the legacy bridge costs, against a
naive Python proxy and the upstream alone, in one run.

Three real processes under uvicorn with the same event loop and HTTP parser (uvloop, httptools when
installed): the stand-in upstream (`proxy_peers.create_upstream`: reads the body, answers a small
fixed JSON), then, in this order, each after a warm-up that is not counted, closed-loop load (wrk,
else Python) of `POST /bench/forwarded` with a JSON body of `body_bytes`:
1. Seawall: `seawall api` (embedded default, `SEAWALL_LEGACY_UPSTREAM` = the upstream, no route
   table: every request is forwarded), the whole bridge — route lookup, the resilience policy,
   forwarding headers, request id, access log and metrics;
2. the naive peer (`proxy_peers.create_naive_proxy`): a Starlette catch-all streaming through one
   pooled httpx client, nothing else;
3. the ceiling: the same load straight at the upstream.
CPU per request is the user + system time of the proxy's processes over the measured window,
divided by the responses in it (`ProcessGroupMeter`); the upstream's own CPU per request is given
for each pass too (it should not move between passes). RSS is the largest proxy process's.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seawall.bench import load
from seawall.bench.databases import BenchDatabase
from seawall.bench.meter import ProcessGroupMeter
from seawall.bench.write import Measured, _closed_loop, _measure, _ratio, _start_seawall, start_uvicorn
from seawall.cli.demo.processes import DemoProcess

PATH = "/bench/forwarded"


@dataclass(frozen=True)
class LegacyBenchOptions:
    """Run shape. Seconds are wall time; `load_generator` is "auto" (wrk when on PATH), "wrk" or "python"."""

    api_workers: int = 1
    concurrency: int = 32
    duration: float = 8.0
    warmup: float = 2.0
    body_bytes: int = 1024
    load_generator: str = "auto"
    seawall_python: str = sys.executable  # another install's interpreter: measure that build (before/after)


def _pass(proxy: DemoProcess, upstream: DemoProcess, body: str, options: LegacyBenchOptions,
          generator: str) -> tuple[Measured, float | None]:
    """One measured pass at `proxy`: its figures, and the upstream's CPU ms per request in the pass."""
    target = load.PostTarget(url=f"{proxy.base_url}{PATH}", body=body)
    if options.warmup > 0:
        _closed_loop(target, generator=generator, connections=options.concurrency, seconds=options.warmup)
    upstream_meter = ProcessGroupMeter([upstream.process.pid])
    before = upstream_meter.read()
    measured = _measure([proxy.process.pid], lambda: _closed_loop(
        target, generator=generator, connections=options.concurrency, seconds=options.duration))
    upstream_cpu = upstream_meter.read().cpu_seconds_since(before)
    requests = measured.result.requests
    return measured, (round(1000 * upstream_cpu / requests, 3) if requests else None)


def run(options: LegacyBenchOptions) -> dict[str, Any]:
    generator = ("wrk" if load.wrk_path() else "python") if options.load_generator == "auto" else options.load_generator
    body = json.dumps({"padding": "x" * max(0, options.body_bytes - 16)})
    passes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="seawall-bench-legacy-") as temp, BenchDatabase.create(None) as database:
        directory = Path(temp)
        upstream = start_uvicorn(directory, "upstream", "seawall.bench.proxy_peers:create_upstream", workers=1, env={},
                                 ready_path=PATH)
        try:
            seawall_dir = directory / "seawall"
            seawall_dir.mkdir()
            seawall = _start_seawall(seawall_dir, database, options.api_workers, options.seawall_python, settings={
                "SEAWALL_LEGACY_UPSTREAM": upstream.base_url,
                "SEAWALL_LEGACY_MAX_CONCURRENT_REQUESTS": str(max(100, options.concurrency * 2)),
            })
            try:
                passes["seawall"] = _pass(seawall, upstream, body, options, generator)
            finally:
                seawall.stop()
            peer = start_uvicorn(directory, "peer", "seawall.bench.proxy_peers:create_naive_proxy",
                                 workers=options.api_workers, env={"SEAWALL_BENCH_PEER_UPSTREAM": upstream.base_url},
                                 ready_path=PATH)
            try:
                passes["peer"] = _pass(peer, upstream, body, options, generator)
            finally:
                peer.stop()
            passes["ceiling"] = _pass(upstream, upstream, body, options, generator)
        finally:
            upstream.stop()
    figures = {name: {**measured.figures(), "upstream_cpu_ms_per_request": upstream_ms}
               for name, (measured, upstream_ms) in passes.items()}
    seawall_cpu = figures["seawall"]["cpu_ms_per_request"]
    peer_cpu = figures["peer"]["cpu_ms_per_request"]
    return {
        "config": {"api_workers": options.api_workers, "concurrency": options.concurrency,
                   "duration_seconds": options.duration, "warmup_seconds": options.warmup,
                   "body_bytes": len(body), "load_generator": generator, "seawall_python": options.seawall_python,
                   "order": "seawall, peer, ceiling (the upstream alone); one upstream process for all three"},
        **figures,
        "ratios": {
            "seawall_to_peer_cpu_per_request": _ratio(seawall_cpu or 0.0, peer_cpu or 0.0),
            "seawall_to_peer_requests_per_second": _ratio(figures["seawall"]["requests_per_second"],
                                                          figures["peer"]["requests_per_second"]),
            "seawall_to_ceiling_requests_per_second": _ratio(figures["seawall"]["requests_per_second"],
                                                             figures["ceiling"]["requests_per_second"]),
        },
    }
