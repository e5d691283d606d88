"""Payments use cases seen from the API. Services flush; the request or job boundary commits.

Creating a payment writes the payment (`pending`) and its `payments.charge` job in the caller's
transaction; the charge happens in the worker. Refunds reserve their amount under a row lock on
the payment (so concurrent refunds can never exceed what was captured) and run as
`payments.refund` jobs.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.cache import CacheKey, ReadCache, track
from seawall.jobs import enqueue
from seawall.kit.clock import Clock
from seawall.kit.ids import new_id
from seawall.payments import repository
from seawall.payments.errors import PaymentNotFoundError, RefundNotAllowedError
from seawall.payments.models import Payment, Refund
from seawall.payments.schemas import PaymentOut
from seawall.payments.state import CAPTURED_STATUSES, PaymentStatus, RefundStatus
from seawall.replicas import UserReads

CHARGE_JOB = "payments.charge"
REFUND_JOB = "payments.refund"


def payment_view_key(user_id: str, payment_id: str) -> CacheKey:
    """The owner is part of the key: another user's request can never reach this entry."""
    return ("payment", user_id, payment_id)


# Every committed change of a payment row (API, charge and refund jobs, reconciliation) invalidates it.
track(Payment, lambda payment: [payment_view_key(payment.user_id, payment.id)])


async def create_payment(
    session: AsyncSession,
    *,
    clock: Clock,
    user_id: str,
    amount: int,
    currency: str,
    payment_method: str,
    description: str | None,
    purpose: str = "charge",
) -> Payment:
    now = clock.now()
    payment = Payment(
        id=new_id("pay"), user_id=user_id, amount=amount, currency=currency.lower(), payment_method=payment_method,
        description=description, purpose=purpose, status=PaymentStatus.PENDING, route_name=None,
        provider_outcome_unknown=False, provider_intent_id=None, failure_code=None, failure_message=None,
        amount_refunded=0, created_at=now, updated_at=now,
    )
    await repository.insert_payment(session, payment)  # the returned object is a snapshot, not tracked
    await enqueue(session, CHARGE_JOB, {"payment_id": payment.id}, dedup_key=f"{CHARGE_JOB}:{payment.id}", clock=clock)
    return payment


async def get_payment_of(session: AsyncSession, *, user_id: str, payment_id: str) -> Payment:
    """Object-level authorization: another user's payment does not exist for you (404)."""
    payment = await repository.get_payment(session, payment_id)
    if payment is None or payment.user_id != user_id:
        raise PaymentNotFoundError(f"no payment {payment_id}")
    return payment


async def get_payment_view(reads: UserReads, cache: ReadCache, *, user_id: str, payment_id: str) -> PaymentOut:
    """`GET /v1/payments/{id}`, cache-aside, a read that may be stale (`reads`: the caller's, on the read
    replica unless they wrote lately; `seawall.replicas`). A miss loads through `get_payment_of` (404 for
    another user's payment, never cached); a hit is checked against its recorded owner once more."""
    async def load(session: AsyncSession) -> dict[str, object]:
        payment = await get_payment_of(session, user_id=user_id, payment_id=payment_id)
        return {"owner": payment.user_id, "payment": PaymentOut.model_validate(payment).model_dump(mode="json")}

    view = await reads.cached(cache, payment_view_key(user_id, payment_id), load)
    if view.get("owner") != user_id:
        raise PaymentNotFoundError(f"no payment {payment_id}")
    return PaymentOut.model_validate(view["payment"])


async def list_payments_of(
    session: AsyncSession, *, user_id: str, limit: int, cursor: str | None
) -> tuple[list[Payment], str | None]:
    return await repository.list_payments_of(session, user_id=user_id, limit=limit, cursor=cursor)


async def request_refund(
    session: AsyncSession, *, clock: Clock, user_id: str, payment_id: str, amount: int | None
) -> Refund:
    payment = await repository.get_payment(session, payment_id, for_update=True)
    if payment is None or payment.user_id != user_id:
        raise PaymentNotFoundError(f"no payment {payment_id}")
    if payment.status not in CAPTURED_STATUSES:
        raise RefundNotAllowedError(f"payment {payment_id} is {payment.status}; only captured payments refund")
    reserved = await repository.reserved_refund_total(session, payment_id=payment.id)
    remaining = payment.amount - reserved
    amount = remaining if amount is None else amount
    if amount <= 0 or amount > remaining:
        raise RefundNotAllowedError(
            f"refund of {amount} exceeds what is left to refund ({remaining} of {payment.amount})",
            details={"refundable": remaining},
        )
    now = clock.now()
    refund = Refund(id=new_id("rfd"), payment_id=payment.id, amount=amount, status=RefundStatus.PENDING,
                    created_at=now, updated_at=now)
    session.add(refund)
    payment.updated_at = now  # touch the locked row so concurrent refunds serialize on it
    await session.flush()
    await enqueue(session, REFUND_JOB, {"refund_id": refund.id}, dedup_key=f"{REFUND_JOB}:{refund.id}", clock=clock)
    return refund


async def get_refund_of(session: AsyncSession, *, user_id: str, refund_id: str) -> Refund:
    refund = await repository.get_refund(session, refund_id)
    payment = await repository.get_payment(session, refund.payment_id) if refund is not None else None
    if refund is None or payment is None or payment.user_id != user_id:
        raise PaymentNotFoundError(f"no refund {refund_id}")
    return refund
