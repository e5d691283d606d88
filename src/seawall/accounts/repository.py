"""All SQL of the accounts domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.accounts.models import AuthSession, PasswordReset, User
from seawall.kit.types import UTCDateTime


async def get_user(session: AsyncSession, user_id: str, *, for_update: bool = False) -> User | None:
    """The user; with `for_update`, read again and row-locked (`SELECT … FOR UPDATE`) even if this
    session already holds it (SQLite has no row locks: its writer lock serializes writers)."""
    return await session.get(User, user_id, with_for_update=for_update or None)


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


def _last_used() -> ColumnElement[datetime]:
    return func.coalesce(AuthSession.last_used_at, AuthSession.created_at, type_=UTCDateTime)


async def find_live_session_with_user(session: AsyncSession, *, token_digest: str, now: datetime,
                                      idle_since: datetime) -> tuple[AuthSession, User] | None:
    """The live session of a token digest and its user, in one round trip: not revoked, before its
    absolute expiry, and used after `idle_since` (now minus the idle timeout)."""
    query = (
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_digest == token_digest, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now,
               _last_used() > idle_since)
    )
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def touch_session(session: AsyncSession, *, session_id: str, now: datetime, unless_after: datetime) -> None:
    """Record a use of the session at `now`, unless one after `unless_after` is already recorded (so
    processes refreshing the same session at once write it once, and never move it backwards)."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None), _last_used() <= unless_after)
        .values(last_used_at=now)
    )


async def revoke_session(session: AsyncSession, *, session_id: str, now: datetime) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_sessions_of(session: AsyncSession, *, user_id: str, now: datetime,
                             except_session_id: str | None = None) -> None:
    """Revoke every live session of the user, but `except_session_id` when given."""
    query = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if except_session_id is not None:
        query = query.where(AuthSession.id != except_session_id)
    await session.execute(query)


async def get_password_reset(session: AsyncSession, reset_id: str) -> PasswordReset | None:
    return await session.get(PasswordReset, reset_id)


async def find_password_reset_for_update(session: AsyncSession, *, token_digest: str) -> PasswordReset | None:
    query = select(PasswordReset).where(PasswordReset.token_digest == token_digest).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def retire_password_resets_of(session: AsyncSession, *, user_id: str, now: datetime) -> None:
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )


async def set_password_hash(session: AsyncSession, *, user_id: str, password_hash: str, now: datetime) -> None:
    await session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash, updated_at=now))
