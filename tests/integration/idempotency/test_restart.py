"""Stored responses survive the process: a replay after a restart (graceful or SIGKILL) answers the same."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.accounts.wire import STRONG_PASSWORD, assert_error, new_email, new_key
from tests.integration.idempotency.processes import count_users, post_signup, stored_keys
from tests.support.server import ServerFactory

# The helpers read the server's embedded SQLite file directly.
pytestmark = pytest.mark.sqlite_only


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_replay_after_restart_returns_the_stored_response(
    servers: ServerFactory, var_dir: Path, stop: str
) -> None:
    email, key = new_email(), new_key()
    first_server = servers.start("serve")
    first = post_signup(first_server.base_url, key=key, email=email, password=STRONG_PASSWORD)
    assert first.status_code == 201, first.text
    if stop == "sigkill":
        first_server.kill()  # right after the 201 arrived: no chance to flush anything more
    else:
        assert first_server.stop() == 0

    second_server = servers.start("serve")
    replay = post_signup(second_server.base_url, key=key, email=email, password=STRONG_PASSWORD)
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()

    mismatch = post_signup(second_server.base_url, key=key, email=new_email(), password=STRONG_PASSWORD)
    assert_error(mismatch, 422, "idempotency_key_reused")
    assert count_users(var_dir) == 1


def test_request_killed_mid_flight_leaves_nothing_and_its_key_runs_again_at_once(
    servers: ServerFactory, var_dir: Path
) -> None:
    """The process dies while the request is in flight: nothing of it commits (the record, the
    business rows and the jobs share one transaction), so a retry with the key runs afresh at once."""
    email, key = new_email("crashed"), new_key()
    # Seconds of hashing per password, so the sign-up is in flight when the process dies. The server also
    # hashes once at start (the constant-work dummy): ~3 s idle, far longer on a loaded CI machine.
    doomed = servers.start("serve", env={"SEAWALL_ARGON2_TIME_COST": "200"}, wait_ready=False)
    ServerFactory.wait_ready(doomed, timeout=180.0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(post_signup, doomed.base_url, key=key, email=email, password=STRONG_PASSWORD)
        time.sleep(0.5)
        assert not pending.done(), pending.result().text
        doomed.kill()
        with pytest.raises(httpx.HTTPError):
            pending.result()
    assert count_users(var_dir) == 0
    assert stored_keys(var_dir) == []

    successor = servers.start("serve")
    retry = post_signup(successor.base_url, key=key, email=email, password=STRONG_PASSWORD)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    replay = post_signup(successor.base_url, key=key, email=email, password=STRONG_PASSWORD)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retry.json()
    assert count_users(var_dir) == 1
    assert stored_keys(var_dir) == [key]
