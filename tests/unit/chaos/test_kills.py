"""The chaos schedule: a pure function of the seed (a failing run replays exactly), kills spread over
the window and over the roles, each private server restarted once inside the window."""

from __future__ import annotations

from collections import Counter

import pytest

from seawall.chaos.kills import SERVERS, plan_disruptions


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    first = plan_disruptions(seed=42, kills=20, duration=30, servers=SERVERS)
    assert first == plan_disruptions(seed=42, kills=20, duration=30, servers=SERVERS)
    assert first != plan_disruptions(seed=43, kills=20, duration=30, servers=SERVERS)


def test_kills_are_spread_over_the_roles_and_the_window() -> None:
    schedule = plan_disruptions(seed=1, kills=21, duration=22, lead_in=1.0)
    kills = [d for d in schedule if d.kind == "kill"]
    assert Counter(d.target for d in kills) == {"api": 11, "worker": 10}
    assert all(1.0 <= d.at <= 22 for d in kills)
    for slot in range(21):  # one kill in each of 21 one-second slots
        assert sum(1.0 + slot <= d.at < 2.0 + slot for d in kills) == 1
    assert [d.at for d in schedule] == sorted(d.at for d in schedule)


def test_each_server_is_restarted_once_in_the_middle_of_the_window() -> None:
    schedule = plan_disruptions(seed=5, kills=0, duration=101, servers=SERVERS, lead_in=1.0)
    restarts = [d for d in schedule if d.kind == "restart"]
    assert sorted(d.target for d in restarts) == sorted(SERVERS)
    assert all(21 <= d.at <= 81 for d in restarts)


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError):
        plan_disruptions(seed=1, kills=-1, duration=10)
    with pytest.raises(ValueError):
        plan_disruptions(seed=1, kills=3, duration=0.5)
