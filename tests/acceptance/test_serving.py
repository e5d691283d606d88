"""Serving processes: a revoked session stops working within the documented bound across two `seawall
api` processes (each caches bearer-token lookups for `SEAWALL_SESSION_CACHE_SECONDS`), and `seawall
api --workers 2` serves from two processes that both drain on SIGTERM, exiting 0."""

from __future__ import annotations

import re
import signal
import threading
import time

import httpx
import psutil
import pytest

from tests.acceptance.test_logs import parsed_lines
from tests.integration.accounts.wire import STRONG_PASSWORD, bearer, new_email, new_key
from tests.support.server import ServerFactory

CACHE_SECONDS = 1.0
# The two processes and this test read one monotonic clock; this only absorbs rounding.
CLOCK_SLACK_SECONDS = 0.05


def test_a_session_revoked_through_one_api_process_stops_working_on_the_other_within_the_bound(
    servers: ServerFactory,
) -> None:
    env = {"SEAWALL_SESSION_CACHE_SECONDS": str(CACHE_SECONDS)}
    first, second = servers.start("api", env=env), servers.start("api", env=env)
    with httpx.Client(base_url=first.base_url, timeout=10) as a, httpx.Client(base_url=second.base_url,
                                                                               timeout=10) as b:
        email = new_email("revoked")
        signup = a.post("/v1/signups", json={"email": email, "password": STRONG_PASSWORD},
                        headers={"Idempotency-Key": new_key()})
        assert signup.status_code == 201, signup.text
        login = a.post("/v1/sessions", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 201, login.text
        token = login.json()["token"]
        assert b.get("/v1/me", headers=bearer(token)).status_code == 200  # B has cached the lookup
        assert a.get("/v1/me", headers=bearer(token)).status_code == 200  # and so has A

        assert a.delete("/v1/sessions/current", headers=bearer(token)).status_code == 204
        revoked_at = time.monotonic()  # the revocation has committed before A answers
        assert a.get("/v1/me", headers=bearer(token)).status_code == 401  # A: at once

        # B: every request sent once the bound has passed is refused (earlier ones may still pass).
        bound = revoked_at + CACHE_SECONDS + CLOCK_SLACK_SECONDS
        answers: list[tuple[float, int]] = []
        while time.monotonic() < bound + 1.0:
            sent_at = time.monotonic()
            answers.append((sent_at, b.get("/v1/me", headers=bearer(token)).status_code))
            time.sleep(0.02)
    late = [status for sent_at, status in answers if sent_at > bound]
    assert late and set(late) == {401}, answers
    assert {status for _, status in answers} <= {200, 401}, answers


def serving_processes(pid: int) -> list[psutil.Process]:
    """uvicorn's worker processes (multiprocessing spawn children, not its resource tracker)."""
    return [child for child in psutil.Process(pid).children()
            if any("spawn_main" in part for part in child.cmdline())]


def test_api_with_two_workers_serves_from_two_processes_and_drains_them_on_sigterm(
    servers: ServerFactory, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("one backend is enough for the process supervision")
    # A slow password hash keeps a login in flight while SIGTERM arrives.
    api = servers.start("api", args=["--workers", "2"], env={"SEAWALL_ARGON2_TIME_COST": "60"}, wait_ready=False)
    servers.wait_ready(api, timeout=120)  # three interpreters start at once on a possibly busy machine
    processes = serving_processes(api.process.pid)
    assert len(processes) == 2, api.log()
    deadline = time.monotonic() + 120
    while api.log().count("Application startup complete.") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api.log().count("Application startup complete.") == 2, api.log()
    assert api.log().count('"event_loop": "uvloop"') == 2, api.log()  # uvicorn's loop setup is not bypassed

    email = new_email("drain")
    with httpx.Client(base_url=api.base_url, timeout=60) as http:
        signup = http.post("/v1/signups", json={"email": email, "password": STRONG_PASSWORD},
                           headers={"Idempotency-Key": new_key()})
        assert signup.status_code == 201, signup.text

        in_flight: dict[str, int] = {}

        def log_in() -> None:
            in_flight["status"] = http.post("/v1/sessions", json={"email": email, "password": STRONG_PASSWORD}
                                            ).status_code

        login = threading.Thread(target=log_in)
        login.start()
        time.sleep(0.3)  # the login is being hashed in one of the processes
        api.signal(signal.SIGTERM)
        login.join(timeout=60)
    assert api.process.wait(timeout=60) == 0, api.log()
    assert in_flight.get("status") == 201, (in_flight, api.log())
    log = api.log()
    assert len(re.findall(r'"event": "app.stopped"', log)) == 2, log
    assert "Started parent process" in log and parsed_lines(log)  # the supervisor's lines and the children's: JSON
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE for process in processes)
