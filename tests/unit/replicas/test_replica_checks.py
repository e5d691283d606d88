"""A check of `ReplicaHealth` on fake servers (its two position queries replaced): the verdict from the lag
against the primary's positions, what a primary that cannot be asked leaves standing, and the routing
reason of a read whose read-your-writes mark cannot be looked up."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from seawall.redis_link import RedisLink
from seawall.replicas import health as health_module
from seawall.replicas.health import ReplicaHealth
from seawall.replicas.marks import WriteMarks
from seawall.replicas.routing import ReadRouter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeServers(ReplicaHealth):
    """The primary at `primary_lsn` (or raising `primary_down`), the replica replayed up to `replay_lsn`."""

    def __init__(self, *, max_lag_seconds: float = 1.0) -> None:
        super().__init__(object(), primary=object(), max_lag_seconds=max_lag_seconds,  # type: ignore[arg-type]
                         check_interval_seconds=0.1)
        self.primary_lsn, self.replay_lsn = 100, 100
        self.primary_down: Exception | None = None
        self.replica_down: Exception | None = None

    async def primary_position(self) -> int:
        if self.primary_down is not None:
            raise self.primary_down
        return self.primary_lsn

    async def replica_position(self) -> tuple[bool, int | None]:
        if self.replica_down is not None:
            raise self.replica_down
        return True, self.replay_lsn


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(health_module.time, "monotonic", fake)
    return fake


async def check(servers: FakeServers, clock: Clock, *, after: float = 0.1) -> Any:
    clock.now += after
    state = await servers.measure()
    servers.state = state
    return state


async def test_a_replica_that_stops_receiving_wal_becomes_lagging_and_comes_back(clock: Clock) -> None:
    servers = FakeServers(max_lag_seconds=1.0)
    assert (await check(servers, clock)).lag_seconds == 0.0
    verdicts = []
    for _ in range(15):  # the primary writes on; the replica stays at 100
        servers.primary_lsn += 10
        verdicts.append((await check(servers, clock)).verdict)
    assert verdicts[:9] == ["usable"] * 9 and verdicts[-1] == "replica_lagging"
    assert (await check(servers, clock)).lag_seconds == pytest.approx(1.5)
    servers.replay_lsn = servers.primary_lsn  # it receives again and replays everything
    state = await check(servers, clock)
    assert (state.verdict, state.lag_seconds) == ("usable", 0.0)


async def test_an_idle_primary_makes_no_lag_and_its_next_write_only_a_little(clock: Clock) -> None:
    servers = FakeServers(max_lag_seconds=1.0)
    for _ in range(50):  # 5 s without a write
        assert (await check(servers, clock)).lag_seconds == 0.0
    servers.primary_lsn = 200
    state = await check(servers, clock)  # the replica has not replayed it yet
    assert state.verdict == "usable" and state.lag_seconds == 0.0  # asked at the same fake instant
    clock.now += 0.05
    servers.replay_lsn = 200
    assert (await check(servers, clock)).lag_seconds == 0.0


async def test_a_primary_that_cannot_be_asked_leaves_the_last_lag_unless_the_replica_trails_what_is_known(
    clock: Clock,
) -> None:
    servers = FakeServers(max_lag_seconds=1.0)
    servers.primary_lsn = 300
    await check(servers, clock)
    servers.replay_lsn = 200  # behind the primary's known position
    lagging = await check(servers, clock, after=0.5)
    assert lagging.lag_seconds == pytest.approx(0.5)
    servers.primary_down = ConnectionRefusedError("primary down")
    state = await check(servers, clock, after=1.0)  # no new sample: still measured against 300, first seen 1.5 s ago
    assert state.verdict == "replica_lagging" and state.lag_seconds == pytest.approx(1.5)
    assert state.primary_error is not None and "ConnectionRefusedError" in state.primary_error
    servers.replay_lsn = 300  # reached all that is known: the previous lag stands
    assert (await check(servers, clock)).lag_seconds == pytest.approx(1.5)
    servers.primary_down = None
    assert (await check(servers, clock)).verdict == "usable"


async def test_a_replica_that_does_not_answer_is_down_whatever_the_primary_says(clock: Clock) -> None:
    servers = FakeServers()
    servers.replica_down = TimeoutError()
    state = await check(servers, clock)
    assert state.verdict == "replica_down" and state.lag_seconds is None and "TimeoutError" in state.error


class FakeHealth:
    async def verdict(self) -> str:
        return "usable"


async def test_a_read_whose_mark_cannot_be_looked_up_goes_to_the_primary_as_marks_unavailable() -> None:
    link = RedisLink(Redis(host="127.0.0.1", port=1), prefix="t:")
    link.mark_down(ConnectionRefusedError())  # found down: no I/O until the memo ends
    marks = WriteMarks(window_seconds=10.0, link=link)
    router = ReadRouter(object(), replica=object(), health=FakeHealth(), marks=marks)  # type: ignore[arg-type]
    assert await router.choose("usr_ada") == "marks_unavailable"
    await marks.mark("usr_bob")  # this process's own mark holds while Redis is down
    assert await router.choose("usr_bob") == "read_your_writes"
    await link.aclose()
