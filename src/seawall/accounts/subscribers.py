"""What accounts does when another domain announces something (same transaction as the announcement).

- `PaymentSucceeded` / `PaymentFailed` of a user's plan payment (`users.plan_payment_id`) settle a
  paid sign-up: `pending_payment` → `active` (announcing `UserActivated`) or `payment_failed`.
  Any other payment, or a user no longer `pending_payment`, changes nothing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts import repository
from seawall.accounts.events import UserActivated
from seawall.accounts.models import User, UserStatus
from seawall.accounts.state import check_user_transition
from seawall.events import publish, subscriber
from seawall.kit.clock import Clock
from seawall.payments.events import PaymentEvent, PaymentFailed, PaymentSucceeded


@subscriber(PaymentSucceeded)
async def activate_paid_account(session: AsyncSession, event: PaymentSucceeded, *, clock: Clock) -> None:
    user = await _settle_plan(session, event, status=UserStatus.ACTIVE, clock=clock)
    if user is not None:
        await publish(session, UserActivated(user_id=user.id, plan=user.plan), clock=clock)


@subscriber(PaymentFailed)
async def hold_unpaid_account(session: AsyncSession, event: PaymentFailed, *, clock: Clock) -> None:
    await _settle_plan(session, event, status=UserStatus.PAYMENT_FAILED, clock=clock)


async def _settle_plan(session: AsyncSession, event: PaymentEvent, *, status: UserStatus, clock: Clock
                       ) -> User | None:
    """Move the user whose plan waits for this payment to `status`; None (and no change) when no
    user waits for it: another payment, or an account no longer `pending_payment`."""
    user = await repository.get_user(session, event.user_id, for_update=True)
    if user is None or user.plan_payment_id != event.payment_id or user.status != UserStatus.PENDING_PAYMENT:
        return None
    user.status = check_user_transition(user.status, status)
    user.updated_at = clock.now()
    await session.flush()
    return user
