"""Accounts use cases. Services flush; the request or job boundary commits.

No user enumeration: login answers the same for an unknown email and a wrong password (and spends
the same Argon2 work), and a password-reset request is accepted identically for any email: the
lookup happens later, inside the `accounts.send_password_reset` job.

Reset tokens are derived, not stored: token = HMAC-SHA256(server secret, reset request id). A job
that runs twice sends the same token under the same Message-ID, and the database holds only the
token's SHA-256 digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts import repository
from seawall.accounts.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    InvalidCurrentPasswordError,
    InvalidResetTokenError,
    InvalidSessionError,
    PlanPaymentNotDueError,
)
from seawall.accounts.events import PasswordChanged, PasswordResetIssued, UserActivated
from seawall.accounts.models import AuthSession, PasswordReset, User, UserStatus
from seawall.accounts.passwords import Passwords
from seawall.accounts.schemas import UserOut
from seawall.accounts.session_cache import Principal, PrincipalUser, evict_on_commit
from seawall.accounts.state import check_user_transition
from seawall.audit import AuditEntry, record, record_apart
from seawall.cache import CacheKey, ReadCache, invalidate_on_commit, track
from seawall.db import Database, contested_insert
from seawall.errors import NotFoundError
from seawall.events import publish
from seawall.jobs import enqueue
from seawall.kit.clock import Clock
from seawall.kit.ids import new_id
from seawall.kit.tokens import new_token, token_digest
from seawall.payments import plans
from seawall.payments import service as payments
from seawall.payments.schemas import PaymentOut
from seawall.replicas import UserReads

PASSWORD_RESET_JOB = "accounts.send_password_reset"
PASSWORD_RESET_JOB_ALIASES = ("notifications.password_reset",)  # its name before version 0.11


def user_view_key(user_id: str) -> CacheKey:
    return ("user", user_id)


track(User, lambda user: [user_view_key(user.id)])  # every committed change of a user row invalidates its view


MAX_SESSION_REFRESH = timedelta(minutes=5)


@dataclass(frozen=True)
class SessionTiming:
    """How long a session lives: `ttl` after login however much it is used (absolute), and `idle`
    after its last recorded use. A use is recorded at most every `refresh` = min(idle / 24, 5 min),
    so a session ends between `idle - refresh` and `idle` after its last request, never later (the
    session cache serves a lookup only until its use is due to be recorded). (OWASP ASVS 4.0 §3.3:
    idle and absolute timeouts.)"""

    ttl: timedelta
    idle: timedelta

    @property
    def refresh(self) -> timedelta:
        return min(self.idle / 24, MAX_SESSION_REFRESH)


@dataclass(frozen=True)
class IssuedPasswordReset:
    reset_id: str
    email: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedUp:
    user: User
    payment: PaymentOut | None


async def sign_up(
    session: AsyncSession, *, passwords: Passwords, clock: Clock, email: str, password: str,
    plan: str | None = None, payment_method: str | None = None,
) -> SignedUp:
    """Create the user; with a plan, also its payment and charge job, all in the caller's transaction.

    A paid sign-up starts `pending_payment` and becomes `active` when the charge succeeds
    (`payment_failed` otherwise; the user can then pay with another method): see `subscribers`.
    A free sign-up is `active` at once and announces `UserActivated`.
    """
    chosen_plan = plans.plan_by_code(plan) if plan is not None else None
    password_hash = await passwords.hash(password)  # before the first query: no lock held meanwhile
    if await repository.find_user_by_email(session, email) is not None:
        raise EmailTakenError("an account with this email already exists")
    now = clock.now()
    user = User(
        id=new_id("usr"), email=email, password_hash=password_hash,
        status=UserStatus.PENDING_PAYMENT if chosen_plan else UserStatus.ACTIVE,
        plan=chosen_plan.code if chosen_plan else None, created_at=now, updated_at=now,
    )
    try:
        async with contested_insert(session):
            session.add(user)
    except IntegrityError:
        raise EmailTakenError("an account with this email already exists") from None
    payment = None
    if chosen_plan is not None and payment_method is not None:
        payment = await _charge_plan(session, clock=clock, user=user, plan=chosen_plan, payment_method=payment_method)
    elif user.status == UserStatus.ACTIVE:
        await publish(session, UserActivated(user_id=user.id, plan=user.plan), clock=clock)
    return SignedUp(user=user, payment=payment)


async def _charge_plan(session: AsyncSession, *, clock: Clock, user: User, plan: plans.Plan,
                       payment_method: str) -> PaymentOut:
    """Create the plan's payment (its charge job queued) and make it the one the account waits for."""
    payment = await payments.create_payment(
        session, clock=clock, user_id=user.id, amount=plan.amount, currency=plan.currency,
        payment_method=payment_method, description=plan.description, purpose=f"plan:{plan.code}",
    )
    user.plan_payment_id = payment.id
    return PaymentOut.model_validate(payment)


