"""Keyset (cursor) pagination on (created_at, id), newest first: the cursor is opaque base64.

A cursor encodes the last row of a page as `"<created_at ISO-8601>|<id>"` (urlsafe base64, padding
stripped). `decode_cursor` refuses anything else with `InvalidCursorError`, a `ValueError` that the
HTTP edge answers as 400 `bad_request` (kit knows nothing of Seawall's error tree).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from seawall.kit.bounds import bounded_datetime


class Keyed(Protocol):
    """A row with the keyset's two columns."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


Row = TypeVar("Row", bound=Keyed)
Keyset = tuple[datetime, str]
"""(created_at, id) of the last row already shown: the next page starts strictly after it."""


class InvalidCursorError(ValueError):
    """A cursor that no page of this list handed out; `cursor` is the string received."""

    def __init__(self, cursor: str) -> None:
        super().__init__("cursor is not valid")
        self.cursor = cursor


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, prefix: str) -> Keyset:
    """The keyset of `cursor`, its datetime in UTC; raises `InvalidCursorError` unless it holds an
    aware datetime within `kit.bounds` and an id starting with `prefix` (e.g. `"pay_"`)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None or not row_id.startswith(prefix):
            raise ValueError(cursor)
        return bounded_datetime(parsed), row_id
    except ValueError:
        raise InvalidCursorError(cursor) from None


def page_of(rows: Sequence[Row], limit: int) -> tuple[list[Row], str | None]:
    """The page and the next page's cursor, from up to `limit + 1` rows fetched in keyset order
    (the extra row only says whether there is a next page; None when there is not)."""
    page = list(rows[:limit])
    return page, (encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None)
