"""The SQL shapes every domain table shares: load one row by id, and one keyset page of rows.

    payments = Repository(Payment, id_prefix="pay_")
    payment = await payments.get(session, "pay_1", for_update=True)         # Payment | None
    rows, next_cursor = await payments.page(session, where=[Payment.user_id == user_id],
                                            limit=50, cursor=None)          # newest first

`get` always reloads the row from the database (`populate_existing`), so a row already in the
session shows the committed state, and with `for_update=True` it takes the row lock first
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite ignores it, its writer lock serializes anyway).

`page` is one query: the caller's conditions, the keyset condition `(created_at, id) < cursor`
(written as `created_at < c OR (created_at = c AND id < i)`, which both backends serve from a
`(..., created_at, id)` index), `ORDER BY created_at DESC, id DESC LIMIT limit + 1`; the extra row
only tells whether there is a next page (see `pagination.page_of`). A cursor that is not one of
this table's raises `pagination.InvalidCursorError` before any query runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from seawall.kit.pagination import Keyset, decode_cursor, page_of


class KeyedModel(Protocol):
    """A mapped class with a string primary key `id` and a `created_at` column."""

    id: ClassVar[InstrumentedAttribute[str]]
    created_at: ClassVar[InstrumentedAttribute[datetime]]


Model = TypeVar("Model", bound=KeyedModel)


class Repository(Generic[Model]):
    """Loads and pages rows of `model`, whose ids start with `id_prefix` (e.g. `"pay_"`)."""

    def __init__(self, model: type[Model], *, id_prefix: str) -> None:
        self.model = model
        self.id_prefix = id_prefix

    async def get(self, session: AsyncSession, row_id: str, *, for_update: bool = False) -> Model | None:
        """The row with this id, freshly loaded (locked with `for_update`); None when there is none."""
        query = select(self.model).where(self.model.id == row_id).execution_options(populate_existing=True)
        if for_update:
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    def newest_first_after(self, after: Keyset) -> ColumnElement[bool]:
        """The keyset condition: rows strictly after `after` in (created_at, id) descending order."""
        created_at, row_id = after
        return or_(self.model.created_at < created_at,
                   and_(self.model.created_at == created_at, self.model.id < row_id))

    async def page(self, session: AsyncSession, *, where: Sequence[ColumnElement[bool]], limit: int,
                   cursor: str | None) -> tuple[list[Model], str | None]:
        """Up to `limit` rows matching every condition in `where`, newest first, starting after
        `cursor` (from the start when None), and the next page's cursor (None on the last page)."""
        conditions = list(where)
        if cursor:
            conditions.append(self.newest_first_after(decode_cursor(cursor, prefix=self.id_prefix)))
        query = (
            select(self.model)
            .where(*conditions)
            .order_by(self.model.created_at.desc(), self.model.id.desc())
            .limit(limit + 1)
        )
        rows = (await session.execute(query)).scalars().all()
        return page_of(rows, limit)
