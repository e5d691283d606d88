"""`kit.bounds`: the one place integers and datetimes from outside are checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from seawall.kit.bounds import INT64_MAX, bounded_datetime, bounded_id


def test_ids_are_positive_bigints() -> None:
    assert bounded_id(1) == 1 and bounded_id(INT64_MAX) == INT64_MAX
    for outside in (0, -1, INT64_MAX + 1, 10**20):
        with pytest.raises(ValueError):
            bounded_id(outside)


def test_datetimes_come_back_in_utc_and_naive_ones_are_taken_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert bounded_datetime(datetime(2030, 1, 1, 2, tzinfo=plus_two)) == datetime(2030, 1, 1, tzinfo=UTC)
    assert bounded_datetime(datetime(2030, 1, 1)) == datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("outside", [
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),  # overflows when converted to UTC
    datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
])
def test_datetimes_outside_1970_to_9999_are_refused(outside: datetime) -> None:
    with pytest.raises(ValueError):
        bounded_datetime(outside)
