"""`kit.pagination`: a cursor round-trips; anything a page did not hand out is `InvalidCursorError`
(answered 400 at the HTTP edge), and `page_of` keeps `limit` rows and a cursor only when there is more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from seawall.kit.pagination import InvalidCursorError, decode_cursor, encode_cursor, page_of

MOMENT = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@dataclass
class Row:
    id: str
    created_at: datetime


def test_a_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(MOMENT, "pay_1"), prefix="pay_") == (MOMENT, "pay_1")


@pytest.mark.parametrize("cursor", [
    "x",                                                    # not base64
    encode_cursor(MOMENT, "ntf_1"),                         # another list's id
    encode_cursor(MOMENT.replace(tzinfo=None), "pay_1"),   # a naive time
    "bm8tc2VwYXJhdG9y",                                     # no separator
])
def test_a_cursor_no_page_handed_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError) as refused:
        decode_cursor(cursor, prefix="pay_")
    assert refused.value.cursor == cursor


def test_page_of_keeps_limit_rows_and_points_after_the_last() -> None:
    rows = [Row(id=f"pay_{n}", created_at=MOMENT) for n in (3, 2, 1)]
    assert page_of(rows, 2) == (rows[:2], encode_cursor(MOMENT, "pay_2"))
    assert page_of(rows, 3) == (rows, None)
