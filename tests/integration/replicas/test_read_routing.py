"""Promise (issue 15, Deliver 4): a signed-in user's reads that may be stale are served by the streaming
replica; the user's own reads right after their write, and every read while the replica is down or
lagging past the bound, are served by the primary, with a log line and `seawall_db_reads_total`; no
replica failure becomes a 500.

On the real CI replica (`.ci/replica`; `SEAWALL_TEST_REPLICA_ADDRESS` overrides 127.0.0.1:5433). Which
database answered is proven at the boundary: with replay paused, a change committed on the primary is
seen only by reads the primary served. The lag is the replica's against the primary's WAL position: replay
paused while the primary writes is lag past the bound within a few checks; a write after a quiet period
longer than the bound is not. Bounds are small (lag 1 s, check every 0.1 s, window 1.5 s) so
each test takes a few seconds.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from seawall.accounts.service import user_view_key
from seawall.errors import ServiceUnavailableError
from seawall.replicas.report import replica_report
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import bearer, sign_up, token_for
from tests.integration.replicas.conftest import Replica, replica_url_of
from tests.support.apps import StartApp, asgi_client
from tests.support.logs import captured_logs
from tests.support.metrics import sample

pytestmark = pytest.mark.backends("postgres")

MAX_LAG = 1.0
CHECK_INTERVAL = 0.1
WINDOW = 1.5
PREFERENCES = "/v1/me/notification-preferences"
DEFAULT = ["email"]  # a user's channels until they (or anyone) set them


def bounds(database_url: str | None, **more: Any) -> dict[str, Any]:
    assert database_url is not None
    return {"database_replica_url": replica_url_of(database_url), "database_replica_max_lag_seconds": MAX_LAG,
            "database_replica_check_interval_seconds": CHECK_INTERVAL,
            "database_replica_read_your_writes_seconds": WINDOW, **more}


async def new_user(client: httpx.AsyncClient, name: str) -> tuple[str, dict[str, str]]:
    """(user id, auth headers) of a new signed-in user."""
    email = f"{name}-{time.monotonic_ns()}@example.com"
    signed_up = await sign_up(client, email)
    assert signed_up.status_code == 201, signed_up.text
    return signed_up.json()["user"]["id"], bearer(await token_for(client, email))


async def settled_users(client: httpx.AsyncClient, replica: Replica, *names: str) -> list[tuple[str, dict[str, str]]]:
    """New signed-in users whose log-ins' read-your-writes marks have ended, with the replica caught up."""
    users = [await new_user(client, name) for name in names]
    await asyncio.sleep(WINDOW)
    await replica.caught_up()
    return users


async def reads(client: httpx.AsyncClient, target: str, reason: str) -> float:
    scrape = await client.get("/metrics", headers=bearer(ADMIN_KEY))
    assert scrape.status_code == 200, scrape.text
    return sample(scrape.text, "seawall_db_reads_total", target=target, reason=reason)