async def retry_plan_payment(session: AsyncSession, *, clock: Clock, user_id: str, payment_method: str
                             ) -> PaymentOut:
    """A user whose sign-up charge failed pays again (with another method); the status is read in
    this transaction, never from the caller's (possibly cached) principal, under a row lock, so two
    concurrent retries (different Idempotency-Keys) create one payment and the other gets 422
    `plan_payment_not_due`."""
    user = await repository.get_user(session, user_id, for_update=True)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    if user.status != UserStatus.PAYMENT_FAILED or user.plan is None:
        raise PlanPaymentNotDueError(f"there is no failed plan payment to retry (account is {user.status})")
    user.status = check_user_transition(user.status, UserStatus.PENDING_PAYMENT)
    user.updated_at = clock.now()
    return await _charge_plan(session, clock=clock, user=user, plan=plans.plan_by_code(user.plan),
                              payment_method=payment_method)


async def log_in(
    database: Database, *, passwords: Passwords, clock: Clock, timing: SessionTiming, email: str, password: str
) -> tuple[AuthSession, str]:
    """Log in with two short transactions, so the Argon2 work holds no database lock.

    (The one use case that owns its transactions: reading the hash, verifying it and recording the
    session cannot share one transaction without holding SQLite's write lock for ~30 ms.)
    A refusal is audited (`auth.login_failed`, in a transaction of its own) before it is raised.
    """
    async with database.read_transaction() as session:
        user = await repository.find_user_by_email(session, email)
        user_id, password_hash = (user.id, user.password_hash) if user is not None else (None, None)
    if not await passwords.verify(password_hash, password) or user_id is None or password_hash is None:
        await record_apart(database, AuditEntry(
            action="auth.login_failed", outcome=InvalidCredentialsError.error_type,
            actor_type="user" if user_id else "anonymous", actor=user_id, details={"email": email}), clock=clock)
        raise InvalidCredentialsError("email or password is not correct")
    upgraded_hash = await passwords.hash(password) if passwords.needs_rehash(password_hash) else None
    now = clock.now()
    token = new_token()
    auth_session = AuthSession(
        id=new_id("ses"), user_id=user_id, token_digest=token_digest(token), created_at=now,
        expires_at=now + timing.ttl, last_used_at=now,
    )
    async with database.transaction() as session:
        if upgraded_hash is not None:
            await repository.set_password_hash(session, user_id=user_id, password_hash=upgraded_hash, now=now)
            invalidate_on_commit(session, [user_view_key(user_id)])  # a bulk UPDATE: not seen by flush
        session.add(auth_session)
    return auth_session, token


