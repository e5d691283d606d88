"""Keyset (cursor) pagination on (created_at, id), newest first: the cursor is opaque base64."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from seawall.errors import BadRequestError


class Keyed(Protocol):
    """A row with the keyset's two columns."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> str: ...


Row = TypeVar("Row", bound=Keyed)


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, prefix: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None or not row_id.startswith(prefix):
            raise ValueError(raw)
        return parsed, row_id
    except ValueError:
        raise BadRequestError("cursor is not valid", details={"cursor": cursor}) from None


def page_of(rows: Sequence[Row], limit: int) -> tuple[list[Row], str | None]:
    """The page and the next page's cursor, from up to `limit + 1` rows fetched in keyset order
    (the extra row only says whether there is a next page; None when there is not)."""
    page = list(rows[:limit])
    return page, (encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None)
