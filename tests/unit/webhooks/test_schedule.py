"""Promise: failed deliveries retry on the published schedule (compressible for tests), honour
Retry-After, and slow the endpoint down on 429/502/503/504."""

from __future__ import annotations

import random

import pytest

from seawall.webhooks import schedule
from seawall.webhooks.config import WebhookSettings

PUBLISHED = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600]


def test_the_schedule_is_the_published_one() -> None:
    assert [schedule.delay_before_attempt(n) for n in range(1, 11)] == PUBLISHED
    assert schedule.MAX_ATTEMPTS == 10
    assert schedule.delay_before_attempt(11) is None
    assert sum(PUBLISHED) == 75 * 3600 + 35 * 60 + 5  # "75:35:05 since start", as the spec's table


def test_a_scale_compresses_every_delay() -> None:
    assert [schedule.delay_before_attempt(n, scale=0.001) for n in range(1, 11)] == pytest.approx(
        [d * 0.001 for d in PUBLISHED])


def test_the_scale_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAWALL_WEBHOOKS_SCHEDULE_SCALE", "0.001")
    monkeypatch.setenv("SEAWALL_WEBHOOKS_ALLOW_PRIVATE", "1")
    settings = WebhookSettings()
    assert settings.schedule_scale == 0.001 and settings.allow_private is True
    assert WebhookSettings.model_validate({}).disable_after_seconds == 5 * 24 * 3600


def test_jitter_only_ever_adds_up_to_its_fraction() -> None:
    rng = random.Random(4)
    for number in range(2, 11):
        for _ in range(50):
            delay = schedule.delay_before_attempt(number, jitter=0.1, rng=rng)
            assert delay is not None
            assert PUBLISHED[number - 1] <= delay <= PUBLISHED[number - 1] * 1.1
    assert schedule.delay_before_attempt(1, jitter=0.5, rng=rng) == 0  # "immediately" stays immediate


def test_after_the_tenth_failure_there_is_no_next_attempt() -> None:
    def after(made: int) -> float | None:
        return schedule.next_retry_delay(made, retry_after=None, scale=1.0, jitter=0.0, max_retry_after=86400.0)

    assert after(1) == 5
    assert after(9) == 24 * 3600
    assert after(10) is None


def test_retry_after_raises_the_next_delay_but_is_capped() -> None:
    assert schedule.next_retry_delay(1, retry_after=120, scale=1, jitter=0, max_retry_after=3600) == 120
    assert schedule.next_retry_delay(3, retry_after=1, scale=1, jitter=0, max_retry_after=3600) == 1800
    assert schedule.next_retry_delay(1, retry_after=10**9, scale=1, jitter=0, max_retry_after=3600) == 3600
    # Retry-After is the receiver's own figure: the test scale does not shrink it
    assert schedule.next_retry_delay(1, retry_after=30, scale=0.001, jitter=0, max_retry_after=3600) == 30


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_overload_answers_slow_the_endpoint_down(status: int) -> None:
    assert schedule.throttle_delay(status, retry_after=42, default_seconds=60, scale=1, max_retry_after=3600) == 42
    assert schedule.throttle_delay(status, retry_after=None, default_seconds=60, scale=0.5, max_retry_after=3600) == 30
    assert schedule.throttle_delay(status, retry_after=10**6, default_seconds=60, scale=1, max_retry_after=600) == 600


@pytest.mark.parametrize("status", [None, 200, 400, 404, 410, 500, 501])
def test_other_answers_do_not_slow_the_endpoint_down(status: int | None) -> None:
    assert schedule.throttle_delay(status, retry_after=42, default_seconds=60, scale=1, max_retry_after=3600) is None
