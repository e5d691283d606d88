"""SQL for idempotency records: one row per completed request, keyed by (scope, key).

Rows are written only as `completed`, by the transaction that did the request's work. Rows in
status `in_flight` come only from Seawall versions before one-transaction requests (a reservation
committed ahead of the work); they are honoured until their `locked_until` and then replaced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Table, and_, bindparam, column, delete, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.db import execute
from seawall.idempotency.models import IdempotencyRecord, RecordStatus


@dataclass(frozen=True)
class StoredRecord:
    """What a request needs to know of an existing record."""

    fingerprint: str
    status: str
    response_status: int | None
    response_body: Any
    expires_at: datetime
    locked_until: datetime | None


_RECORD_COLUMNS = (
    IdempotencyRecord.fingerprint, IdempotencyRecord.status, IdempotencyRecord.response_status,
    IdempotencyRecord.response_body, IdempotencyRecord.expires_at, IdempotencyRecord.locked_until,
)


def _record(row: Any) -> StoredRecord | None:
    if row is None or row.status is None:
        return None
    return StoredRecord(fingerprint=row.fingerprint, status=row.status, response_status=row.response_status,
                        response_body=row.response_body, expires_at=row.expires_at, locked_until=row.locked_until)


def _key(scope: str, key: str) -> Any:
    return and_(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)


def advisory_lock_id(scope: str, key: str) -> int:
    """A signed 64-bit id for PostgreSQL's advisory locks (`pg_try_advisory_xact_lock(bigint)`)."""
    digest = hashlib.blake2b(f"seawall-idempotency\0{scope}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def get(session: AsyncSession, *, scope: str, key: str) -> StoredRecord | None:
    return _record((await execute(session, _GET, {"scope": scope, "key": key})).first())


_records: Table = IdempotencyRecord.__table__  # type: ignore[assignment]

# One round trip: the advisory lock and the record's look-up. Built once (PostgreSQL only).
_LOCK_AND_GET = text(
    "SELECT pg_try_advisory_xact_lock(:lock_id) AS locked, record.fingerprint, record.status, "
    "record.response_status, record.response_body, record.expires_at, record.locked_until "
    "FROM (SELECT 1) AS one LEFT JOIN idempotency_records AS record ON record.scope = :scope AND record.key = :key"
).bindparams(bindparam("lock_id", type_=BigInteger)).columns(
    column("locked", Boolean), *(_records.c[name] for name in ("fingerprint", "status", "response_status",
                                                               "response_body", "expires_at", "locked_until"))
)

_INSERT = insert(_records)
_GET = select(*(_records.c[column.key] for column in _RECORD_COLUMNS)).where(
    _records.c.scope == bindparam("scope"), _records.c.key == bindparam("key"))


async def lock_and_get(session: AsyncSession, *, scope: str, key: str) -> tuple[bool, StoredRecord | None]:
    """PostgreSQL: try the key's transaction-scoped advisory lock and read its record, in one round trip.

    Returns (locked, record). `locked` is False when another transaction holds the lock (a request
    with this key is in flight). The record is read from a snapshot taken as the statement starts:
    one committed a moment later is caught by the primary key when this transaction inserts its own.
    """
    row = (await execute(session, _LOCK_AND_GET, {"lock_id": advisory_lock_id(scope, key), "scope": scope,
                                                  "key": key})).one()
    return bool(row.locked), _record(row)


async def delete_replaceable(session: AsyncSession, *, scope: str, key: str, now: datetime) -> None:
    """Delete the key's record if it expired, or is an old-style reservation whose lock ran out."""
    await session.execute(
        delete(IdempotencyRecord).where(
            _key(scope, key),
            or_(IdempotencyRecord.expires_at <= now,
                and_(IdempotencyRecord.status == RecordStatus.IN_FLIGHT, IdempotencyRecord.locked_until <= now)),
        )
    )


async def insert_completed(
    session: AsyncSession, *, scope: str, key: str, fingerprint: str, status_code: int, body: Any,
    now: datetime, expires_at: datetime,
) -> None:
    """Insert the completed record; `IntegrityError` if a concurrent request committed the key first."""
    await execute(session, _INSERT, dict(
        scope=scope, key=key, fingerprint=fingerprint, status=RecordStatus.COMPLETED, lock_token=None,
        locked_until=None, response_status=status_code, response_body=body, created_at=now, expires_at=expires_at,
    ))


async def delete_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
