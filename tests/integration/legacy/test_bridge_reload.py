"""Promise (issue 16, deliverable 1): the route table is reloaded without a restart — on SIGHUP, and
when its file changes (polled) — while a load of concurrent requests runs: no request fails, and the
new table takes effect. A refused file keeps the table in use. Real processes: legacy app, `seawall api`.

The probe is `GET /v1/me`: forwarded, the legacy app echoes it (200); named `seawall`, Seawall answers
its own 401. Any other answer, or a transport error, is a failed request."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.legacy.bridge_rig import BridgeRig

SEAWALL_ME = """
[[route]]
path = "/v1/me"
methods = ["GET"]
mode = "seawall"
"""
LEGACY_ME = """
[[route]]
path = "/v1/me"
mode = "legacy"
"""
BAD = """
[[route]]
path = "/v1/me"
mode = "elsewhere"
"""


class Load:
    """Threads sending GET /v1/me in a loop; each answer recorded as "legacy", "seawall" or a failure."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.stop = threading.Event()
        self.results: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            while not self.stop.is_set():
                try:
                    answer = client.get("/v1/me")
                    if answer.status_code == 200 and answer.json().get("path") == "/v1/me":
                        outcome = "legacy"
                    elif answer.status_code == 401 and "error" in answer.json():
                        outcome = "seawall"
                    else:
                        outcome = f"failed: {answer.status_code} {answer.text[:200]}"
                except httpx.HTTPError as exc:
                    outcome = f"failed: {type(exc).__name__}"
                with self.lock:
                    self.results.append((time.monotonic(), outcome))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def last_outcomes_after(self, moment: float) -> Counter[str]:
        with self.lock:
            return Counter(outcome for at, outcome in self.results if at > moment)

    def failures(self) -> list[str]:
        with self.lock:
            return [outcome for _, outcome in self.results if outcome.startswith("failed")]


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the new table did not take effect"
        time.sleep(0.05)


def switched_to(load: Load, outcome: str) -> Callable[[], bool]:
    def check() -> bool:
        moment = time.monotonic()
        time.sleep(0.2)
        seen = load.last_outcomes_after(moment)
        return bool(seen) and set(seen) == {outcome}
    return check


@pytest.fixture
def polled_rig(tmp_path: Path) -> Iterator[BridgeRig]:
    with BridgeRig.start(tmp_path, routes=LEGACY_ME, env={"SEAWALL_LEGACY_ROUTES_RELOAD_SECONDS": "0.1"}) as rig:
        yield rig


@pytest.fixture
def signalled_rig(tmp_path: Path) -> Iterator[BridgeRig]:
    with BridgeRig.start(tmp_path, routes=LEGACY_ME) as rig:
        yield rig


def test_sighup_reloads_the_table_under_load_without_failing_a_request(signalled_rig: BridgeRig) -> None:
    rig = signalled_rig
    assert rig.server is not None
    with Load(rig.url) as load:
        wait_for(switched_to(load, "legacy"))
        rig.write_routes(SEAWALL_ME)
        time.sleep(0.5)
        assert switched_to(load, "legacy")(), "reloaded without a signal (polling is off)"
        rig.server.signal(signal.SIGHUP)
        wait_for(switched_to(load, "seawall"))

        rig.write_routes(BAD)  # refused: the table in use stays, the process lives on
        rig.server.signal(signal.SIGHUP)
        time.sleep(0.5)
        assert switched_to(load, "seawall")()

        rig.write_routes(LEGACY_ME)
        rig.server.signal(signal.SIGHUP)
        wait_for(switched_to(load, "legacy"))
    assert load.failures() == []
    assert len(load.results) > 100, len(load.results)
    assert rig.server.process.poll() is None
    log = rig.server.log()
    assert log.count("legacy.routes_refused") == 1 and "mode` must be one of" in log


def test_a_changed_file_is_picked_up_under_load_without_failing_a_request(polled_rig: BridgeRig) -> None:
    rig = polled_rig
    with Load(rig.url) as load:
        wait_for(switched_to(load, "legacy"))
        rig.write_routes(SEAWALL_ME)
        wait_for(switched_to(load, "seawall"))
        rig.write_routes(BAD)
        time.sleep(0.5)
        assert switched_to(load, "seawall")()
        rig.write_routes(LEGACY_ME)
        wait_for(switched_to(load, "legacy"))
    assert load.failures() == []
    assert len(load.results) > 100, len(load.results)
    assert rig.server is not None and rig.server.log().count("legacy.routes_refused") == 1
