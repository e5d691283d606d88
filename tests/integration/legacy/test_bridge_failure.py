"""Promise (issue 16, deliverable 3): failure stays local. With the legacy app killed, forwarded routes
answer 502 until the upstream's breaker opens, then 503 with `Retry-After` at once (no connection
attempt), while Seawall's own routes go on answering; the breaker lets traffic through again once
legacy is back. Real processes."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.legacy.bridge_rig import BridgeRig

ROUTES = """
[[route]]
path = "/v1/me"
mode = "seawall"
"""
WAIT_IN_OPEN_SECONDS = 2


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[BridgeRig]:
    with BridgeRig.start(tmp_path, routes=ROUTES, env={
        "SEAWALL_BREAKER_MINIMUM_NUMBER_OF_CALLS": "4",
        "SEAWALL_BREAKER_SLIDING_WINDOW_SIZE": "4",
        "SEAWALL_BREAKER_WAIT_DURATION_IN_OPEN_SECONDS": str(WAIT_IN_OPEN_SECONDS),
        "SEAWALL_BREAKER_PERMITTED_CALLS_IN_HALF_OPEN": "2",
    }) as started:
        yield started


def test_legacy_down_fails_fast_with_503_while_seawall_routes_answer(rig: BridgeRig) -> None:
    with httpx.Client(base_url=rig.url, timeout=10.0) as client:
        assert client.get("/legacy/page").status_code == 200
        rig.legacy.kill()
        statuses = []
        for _ in range(8):
            answer = client.get("/legacy/page")
            statuses.append(answer.status_code)
            if answer.status_code == 503:
                break
            assert answer.status_code == 502 and answer.json()["error"]["type"] == "bad_gateway"
        assert statuses[-1] == 503, statuses  # opened after the window's minimum of failed calls

        timings = []
        for _ in range(20):
            started = time.perf_counter()
            answer = client.get("/legacy/page")
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 503
            assert answer.json()["error"]["type"] == "upstream_unavailable"
            assert 1 <= int(answer.headers["retry-after"]) <= WAIT_IN_OPEN_SECONDS
        print(f"503 while open: median {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms")
        # Fast: no connection attempt, no timeout waited out (a loaded machine may stall any one request)
        assert statistics.median(timings) < 0.05 and max(timings) < 0.5

        me = client.get("/v1/me")  # Seawall's own route: its own 401, unaffected
        assert me.status_code == 401
        assert client.get("/livez").status_code == 200

        rig.legacy.restart()
        time.sleep(WAIT_IN_OPEN_SECONDS + 0.2)
        deadline = time.monotonic() + 5
        while client.get("/legacy/page").status_code != 200:  # half-open trial calls, then closed
            assert time.monotonic() < deadline, "the breaker did not let traffic through again"
            time.sleep(0.1)
        assert all(client.get("/legacy/page").status_code == 200 for _ in range(5))

