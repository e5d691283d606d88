"""Payments routes: parse, authorize, call one service function, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts.auth import CurrentPrincipal, CurrentSession
from seawall.accounts.reads import CurrentUserReads, UserReadSessionDep
from seawall.idempotency.api import IdempotencyDep
from seawall.payments import service
from seawall.payments.schemas import PaymentIn, PaymentOut, PaymentPageOut, RefundIn, RefundOut
from seawall.ratelimit.user_limits import UserLimitsDep
from seawall.web.deps import ClockDep, ReadCacheDep
from seawall.web.errors import error_responses

router = APIRouter(prefix="/v1/payments", tags=["payments"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=PaymentOut,
             responses=error_responses(400, 401, 409, 413, 422, 429, 503))
async def create_payment(
    body: PaymentIn, principal: CurrentPrincipal, clock: ClockDep, idempotency: IdempotencyDep,
    limits: UserLimitsDep,
) -> JSONResponse:
    """Accept a charge; it is made by a worker (poll `GET /v1/payments/{id}` for the outcome).
    Limited per user (`SEAWALL_RATE_LIMIT_PAYMENTS_PER_USER`)."""
    await limits.payments(user_id=principal.user.id)

    async def operation(session: AsyncSession) -> PaymentOut:
        payment = await service.create_payment(
            session, clock=clock, user_id=principal.user.id, amount=body.amount, currency=body.currency,
            payment_method=body.payment_method, description=body.description,
        )
        return PaymentOut.model_validate(payment)

    return await idempotency.run(
        scope=principal.user.id, body=body.model_dump(mode="json"), status_code=202, operation=operation)


@router.get("", responses=error_responses(400, 401, 422, 429, 503))
async def list_payments(
    principal: CurrentPrincipal,
    session: UserReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PaymentPageOut:
    payments, next_cursor = await service.list_payments_of(
        session, user_id=principal.user.id, limit=limit, cursor=cursor)
    return PaymentPageOut(data=[PaymentOut.model_validate(p) for p in payments], next_cursor=next_cursor)


@router.get("/{payment_id}", responses=error_responses(401, 404, 429, 503))
async def get_payment(payment_id: str, auth_session: CurrentSession, reads: CurrentUserReads,
                      cache: ReadCacheDep) -> PaymentOut:
    return await service.get_payment_view(reads, cache, user_id=auth_session.user_id, payment_id=payment_id)


@router.post("/{payment_id}/refunds", status_code=status.HTTP_202_ACCEPTED, response_model=RefundOut,
             responses=error_responses(400, 401, 404, 409, 413, 422, 429, 503))
async def create_refund(
    payment_id: str, body: RefundIn, principal: CurrentPrincipal, clock: ClockDep,
    idempotency: IdempotencyDep, limits: UserLimitsDep,
) -> JSONResponse:
    """Refund part or all of a captured payment; never more than was captured. Limited per user and
    per payment (`SEAWALL_RATE_LIMIT_REFUNDS_PER_USER`, `..._PER_PAYMENT`)."""
    await limits.refunds(user_id=principal.user.id, payment_id=payment_id)

    async def operation(session: AsyncSession) -> RefundOut:
        refund = await service.request_refund(
            session, clock=clock, user_id=principal.user.id, payment_id=payment_id, amount=body.amount)
        return RefundOut.model_validate(refund)

    return await idempotency.run(
        scope=principal.user.id, body={"payment_id": payment_id, **body.model_dump(mode="json")},
        status_code=202, operation=operation)
