"""Promise: retries back off exponentially with full jitter, capped, and honour `Retry-After`."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from seawall.jobs import RetryPolicy

POLICY = RetryPolicy(max_attempts=20, base_seconds=0.5, cap_seconds=60.0)


@pytest.mark.parametrize("seed", range(5))
def test_delay_is_always_within_zero_and_the_cap(seed: int) -> None:
    rng = random.Random(seed)
    for attempt in range(1, 200):
        for retry_after in (None, 0.0, 3.0, 10_000.0):
            delay = POLICY.delay(attempt, rng=rng, retry_after=retry_after)
            assert 0.0 <= delay <= POLICY.cap_seconds


def test_delay_is_within_the_ceiling_of_its_attempt() -> None:
    rng = random.Random(7)
    for attempt in range(1, 30):
        for _ in range(50):
            assert 0.0 <= POLICY.delay(attempt, rng=rng) <= POLICY.ceiling(attempt)


def test_ceiling_doubles_per_attempt_until_the_cap() -> None:
    ceilings = [POLICY.ceiling(attempt) for attempt in range(1, 12)]
    assert ceilings[:7] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert ceilings[7:] == [60.0] * 4
    assert all(later >= earlier for earlier, later in itertools.pairwise(ceilings))


def test_ceiling_stays_at_the_cap_for_huge_attempt_numbers() -> None:
    assert POLICY.ceiling(10_000) == POLICY.cap_seconds
    assert POLICY.delay(10_000, rng=random.Random(1)) <= POLICY.cap_seconds


def test_retry_after_raises_the_floor() -> None:
    rng = random.Random(3)
    for _ in range(200):
        assert POLICY.delay(1, rng=rng, retry_after=5.0) >= 5.0  # ceiling of attempt 1 is only 0.5


def test_retry_after_beyond_the_cap_is_capped() -> None:
    rng = random.Random(4)
    assert POLICY.delay(1, rng=rng, retry_after=3600.0) == POLICY.cap_seconds


def test_same_seed_gives_the_same_delays() -> None:
    first = [POLICY.delay(n, rng=random.Random(11)) for n in range(1, 10)]
    second = [POLICY.delay(n, rng=random.Random(11)) for n in range(1, 10)]
    assert first == second


def test_mean_delay_grows_with_attempt_number_until_the_cap() -> None:
    rng = random.Random(2024)
    samples = 4000
    means = [statistics.fmean(POLICY.delay(n, rng=rng) for _ in range(samples)) for n in range(1, 9)]
    # Full jitter: the mean is half the ceiling. With 4000 samples the error is well under 5%.
    for attempt, mean in enumerate(means, start=1):
        assert mean == pytest.approx(POLICY.ceiling(attempt) / 2, rel=0.05)
    assert all(later > earlier for earlier, later in itertools.pairwise(means))


def test_jitter_spreads_delays_across_the_whole_range() -> None:
    rng = random.Random(5)
    delays = [POLICY.delay(5, rng=rng) for _ in range(2000)]  # ceiling 8.0
    assert min(delays) < 0.8 and max(delays) > 7.2


@pytest.mark.parametrize(
    ("max_attempts", "base", "cap"),
    [
        (0, 1.0, 10.0),
        (-1, 1.0, 10.0),
        (3, 0.0, 10.0),
        (3, -1.0, 10.0),
        (3, 10.0, 1.0),
        (3, math.nan, 10.0),
        (3, 1.0, math.nan),
        (3, 1.0, math.inf),
        (3, math.inf, math.inf),
    ],
)
def test_invalid_policies_are_rejected(max_attempts: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=max_attempts, base_seconds=base, cap_seconds=cap)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        POLICY.ceiling(0)
    with pytest.raises(ValueError):
        POLICY.delay(0, rng=random.Random(0))


def test_base_equal_to_cap_is_a_valid_flat_policy() -> None:
    flat = RetryPolicy(max_attempts=3, base_seconds=2.0, cap_seconds=2.0)
    assert [flat.ceiling(n) for n in (1, 2, 3)] == [2.0, 2.0, 2.0]