async def resolve_session(database: Database, *, clock: Clock, timing: SessionTiming, token: str) -> Principal:
    """The caller of a bearer token, from a short read transaction; `InvalidSessionError` when the
    token is unknown, revoked, past its absolute expiry or idle too long.

    The session's last use is written only when the recorded one is `timing.refresh` old, in a
    transaction of its own (a conditional UPDATE: concurrent refreshes write once), so a busy
    session costs one write per `refresh`, not one per request.
    """
    now = clock.now()
    async with database.read_transaction() as session:
        found = await repository.find_live_session_with_user(
            session, token_digest=token_digest(token), now=now, idle_since=now - timing.idle)
        if found is None:
            raise InvalidSessionError("the bearer token is invalid, expired or revoked")
        auth_session, user = found
    if now - auth_session.last_used >= timing.refresh:
        async with database.transaction() as session:
            await repository.touch_session(session, session_id=auth_session.id, now=now,
                                           unless_after=now - timing.refresh)
        auth_session.last_used_at = now
    return Principal.of(user, auth_session, refresh=timing.refresh)


async def find_principal_user(database: Database, *, email: str) -> PrincipalUser | None:
    """The user with exactly this email, as a snapshot (for a caller another system vouches for, such
    as a legacy session: `seawall.legacy.introspection`); None when there is none."""
    async with database.read_transaction() as session:
        user = await repository.find_user_by_email(session, email)
        return None if user is None else PrincipalUser(id=user.id, email=user.email)


async def get_user_view(reads: UserReads, cache: ReadCache, *, user_id: str) -> UserOut:
    """A user's own view (`GET /v1/me`), cache-aside; the key is the user's own id. A read that may be
    stale (`reads`: on the read replica unless the user wrote lately; `seawall.replicas`)."""
    async def load(session: AsyncSession) -> dict[str, object]:
        return UserOut.model_validate(await get_user(session, user_id)).model_dump(mode="json")

    return UserOut.model_validate(await reads.cached(cache, user_view_key(user_id), load))


async def log_out(session: AsyncSession, *, clock: Clock, user_id: str, auth_session_id: str,
                  token_digest: str) -> None:
    """Revoke the session (audited as `auth.session_revoked`); once committed, this process's session
    cache forgets it at once."""
    await repository.revoke_session(session, session_id=auth_session_id, now=clock.now())
    await record(session, AuditEntry(action="auth.session_revoked", actor_type="user", actor=user_id,
                                     details={"session_id": auth_session_id, "reason": "logout"}), clock=clock)
    evict_on_commit(session, token_digests=[token_digest])


async def request_password_reset(session: AsyncSession, *, clock: Clock, email: str) -> str:
    """Accept a reset request for any email (audited as `auth.password_reset_requested`); the job
    looks the account up and mails it."""
    request_id = new_id("pwr")
    await enqueue(session, PASSWORD_RESET_JOB, {"request_id": request_id, "email": email}, clock=clock)
    await record(session, AuditEntry(action="auth.password_reset_requested",
                                     details={"request_id": request_id, "email": email}), clock=clock)
    return request_id


