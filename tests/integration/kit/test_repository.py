"""`kit.repository.Repository` on the real databases: `get` reloads a row (locked with
`for_update`), and `page` walks rows newest first by (created_at, id) — rows created in the same
instant included, none shown twice or skipped — ending with no cursor; a foreign cursor is refused
before any query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seawall.kit.pagination import InvalidCursorError, encode_cursor
from seawall.kit.repository import Repository
from seawall.notifications.models import Notification, NotificationStatus
from seawall.runtime import Runtime

NOTIFICATIONS = Repository(Notification, id_prefix="ntf_")
START = datetime(2030, 1, 1, tzinfo=UTC)


def notification(row_id: str, created_at: datetime) -> Notification:
    return Notification(id=row_id, user_id=None, event_type="welcome", event_key=f"welcome:{row_id}",
                        channel="email", payload={}, status=NotificationStatus.PENDING, attempts=0,
                        created_at=created_at)


async def test_get_reloads_the_row_and_locks_it_for_update(runtime: Runtime) -> None:
    async with runtime.database.transaction() as session:
        session.add(notification("ntf_a", START))
    async with runtime.database.transaction() as session:
        assert await NOTIFICATIONS.get(session, "ntf_missing") is None
        locked = await NOTIFICATIONS.get(session, "ntf_a", for_update=True)
        assert locked is not None and locked.status == NotificationStatus.PENDING


async def test_pages_walk_newest_first_through_equal_timestamps(runtime: Runtime) -> None:
    # created_at ties (ntf_b, ntf_c, ntf_d share one instant) are ordered by id, descending
    rows = {"ntf_a": START, "ntf_b": START + timedelta(seconds=1), "ntf_c": START + timedelta(seconds=1),
            "ntf_d": START + timedelta(seconds=1), "ntf_e": START + timedelta(seconds=2)}
    async with runtime.database.transaction() as session:
        session.add_all(notification(row_id, created_at) for row_id, created_at in rows.items())
    seen: list[list[str]] = []
    cursor: str | None = None
    async with runtime.database.read_transaction() as session:
        while True:
            page, cursor = await NOTIFICATIONS.page(session, where=[Notification.channel == "email"], limit=2,
                                                    cursor=cursor)
            seen.append([row.id for row in page])
            if cursor is None:
                break
    assert seen == [["ntf_e", "ntf_d"], ["ntf_c", "ntf_b"], ["ntf_a"]]


async def test_a_cursor_of_another_table_is_refused(runtime: Runtime) -> None:
    async with runtime.database.read_transaction() as session:
        with pytest.raises(InvalidCursorError):
            await NOTIFICATIONS.page(session, where=[], limit=2, cursor=encode_cursor(START, "pay_1"))
