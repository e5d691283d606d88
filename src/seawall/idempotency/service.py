"""Run a creating request at most once per Idempotency-Key.

Semantics (IETF draft "The Idempotency-Key HTTP Header Field", and Stripe):
- no key where one is required -> 400; a key over 255 characters or not printable ASCII -> 400;
- same key, same request fingerprint, completed -> the stored status and body, marked
  `Idempotent-Replayed: true`;
- same key, different fingerprint -> 422;
- same key while the first request is still in flight -> 409;
- keys are scoped to the caller and kept at least `idempotency_ttl_hours` (>= 24 h).

How: the key is reserved in a short transaction of its own (an in-flight record with a lock token
and a lock deadline). The operation then runs in a second transaction that also marks the record
completed with the response, conditional on the lock token, so business rows and the stored
response commit together or not at all. If the operation fails, the reservation is deleted: a
rejected (4xx) or failed (5xx) request stores nothing, and a corrected retry with the same key runs.
A reservation whose request died (crash mid-request) is taken over after its lock deadline; if the
original request then tries to finish, its lock token no longer matches and it rolls back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.db import Database
from seawall.errors import (
    IdempotencyInFlightError,
    IdempotencyKeyError,
    IdempotencyMismatchError,
)
from seawall.idempotency import repository
from seawall.idempotency.models import IdempotencyRecord, RecordStatus
from seawall.kit.clock import Clock

MAX_KEY_LENGTH = 255

Operation = Callable[[AsyncSession], Awaitable[BaseModel]]


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any
    replayed: bool


def validate_key(key: str | None, *, required: bool) -> str | None:
    if key is None or key == "":
        if required:
            raise IdempotencyKeyError("this request needs an Idempotency-Key header")
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyError(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters")
    if not all(0x20 <= ord(ch) <= 0x7E for ch in key):
        raise IdempotencyKeyError("Idempotency-Key must be printable ASCII")
    return key


def fingerprint(*, method: str, path: str, body: Any, secret_key: bytes) -> str:
    """HMAC-SHA256 of the canonical request, keyed by the server secret.

    Keyed because bodies hold secrets (a sign-up's password): a plain SHA-256 kept for a day would
    let anyone holding a database copy test password guesses at hash speed, bypassing Argon2.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    message = f"{method.upper()} {path}\n{canonical}".encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()


async def execute_once(
    *,
    database: Database,
    settings: Settings,
    clock: Clock,
    scope: str,
    key: str,
    request_fingerprint: str,
    status_code: int,
    operation: Operation,
) -> StoredResponse:
    lock_token = secrets.token_hex(16)
    stored = await _reserve(
        database, settings=settings, clock=clock, scope=scope, key=key,
        request_fingerprint=request_fingerprint, lock_token=lock_token,
    )
    if stored is not None:
        return stored
    try:
        async with database.transaction() as session:
            result = await operation(session)
            body = result.model_dump(mode="json")
            if not await repository.complete(
                session, scope=scope, key=key, lock_token=lock_token, status_code=status_code, body=body
            ):
                raise IdempotencyInFlightError(
                    "this request took longer than its idempotency lock and was taken over; "
                    "its work was rolled back"
                )
    except BaseException:
        async with database.transaction() as session:
            await repository.release(session, scope=scope, key=key, lock_token=lock_token)
        raise
    return StoredResponse(status_code=status_code, body=body, replayed=False)


async def _reserve(
    database: Database,
    *,
    settings: Settings,
    clock: Clock,
    scope: str,
    key: str,
    request_fingerprint: str,
    lock_token: str,
) -> StoredResponse | None:
    """Reserve the key, or answer from what it already holds."""
    now = clock.now()
    locked_until = now + timedelta(seconds=settings.idempotency_lock_seconds)
    try:
        async with database.transaction() as session:
            record = await repository.get_for_update(session, scope=scope, key=key)
            if record is not None and record.expires_at <= now:
                await session.delete(record)
                await session.flush()
                record = None
            if record is None:
                session.add(
                    IdempotencyRecord(
                        scope=scope,
                        key=key,
                        fingerprint=request_fingerprint,
                        status=RecordStatus.IN_FLIGHT,
                        lock_token=lock_token,
                        locked_until=locked_until,
                        created_at=now,
                        expires_at=now + timedelta(hours=settings.idempotency_ttl_hours),
                    )
                )
                return None
            if record.fingerprint != request_fingerprint:
                raise IdempotencyMismatchError(
                    "this Idempotency-Key was already used with a different request"
                )
            if record.status == RecordStatus.COMPLETED:
                return StoredResponse(
                    status_code=record.response_status or 200, body=record.response_body, replayed=True
                )
            if record.locked_until is not None and record.locked_until > now:
                raise IdempotencyInFlightError(
                    "a request with this Idempotency-Key is still being processed; retry later"
                )
            # The first request died mid-flight: take the reservation over.
            record.lock_token = lock_token
            record.locked_until = locked_until
            return None
    except IntegrityError:
        # A concurrent request inserted the same key between our read and our insert.
        raise IdempotencyInFlightError(
            "a request with this Idempotency-Key is still being processed; retry later"
        ) from None


async def purge_expired(session: AsyncSession, *, clock: Clock) -> int:
    return await repository.delete_expired(session, now=clock.now())