def derive_reset_token(secret_key: bytes, request_id: str) -> str:
    mac = hmac.new(secret_key, f"password-reset:{request_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


async def issue_password_reset(
    session: AsyncSession, *, clock: Clock, secret_key: bytes, ttl: timedelta, request_id: str, email: str
) -> bool:
    """Record the reset (once per request id) and announce `PasswordResetIssued`; False when no
    account has this email. Safe to run again: the same request id gives the same reset and token
    (the token itself is derived again when the email is sent: `password_reset_message_data`)."""
    user = await repository.find_user_by_email(session, email)
    if user is None:
        return False
    reset = await repository.get_password_reset(session, request_id)
    if reset is None:
        now = clock.now()
        reset = PasswordReset(id=request_id, user_id=user.id,
                              token_digest=token_digest(derive_reset_token(secret_key, request_id)),
                              created_at=now, expires_at=now + ttl)
        session.add(reset)
        await session.flush()
    await publish(session, PasswordResetIssued(user_id=user.id, reset_id=reset.id), clock=clock)
    return True


async def confirm_password_reset(
    session: AsyncSession, *, passwords: Passwords, clock: Clock, token: str, new_password: str
) -> None:
    """Set a new password with a single-use, unexpired token; every session of the user is revoked
    (audited as `auth.password_reset_confirmed`)."""
    now = clock.now()
    new_hash = await passwords.hash(new_password)  # before the first query: no lock held meanwhile
    reset = await repository.find_password_reset_for_update(session, token_digest=token_digest(token))
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise InvalidResetTokenError("the reset token is invalid, expired or already used")
    user = await repository.get_user(session, reset.user_id)
    if user is None:
        raise InvalidResetTokenError("the reset token is invalid, expired or already used")
    user.password_hash = new_hash
    user.updated_at = now
    await repository.retire_password_resets_of(session, user_id=user.id, now=now)
    await repository.revoke_sessions_of(session, user_id=user.id, now=now)
    evict_on_commit(session, user_ids=[user.id])
    await publish(session, PasswordChanged(user_id=user.id, how="reset"), clock=clock)
    await session.flush()
    await record(session, AuditEntry(action="auth.password_reset_confirmed", actor_type="user", actor=user.id,
                                     details={"request_id": reset.id, "sessions_revoked": "all"}), clock=clock)


async def change_password(
    database: Database, *, passwords: Passwords, clock: Clock, user_id: str, keep_session_id: str,
    current_password: str, new_password: str,
) -> None:
    """Change the password of a signed-in user who knows the current one: every other session of the
    user and every outstanding reset token are revoked; the session `keep_session_id` (the caller's)
    stays. `InvalidCurrentPasswordError` (403) for a wrong current password, or when the password
    was changed by someone else between the check and the write. Audited: `auth.password_changed` in
    the change's transaction, `auth.password_change_failed` (apart) for a refusal.

    Owns its transactions, like `log_in`: the Argon2 work (one verify, one hash) holds no lock.
    """
    async with database.read_transaction() as session:
        user = await repository.get_user(session, user_id)
        checked_hash = user.password_hash if user is not None else None
    refused = AuditEntry(action="auth.password_change_failed", outcome=InvalidCurrentPasswordError.error_type,
                         actor_type="user", actor=user_id, details={"session_id": keep_session_id})
    if not await passwords.verify(checked_hash, current_password) or checked_hash is None:
        await record_apart(database, refused, clock=clock)
        raise InvalidCurrentPasswordError("the current password is not correct")
    new_hash = await passwords.hash(new_password)
    now = clock.now()
    async with database.transaction() as session:
        user = await repository.get_user(session, user_id, for_update=True)
        if user is None or user.password_hash != checked_hash:
            await record_apart(database, refused, clock=clock)
            raise InvalidCurrentPasswordError("the current password is not correct")
        user.password_hash = new_hash
        user.updated_at = now
        await repository.retire_password_resets_of(session, user_id=user_id, now=now)
        await repository.revoke_sessions_of(session, user_id=user_id, now=now, except_session_id=keep_session_id)
        evict_on_commit(session, user_ids=[user_id])  # the kept session is simply read again
        await publish(session, PasswordChanged(user_id=user_id, how="change"), clock=clock)
        await session.flush()
        await record(session, AuditEntry(action="auth.password_changed", actor_type="user", actor=user_id,
                                         details={"session_id": keep_session_id,
                                                  "sessions_revoked": "all but this one"}), clock=clock)


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


async def password_reset_message_data(session: AsyncSession, *, reset_id: str, secret_key: bytes
                                      ) -> IssuedPasswordReset:
    """What the reset email needs: the token (derived again, never stored) and its expiry."""
    reset = await repository.get_password_reset(session, reset_id)
    user = await repository.get_user(session, reset.user_id) if reset is not None else None
    if reset is None or user is None:
        raise NotFoundError(f"no password reset {reset_id}")
    return IssuedPasswordReset(reset_id=reset.id, email=user.email, token=derive_reset_token(secret_key, reset.id),
                               expires_at=reset.expires_at)