async def channels(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get(PREFERENCES, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["channels"])


async def set_channels_behind_their_back(replica: Replica, user_id: str, value: str) -> None:
    """A change to the user's data that the user did not make (no read-your-writes mark), on the primary."""
    await replica.primary("INSERT INTO notification_preferences (user_id, channels, updated_at) "
                          "VALUES ($1, $2::json, now()) ON CONFLICT (user_id) DO UPDATE SET channels = $2::json",
                          user_id, value)


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_stale_reads_go_to_the_replica_and_a_writer_reads_their_own_write_from_the_primary(
    started_app: StartApp, replica: Replica, database_url: str | None,
) -> None:
    app = await started_app(**bounds(database_url))
    async with asgi_client(app) as client:
        (ada_id, ada), (bob_id, bob) = await settled_users(client, replica, "ada", "bob")  # both on the replica
        assert await channels(client, ada) == DEFAULT and await channels(client, bob) == DEFAULT
        served_by_replica = await reads(client, "replica", "replica")
        assert served_by_replica >= 2

        async with replica.paused():
            written = await client.put(PREFERENCES, headers=ada,
                                       json={"channels": ["sms"], "phone_number": "+15550100"})
            assert written.status_code == 200, written.text
            await set_channels_behind_their_back(replica, bob_id, '["console"]')

            # Ada wrote: her read goes to the primary and sees her write at once. Bob did not: his read, in the
            # same moment, is the replica's, which has not replayed the change made to his data.
            assert await channels(client, ada) == ["sms"]
            assert await channels(client, bob) == DEFAULT
            assert await reads(client, "primary", "read_your_writes") >= 1
            assert await reads(client, "replica", "replica") >= served_by_replica + 1
            own = (await client.get("/v1/me", headers=ada)).json()
            assert own["id"] == ada_id  # a cached view is routed too (and answered)

        await replica.caught_up()
        await asyncio.sleep(WINDOW)  # Ada's mark ends: the replica has her write by now
        assert await channels(client, ada) == ["sms"] and await channels(client, bob) == ["console"]


async def test_a_replica_lagging_past_the_bound_sends_reads_to_the_primary_and_says_so(
    started_app: StartApp, replica: Replica, database_url: str | None,
) -> None:
    app = await started_app(**bounds(database_url))
    async with asgi_client(app) as client:
        [(bob_id, bob)] = await settled_users(client, replica, "bob")
        runtime = app.state.runtime
        doctor = await replica_report(runtime.settings, runtime.database)  # what `seawall doctor` shows
        assert doctor["ok"] is True and doctor["in_recovery"] is True and doctor["reads_go_to"] == "replica"
        with captured_logs() as logs:
            async with replica.paused():
                await set_channels_behind_their_back(replica, bob_id, '["console"]')  # real lag from here
                await until(lambda: _lagging(runtime))
                assert await channels(client, bob) == ["console"]  # the primary's answer
                assert await reads(client, "primary", "replica_lagging") >= 1
                scrape = (await client.get("/metrics", headers=bearer(ADMIN_KEY))).text
                assert sample(scrape, "seawall_db_replica_lag_seconds") > MAX_LAG
                assert sample(scrape, "seawall_db_replica_fallback") == 1
            await replica.caught_up()
            await until(lambda: _usable(runtime))
            before = await reads(client, "replica", "replica")
            assert await channels(client, bob) == ["console"]
            assert await reads(client, "replica", "replica") == before + 1
            scrape = (await client.get("/metrics", headers=bearer(ADMIN_KEY))).text
            assert sample(scrape, "seawall_db_replica_fallback") == 0
    fallbacks = [line for line in logs.lines() if line["event"] == "replica.fallback_to_primary"]
    assert len(fallbacks) == 1, fallbacks  # on the change of state, not per request
    assert fallbacks[0]["reason"] == "replica_lagging" and fallbacks[0]["lag_seconds"] > MAX_LAG
    assert "replica.restored" in logs.events()


async def test_a_write_after_a_quiet_period_longer_than_the_bound_is_no_lag(
    started_app: StartApp, replica: Replica, database_url: str | None,
) -> None:
    """The lag is measured against the primary's WAL position: a primary that wrote nothing for longer than
    the bound has a replica 0 behind, and its next write counts from when a check first saw it (the age of
    the replica's last replayed transaction would read as the whole quiet period: a spurious fallback)."""
    app = await started_app(**bounds(database_url))
    health = app.state.runtime.reads.health
    with captured_logs() as logs:
        await replica.fresh()
        quiet_until = time.monotonic() + MAX_LAG * 2  # no write of this test's (other tests' may land)
        while time.monotonic() < quiet_until:
            state = await health.check_now()
            assert state.verdict == "usable", state
            await asyncio.sleep(CHECK_INTERVAL)
        await replica.on_replica("SELECT pg_wal_replay_pause()")  # the write below is not replayed yet
        try:
            await replica.primary("SELECT txid_current()")
            await replica.received()  # there, not replayed: its last replayed transaction is the quiet period's age
            behind = await health.check_now()
            assert behind.verdict == "usable" and behind.lag_seconds < MAX_LAG / 2, behind
        finally:
            await replica.on_replica("SELECT pg_wal_replay_resume()")
        await replica.caught_up()
        state = await health.check_now()
        assert state.verdict == "usable" and state.lag_seconds < MAX_LAG / 2, state
    assert "replica.fallback_to_primary" not in logs.events()


async def _lagging(runtime: Any) -> bool:
    return (await runtime.reads.health.check_now()).verdict == "replica_lagging"


async def _usable(runtime: Any) -> bool:
    return (await runtime.reads.health.check_now()).verdict == "usable"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_replica_that_is_down_sends_reads_to_the_primary_never_a_500(
    started_app: StartApp, replica: Replica, database_url: str | None,
) -> None:
    assert database_url is not None
    down = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/{database_url.rsplit('/', 1)[1]}"
    with captured_logs() as logs:
        app = await started_app(**bounds(database_url, database_replica_url=down))
        async with asgi_client(app) as client:
            _, ada = await new_user(client, "ada")
            await asyncio.sleep(WINDOW)
            from_replica = await reads(client, "replica", "replica")
            for path in ("/v1/me", PREFERENCES, "/v1/notifications", "/v1/payments", "/v1/webhook-endpoints"):
                response = await client.get(path, headers=ada)
                assert response.status_code == 200, (path, response.text)
            assert await reads(client, "primary", "replica_down") >= 5
            assert await reads(client, "replica", "replica") == from_replica
            doctor = await replica_report(app.state.runtime.settings, app.state.runtime.database)
            assert doctor["ok"] is False and "Connect" in str(doctor["error"]), doctor
    fallbacks = [line for line in logs.lines() if line["event"] == "replica.fallback_to_primary"]
    assert len(fallbacks) == 1 and fallbacks[0]["reason"] == "replica_down", fallbacks
    assert logs.events().count("replica.read_your_writes_per_process") == 1  # no Redis here: said at start


async def test_a_read_that_fails_on_the_replica_is_served_by_the_primary(
    started_app: StartApp, replica: Replica, database_url: str | None,
) -> None:
    """The replica passed its check, then stops answering before the next one: the read falls back."""
    app = await started_app(**bounds(database_url, database_replica_check_interval_seconds=60.0,
                                     database_replica_read_your_writes_seconds=61.0))
    async with asgi_client(app) as client:
        _, ada = await new_user(client, "ada")
        router = app.state.runtime.reads
        router.marks._until.clear()  # her log-in's mark: this test is about the replica, not the window
        assert await channels(client, ada) == DEFAULT
        assert router.health.state.verdict == "usable"
        errors, down = await reads(client, "primary", "replica_error"), await reads(client, "primary", "replica_down")
        _point_replica_at_a_closed_port(app)
        assert await channels(client, ada) == DEFAULT  # UserReads.read_transaction: the checkout fails
        assert router.health.state.verdict == "replica_down"  # at once, until the next check
        assert (await client.get("/v1/me", headers=ada)).status_code == 200
        assert await reads(client, "primary", "replica_down") == down + 1

        router.health.state = replace(router.health.state, verdict="usable", checked_at=time.monotonic())
        assert (await client.get("/v1/me", headers=ada)).status_code == 200  # UserReads.cached: the query fails
        assert await reads(client, "primary", "replica_error") == errors + 2


def _point_replica_at_a_closed_port(app: FastAPI) -> None:
    from seawall.replicas.engine import ReplicaEngine

    runtime = app.state.runtime
    settings = runtime.settings.model_copy(update={
        "database_replica_url": str(runtime.reads.replica.engine.url.set(port=closed_port()))})
    runtime.reads.replica = ReplicaEngine.build(settings)


@pytest.mark.backends("full")
async def test_read_your_writes_marks_in_redis_are_seen_by_another_api_process(
    started_app: StartApp, replica: Replica, database_url: str | None,
) -> None:
    first = await started_app(**bounds(database_url))
    second = await started_app(**bounds(database_url))
    def other_loads(key: tuple[str, ...]) -> int:
        return int(second.state.runtime.cache.stats.loads_by_key.get(key, 0))

    async with asgi_client(first) as one, asgi_client(second) as other:
        (ada_id, ada), (bob_id, bob) = await settled_users(one, replica, "ada", "bob")
        for _ in range(2):  # a view read from the replica is served, not cached (Redis here)
            assert (await other.get("/v1/me", headers=bob)).json()["id"] == bob_id
        assert other_loads(user_view_key(bob_id)) == 2
        async with replica.paused():
            written = await one.put(PREFERENCES, headers=ada, json={"channels": ["webhook"]})
            assert written.status_code == 200, written.text
            await set_channels_behind_their_back(replica, bob_id, '["console"]')
            assert await channels(other, ada) == ["webhook"]  # the other process saw her mark: primary
            assert await channels(other, bob) == DEFAULT  # his read there: the replica
            for _ in range(2):  # one read from the primary: cached as before
                assert (await other.get("/v1/me", headers=ada)).json()["id"] == ada_id
            assert other_loads(user_view_key(ada_id)) == 1


async def test_a_read_that_fails_on_the_replica_inside_the_route_is_a_503_and_takes_the_replica_out(
    started_app: StartApp, replica: Replica, database_url: str | None,
) -> None:
    """The `Depends` form hands the replica's session to the route: a failure there cannot be run again on the
    primary, so it is the one error shape's 503, and the next reads go to the primary."""
    app = await started_app(**bounds(database_url, database_replica_check_interval_seconds=60.0,
                                     database_replica_read_your_writes_seconds=61.0))
    router = app.state.runtime.reads
    reads_of_ada = router.for_user("usr_ada")
    with pytest.raises(ServiceUnavailableError):
        async with reads_of_ada.read_transaction() as session:
            assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True  # the replica's session
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))  # the replica fails it
    assert router.health.state.verdict == "replica_down"
    async with reads_of_ada.read_transaction() as session:
        assert await session.scalar(text("SELECT pg_is_in_recovery()")) is False  # the primary's
