"""All SQL of the payments domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, and_, func, insert, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import execute
from seawall.payments.models import Payment, Refund
from seawall.payments.state import RefundStatus

_payments: Table = Payment.__table__  # type: ignore[assignment]
_INSERT_PAYMENT = insert(_payments)
# (column name, attribute name): they differ where an attribute is named apart from its column
# (`route_name` is stored in "provider").
_PAYMENT_COLUMNS = [(attribute.columns[0].key, attribute.key) for attribute in sa_inspect(Payment).column_attrs]


async def insert_payment(session: AsyncSession, payment: Payment) -> None:
    """INSERT a new (transient) payment as one Core statement, without the unit of work."""
    values = {column: getattr(payment, attribute) for column, attribute in _PAYMENT_COLUMNS}
    await execute(session, _INSERT_PAYMENT, values)


async def get_payment(session: AsyncSession, payment_id: str, *, for_update: bool = False) -> Payment | None:
    query = select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_refund(session: AsyncSession, refund_id: str, *, for_update: bool = False) -> Refund | None:
    query = select(Refund).where(Refund.id == refund_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_payments_of(
    session: AsyncSession, *, user_id: str, limit: int, after: tuple[datetime, str] | None
) -> list[Payment]:
    """Newest first; keyset pagination on (created_at, id)."""
    query = (
        select(Payment)
        .where(Payment.user_id == user_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    )
    if after is not None:
        created_at, payment_id = after
        query = query.where(
            or_(Payment.created_at < created_at, and_(Payment.created_at == created_at, Payment.id < payment_id))
        )
    return list((await session.execute(query)).scalars().all())


async def reserved_refund_total(session: AsyncSession, *, payment_id: str) -> int:
    """Refunds that succeeded or may still succeed: what can no longer be refunded again."""
    query = select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.payment_id == payment_id, Refund.status.in_([RefundStatus.PENDING, RefundStatus.SUCCEEDED])
    )
    return int((await session.execute(query)).scalar_one())


async def payments_in_status(session: AsyncSession, statuses: list[str]) -> list[Payment]:
    return list((await session.execute(select(Payment).where(Payment.status.in_(statuses)))).scalars().all())


async def all_payments(session: AsyncSession) -> list[Payment]:
    return list((await session.execute(select(Payment))).scalars().all())
