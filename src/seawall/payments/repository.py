"""All SQL of the payments domain."""

from __future__ import annotations

from sqlalchemy import Table, func, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import execute
from seawall.kit.repository import Repository
from seawall.payments.models import Payment, ProviderEvent, Refund
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


payments = Repository(Payment, id_prefix="pay_")
refunds = Repository(Refund, id_prefix="rfd_")
get_payment = payments.get
get_refund = refunds.get


async def list_payments_of(session: AsyncSession, *, user_id: str, limit: int, cursor: str | None
                           ) -> tuple[list[Payment], str | None]:
    """A user's payments, newest first: one keyset page and the next page's cursor."""
    return await payments.page(session, where=[Payment.user_id == user_id], limit=limit, cursor=cursor)


async def reserved_refund_total(session: AsyncSession, *, payment_id: str) -> int:
    """Refunds that succeeded or may still succeed: what can no longer be refunded again."""
    query = select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.payment_id == payment_id, Refund.status.in_([RefundStatus.PENDING, RefundStatus.SUCCEEDED])
    )
    return int((await session.execute(query)).scalar_one())


async def pending_refunds(session: AsyncSession) -> list[tuple[Refund, Payment]]:
    """Every refund still pending, with its payment, oldest first."""
    query = (select(Refund, Payment).join(Payment, Payment.id == Refund.payment_id)
             .where(Refund.status == RefundStatus.PENDING).order_by(Refund.created_at, Refund.id))
    return [(refund, payment) for refund, payment in (await session.execute(query)).all()]


async def payments_in_status(session: AsyncSession, statuses: list[str]) -> list[Payment]:
    return list((await session.execute(select(Payment).where(Payment.status.in_(statuses)))).scalars().all())


async def all_payments(session: AsyncSession) -> list[Payment]:
    return list((await session.execute(select(Payment))).scalars().all())


# -- provider events and the rows they are matched to ----------------------------------------------

async def get_provider_event(session: AsyncSession, row_id: str, *, for_update: bool = False
                             ) -> ProviderEvent | None:
    query = select(ProviderEvent).where(ProviderEvent.id == row_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


_provider_events_table: Table = ProviderEvent.__table__  # type: ignore[assignment]


async def insert_provider_event(session: AsyncSession, event: ProviderEvent) -> bool:
    """INSERT the event unless (provider, event_id) is already stored; whether it was new.

    One statement (`ON CONFLICT DO NOTHING` on the unique pair): two deliveries of one event racing
    each other store one row, the second waits for the first's transaction and then finds it.
    """
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    values = {column.key: getattr(event, column.key) for column in _provider_events_table.columns}
    statement = ((postgresql_insert if postgres else sqlite_insert)(_provider_events_table).values(values)
                 .on_conflict_do_nothing(index_elements=["provider", "event_id"])
                 .returning(_provider_events_table.c.id))
    return (await session.execute(statement)).first() is not None


async def find_payment_by_intent(session: AsyncSession, intent_id: str) -> Payment | None:
    query = select(Payment).where(Payment.provider_intent_id == intent_id).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def find_refund_by_provider_id(session: AsyncSession, provider_refund_id: str) -> Refund | None:
    query = select(Refund).where(Refund.provider_refund_id == provider_refund_id)
    return (await session.execute(query)).scalar_one_or_none()
