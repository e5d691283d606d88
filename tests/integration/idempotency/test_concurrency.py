"""A key still in flight answers 409 to concurrent requests: proven on a real server process."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.accounts.wire import STRONG_PASSWORD, assert_error, new_email, new_key
from tests.integration.idempotency.processes import count_users, log_in, post_signup
from tests.support.server import ServerFactory

CONCURRENT_REQUESTS = 8

# The helpers read the server's embedded SQLite file directly.
pytestmark = pytest.mark.sqlite_only


def test_concurrent_requests_with_one_key_run_it_once_and_get_409_or_the_replay(
    servers: ServerFactory, var_dir: Path
) -> None:
    # Slow password hashing keeps the first request in flight while the others arrive.
    server = servers.start("serve", env={"SEAWALL_ARGON2_TIME_COST": "40"})
    email, key = new_email("racer"), new_key()
    barrier = threading.Barrier(CONCURRENT_REQUESTS)

    def send() -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=60.0) as http:
            http.get("/livez")  # connect before the barrier, so the POSTs leave together
            barrier.wait(timeout=30)
            return http.post("/v1/signups", json={"email": email, "password": STRONG_PASSWORD},
                             headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=CONCURRENT_REQUESTS) as pool:
        responses = list(pool.map(lambda _i: send(), range(CONCURRENT_REQUESTS)))

    originals = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    conflicts = [r for r in responses if r.status_code == 409]
    replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(originals) == 1, [(r.status_code, r.text) for r in responses]
    assert len(conflicts) >= 1, [(r.status_code, r.text) for r in responses]
    assert len(originals) + len(conflicts) + len(replays) == CONCURRENT_REQUESTS
    for conflict in conflicts:
        assert_error(conflict, 409, "idempotency_in_flight")
    for replay in replays:
        assert replay.status_code == 201
        assert replay.json() == originals[0].json()

    # Once the first request has finished, the key replays it.
    settled = post_signup(server.base_url, key=key, email=email, password=STRONG_PASSWORD)
    assert settled.status_code == 201
    assert settled.headers["idempotent-replayed"] == "true"
    assert settled.json() == originals[0].json()

    assert count_users(var_dir) == 1
    assert log_in(server.base_url, email=email, password=STRONG_PASSWORD).status_code == 201
