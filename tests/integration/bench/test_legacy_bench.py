"""`seawall bench legacy` runs its three passes for real (CI-sized: one second each, the Python load
generator) and every forwarded request is answered by the upstream: no failure is hidden in a figure."""

from __future__ import annotations

from seawall.bench.legacy import LegacyBenchOptions, run


def test_the_three_passes_forward_every_request_and_report_cpu_per_request() -> None:
    report = run(LegacyBenchOptions(duration=1.0, warmup=0.0, concurrency=4, load_generator="python"))
    for name in ("seawall", "peer", "ceiling"):
        figures = report[name]
        assert figures["requests"] > 0, name
        assert figures["non_2xx"] == 0 and figures["errors"] == 0, (name, figures)
        assert figures["cpu_ms_per_request"] > 0, name
        assert figures["upstream_cpu_ms_per_request"] is not None, name
    # The upstream did the same work per request in every pass; the proxies did more than nothing.
    assert report["seawall"]["cpu_ms_per_request"] > report["ceiling"]["cpu_ms_per_request"]
    assert report["ratios"]["seawall_to_peer_cpu_per_request"] is not None
