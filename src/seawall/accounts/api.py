"""Accounts routes: parse, authorize, call one service function, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts import service
from seawall.accounts.auth import CurrentPrincipal, CurrentSeawallPrincipal, CurrentSession
from seawall.accounts.deps import PasswordsDep, SessionTimingDep
from seawall.accounts.reads import CurrentUserReads
from seawall.accounts.schemas import (
    AcceptedOut,
    LoginIn,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PlanPaymentIn,
    SessionOut,
    SignupIn,
    SignupOut,
    UserOut,
)
from seawall.idempotency.api import IdempotencyDep
from seawall.payments.schemas import PaymentOut
from seawall.ratelimit.user_limits import UserLimitsDep
from seawall.replicas.middleware import note_writer
from seawall.web.deps import ClockDep, DatabaseDep, ReadCacheDep, SessionDep
from seawall.web.errors import error_responses

router = APIRouter(prefix="/v1", tags=["accounts"])

ANONYMOUS_SCOPE = "anonymous"
RESET_ACCEPTED = "if an account exists for this email, a reset link is on its way"


@router.post("/signups", status_code=status.HTTP_201_CREATED, response_model=SignupOut,
             responses={202: {"model": SignupOut, "description": "Signed up for a paid plan; the charge runs in the "
                                                            "background (poll the payment)"},
                        **error_responses(400, 409, 413, 422, 429, 503)})
async def create_signup(body: SignupIn, passwords: PasswordsDep, clock: ClockDep,
                        idempotency: IdempotencyDep) -> JSONResponse:
    """Sign up; with `plan` and `payment_method` the plan is charged in the background (202)."""
    async def operation(session: AsyncSession) -> SignupOut:
        signed_up = await service.sign_up(
            session, passwords=passwords, clock=clock, email=body.email, password=body.password,
            plan=body.plan, payment_method=body.payment_method,
        )
        return SignupOut(
            user=UserOut.model_validate(signed_up.user),
            payment=signed_up.payment,
        )

    return await idempotency.run(
        scope=ANONYMOUS_SCOPE, body=body.model_dump(mode="json"),
        status_code=202 if body.plan else 201, operation=operation,
    )


@router.post("/sessions", status_code=status.HTTP_201_CREATED, responses=error_responses(401, 413, 422, 429, 503))
async def create_session(body: LoginIn, request: Request, database: DatabaseDep, passwords: PasswordsDep,
                         clock: ClockDep, timing: SessionTimingDep) -> SessionOut:
    """Log in. Not idempotency-keyed: the answer holds a secret we never store in plain text.
    The session ends at `expires_at` (absolute) or after `SEAWALL_SESSION_IDLE_MINUTES` unused."""
    auth_session, token = await service.log_in(
        database,
        passwords=passwords,
        clock=clock,
        timing=timing,
        email=body.email,
        password=body.password,
    )
    note_writer(request.scope, auth_session.user_id)  # read-your-writes: a sign-up just before is theirs too
    return SessionOut(id=auth_session.id, token=token, expires_at=auth_session.expires_at)


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT,
               responses=error_responses(401, 403, 429, 503))
async def delete_current_session(principal: CurrentSeawallPrincipal, clock: ClockDep, session: SessionDep) -> Response:
    await service.log_out(session, clock=clock, user_id=principal.user.id, auth_session_id=principal.auth_session.id,
                          token_digest=principal.auth_session.token_digest)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/me/password", status_code=status.HTTP_200_OK, responses=error_responses(401, 403, 413, 422, 429, 503))
async def change_password(body: PasswordChangeIn, principal: CurrentSeawallPrincipal, database: DatabaseDep,
                          passwords: PasswordsDep, clock: ClockDep, limits: UserLimitsDep) -> AcceptedOut:
    """Change the password, giving the current one (403 `invalid_current_password` if wrong; each try
    spends the login quotas of this IP and this account's email). The new one follows the sign-up
    rules. Every other session of the user is revoked; the one making this request stays signed in."""
    await limits.password_attempt(email=principal.user.email)
    await service.change_password(
        database, passwords=passwords, clock=clock, user_id=principal.user.id,
        keep_session_id=principal.auth_session.id, current_password=body.current_password,
        new_password=body.new_password,
    )
    return AcceptedOut(status="password_changed",
                       message="the password was changed; every other session was logged out")


@router.get("/me", responses=error_responses(401, 429, 503))
async def get_me(auth_session: CurrentSession, reads: CurrentUserReads, cache: ReadCacheDep) -> UserOut:
    return await service.get_user_view(reads, cache, user_id=auth_session.user_id)


@router.post("/me/plan-payments", status_code=status.HTTP_202_ACCEPTED, response_model=PaymentOut,
             responses=error_responses(400, 401, 409, 413, 422, 429, 503))
async def retry_plan_payment(
    body: PlanPaymentIn, principal: CurrentPrincipal, clock: ClockDep, idempotency: IdempotencyDep,
    limits: UserLimitsDep,
) -> JSONResponse:
    """Pay for the plan again after a failed sign-up charge (e.g. with another card). A charge: it
    spends the user's `SEAWALL_RATE_LIMIT_PAYMENTS_PER_USER` quota, like `POST /v1/payments`."""
    await limits.payments(user_id=principal.user.id)
    async def operation(session: AsyncSession) -> PaymentOut:
        return await service.retry_plan_payment(
            session, clock=clock, user_id=principal.user.id, payment_method=body.payment_method)

    return await idempotency.run(
        scope=principal.user.id, body=body.model_dump(mode="json"), status_code=202, operation=operation)


@router.post("/password-resets", status_code=status.HTTP_202_ACCEPTED, response_model=AcceptedOut,
             responses=error_responses(400, 409, 413, 422, 429, 503))
async def create_password_reset(
    body: PasswordResetIn, clock: ClockDep, idempotency: IdempotencyDep
) -> JSONResponse:
    async def operation(session: AsyncSession) -> AcceptedOut:
        await service.request_password_reset(session, clock=clock, email=body.email)
        return AcceptedOut(message=RESET_ACCEPTED)

    return await idempotency.run(
        scope=ANONYMOUS_SCOPE, body=body.model_dump(mode="json"), status_code=202, operation=operation
    )


@router.post("/password-resets/confirm", status_code=status.HTTP_200_OK,
             responses=error_responses(400, 413, 422, 429, 503))
async def confirm_password_reset(body: PasswordResetConfirmIn, passwords: PasswordsDep, clock: ClockDep,
                                 session: SessionDep) -> AcceptedOut:
    await service.confirm_password_reset(
        session, passwords=passwords, clock=clock, token=body.token, new_password=body.new_password
    )
    return AcceptedOut(status="password_changed", message="the password was changed; log in again")
