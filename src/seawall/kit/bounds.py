"""Bounds for integers and datetimes taken from outside (paths, queries, cursors, bodies), checked in
one place so a value no column can hold is refused as bad input, never a 500 from the database or
from `datetime` arithmetic.

- Integers: ids are positive and fit PostgreSQL's BIGINT (`1 … 2**63 - 1`).
- Datetimes: aware, converted to UTC, between 1970-01-01 and 9999-01-01 (UTC). Converting
  `0001-01-01T00:00:00+05:00` to UTC would overflow `datetime`; such values are refused.
Each check raises `ValueError` (which pydantic reports as a 422 field error, and the cursor decoders
as an invalid cursor).
"""

from __future__ import annotations

from datetime import UTC, datetime

INT64_MAX = 2**63 - 1
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def bounded_id(value: int) -> int:
    """`value` if it is a positive BIGINT id, else `ValueError`."""
    if not 1 <= value <= INT64_MAX:
        raise ValueError(f"must be between 1 and {INT64_MAX}")
    return value


def bounded_datetime(value: datetime) -> datetime:
    """`value` in UTC (a naive one is taken as UTC) if within [1970-01-01, 9999-01-01), else `ValueError`."""
    try:
        in_utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not EARLIEST <= in_utc < LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
    return in_utc
