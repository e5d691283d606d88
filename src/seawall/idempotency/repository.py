"""SQL for idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.idempotency.models import IdempotencyRecord, RecordStatus


async def get_for_update(session: AsyncSession, *, scope: str, key: str) -> IdempotencyRecord | None:
    query = (
        select(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def complete(
    session: AsyncSession, *, scope: str, key: str, lock_token: str, status_code: int, body: Any
) -> bool:
    result = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.lock_token == lock_token,
            IdempotencyRecord.status == RecordStatus.IN_FLIGHT,
        )
        .values(
            status=RecordStatus.COMPLETED,
            lock_token=None,
            locked_until=None,
            response_status=status_code,
            response_body=body,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, *, scope: str, key: str, lock_token: str) -> None:
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.lock_token == lock_token,
            IdempotencyRecord.status == RecordStatus.IN_FLIGHT,
        )
    )


async def delete_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
