"""The replica's lag against the primary's WAL position (`replicas.lag`), on samples made by hand: a frozen
replica lags more and more, an idle primary never makes lag, a replica catching up lags by the age of the
oldest position it has not replayed."""

from __future__ import annotations

from seawall.replicas.lag import MAX_SAMPLES, PrimaryPositions


def positions(*samples: tuple[float, int]) -> PrimaryPositions:
    held = PrimaryPositions()
    for taken_at, lsn in samples:
        held.add(taken_at, lsn)
    return held


def test_no_sample_no_lag_known() -> None:
    assert PrimaryPositions().lag_seconds(100, now=5.0) is None


def test_a_replica_at_the_primarys_newest_position_has_no_lag() -> None:
    held = positions((1.0, 100), (2.0, 200), (3.0, 300))
    assert held.lag_seconds(300, now=3.01) == 0.0
    assert held.lag_seconds(350, now=3.01) == 0.0  # past it (the primary wrote since the sample)


def test_a_frozen_replica_lags_more_with_every_check_while_the_primary_writes() -> None:
    held = PrimaryPositions()
    replay = 100  # the replica stopped receiving WAL here
    lags = []
    for second in range(1, 8):
        held.add(float(second), 100 + second * 10)
        lags.append(held.lag_seconds(replay, now=second + 0.01))
    assert all(abs(lag - (0.01 + n)) < 1e-9 for n, lag in enumerate(lags)), lags  # from the first unreplayed write
    assert lags[-1] > 5.0


def test_a_frozen_replica_of_an_idle_primary_has_nothing_to_replay() -> None:
    held = PrimaryPositions()
    for second in range(1, 30):
        held.add(float(second), 500)
        assert held.lag_seconds(500, now=second + 0.01) == 0.0
    assert len(held.samples) == 1


def test_the_first_write_after_a_quiet_period_counts_from_when_it_was_seen() -> None:
    held = PrimaryPositions()
    for second in range(1, 60):  # a minute idle at 500, the replica there
        held.add(float(second), 500)
        assert held.lag_seconds(500, now=second + 0.01) == 0.0
    held.add(60.0, 900)  # a write
    assert abs(held.lag_seconds(500, now=60.01) - 0.01) < 1e-9  # not 59 s: the quiet minute is no lag
    held.add(61.0, 900)
    assert held.lag_seconds(900, now=61.01) == 0.0  # replayed


def test_a_replica_catching_up_lags_by_the_oldest_position_it_has_not_replayed() -> None:
    held = positions((1.0, 100), (2.0, 200), (3.0, 300), (4.0, 400))
    assert held.lag_seconds(150, now=4.5) == 2.5  # the primary was at 200 at 2.0
    assert held.lag_seconds(300, now=5.0) == 1.0  # at 400 at 4.0
    assert [sample.lsn for sample in held.samples] == [400]  # what it reached is dropped
    held.add(5.0, 500)
    assert held.lag_seconds(500, now=5.2) == 0.0


def test_a_primary_behind_the_history_starts_it_again() -> None:
    held = positions((1.0, 100), (2.0, 900))
    held.add(3.0, 50)  # another primary (failover, restore): its positions are not comparable
    assert [sample.lsn for sample in held.samples] == [50]
    assert held.lag_seconds(40, now=4.0) == 1.0


def test_a_long_lag_keeps_its_start_when_the_history_is_thinned() -> None:
    held = PrimaryPositions()
    for step in range(MAX_SAMPLES * 3):
        held.add(float(step), 1000 + step)
        assert len(held.samples) <= MAX_SAMPLES
    assert held.samples[0].taken_at == 0.0 and held.samples[-1].taken_at == MAX_SAMPLES * 3 - 1
    now = MAX_SAMPLES * 3.0
    assert held.lag_seconds(999, now=now) == now  # frozen from the start: the whole time
    lag_after_half = held.lag_seconds(1000 + MAX_SAMPLES * 3 // 2, now=now)
    assert lag_after_half is not None and MAX_SAMPLES * 3 / 2 - 8 <= lag_after_half < MAX_SAMPLES * 3 / 2
