"""Run a creating request at most once per Idempotency-Key.

Semantics (IETF draft "The Idempotency-Key HTTP Header Field", and Stripe):
- no key where one is required -> 400; a key over 255 characters or not printable ASCII -> 400;
- same key, same request fingerprint, completed -> the stored status and body, marked
  `Idempotent-Replayed: true`;
- same key, different fingerprint -> 422;
- same key while the first request is still in flight -> 409;
- keys are scoped to the caller and kept at least `idempotency_ttl_hours` (>= 24 h).

How (DESIGN §2): one transaction per request. It looks the key up, runs the operation, and inserts
the completed record with the response, so the business rows, their jobs and the stored response
commit together or not at all; a rejected (4xx) or failed (5xx) request, or a process killed
mid-request, leaves nothing behind, and a retry with the same key runs afresh.
A request in flight is detected without a round trip within the process (a set of keys in flight),
and across processes on PostgreSQL by a transaction-scoped advisory lock on the key, taken in the
same statement as the look-up. Whatever slips past both (a duplicate that started in another
process just as the first committed, or another process on the embedded SQLite file, where writers
take turns) is caught by the record's primary key: the late transaction rolls back whole and is
answered from the record that won.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.config import Settings
from seawall.db import Database
from seawall.idempotency import repository
from seawall.idempotency.errors import IdempotencyInFlightError, IdempotencyKeyError, IdempotencyMismatchError
from seawall.idempotency.models import RecordStatus
from seawall.kit.clock import Clock
from seawall.observability.label_cache import Children
from seawall.observability.metrics import METRICS

MAX_KEY_LENGTH = 255
IN_FLIGHT_MESSAGE = "a request with this Idempotency-Key is still being processed; retry later"

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


_OUTCOMES = Children(lambda: METRICS.idempotency_requests)

_in_flight: WeakKeyDictionary[Database, set[tuple[str, str]]] = WeakKeyDictionary()


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
    """Counted in `seawall_idempotency_requests_total{outcome}`: `replayed`, `conflict` (422: the key with
    another request), `in_progress` (409), else `new` (the operation ran, whatever it answered)."""
    outcome = "new"
    try:
        stored = await _execute_unless_in_flight(
            database, settings=settings, clock=clock, scope=scope, key=key, request_fingerprint=request_fingerprint,
            status_code=status_code, operation=operation)
        if stored.replayed:
            outcome = "replayed"
        return stored
    except IdempotencyMismatchError:
        outcome = "conflict"
        raise
    except IdempotencyInFlightError:
        outcome = "in_progress"
        raise
    finally:
        _OUTCOMES(outcome).inc()


async def _execute_unless_in_flight(
    database: Database,
    *,
    settings: Settings,
    clock: Clock,
    scope: str,
    key: str,
    request_fingerprint: str,
    status_code: int,
    operation: Operation,
) -> StoredResponse:
    in_flight = _in_flight.setdefault(database, set())
    if (scope, key) in in_flight:
        raise IdempotencyInFlightError(IN_FLIGHT_MESSAGE)
    in_flight.add((scope, key))
    try:
        return await _execute(database, settings=settings, clock=clock, scope=scope, key=key,
                              request_fingerprint=request_fingerprint, status_code=status_code, operation=operation)
    finally:
        in_flight.discard((scope, key))


async def _execute(
    database: Database,
    *,
    settings: Settings,
    clock: Clock,
    scope: str,
    key: str,
    request_fingerprint: str,
    status_code: int,
    operation: Operation,
) -> StoredResponse:
    postgres = database.engine.dialect.name == "postgresql"
    now = clock.now()
    record: repository.StoredRecord | None = None
    if not postgres:
        # SQLite: read on the reader, so slow work before the operation's first write (password
        # hashing) does not hold the single write lock.
        async with database.read_transaction() as session:
            record = await repository.get(session, scope=scope, key=key)
        stored = _answer_from(record, request_fingerprint=request_fingerprint, now=now)
        if stored is not None:
            return stored
    try:
        async with database.transaction() as session:
            if postgres:
                locked, record = await repository.lock_and_get(session, scope=scope, key=key)
                if not locked:
                    raise IdempotencyInFlightError(IN_FLIGHT_MESSAGE)
                stored = _answer_from(record, request_fingerprint=request_fingerprint, now=now)
                if stored is not None:
                    return stored
            if record is not None:
                await repository.delete_replaceable(session, scope=scope, key=key, now=now)
            result = await operation(session)
            body = result.model_dump(mode="json")
            await repository.insert_completed(
                session, scope=scope, key=key, fingerprint=request_fingerprint, status_code=status_code, body=body,
                now=now, expires_at=now + timedelta(hours=settings.idempotency_ttl_hours),
            )
    except IntegrityError:
        # A concurrent request with this key committed first; this one's work has rolled back.
        async with database.read_transaction() as session:
            record = await repository.get(session, scope=scope, key=key)
        stored = _answer_from(record, request_fingerprint=request_fingerprint, now=clock.now())
        if stored is None:
            raise
        return stored
    return StoredResponse(status_code=status_code, body=body, replayed=False)


def _answer_from(
    record: repository.StoredRecord | None, *, request_fingerprint: str, now: datetime
) -> StoredResponse | None:
    """The answer an existing record gives (a replay, or 422/409 raised), or None: run the request."""
    if record is None or record.expires_at <= now:
        return None
    if record.fingerprint != request_fingerprint:
        raise IdempotencyMismatchError("this Idempotency-Key was already used with a different request")
    if record.status == RecordStatus.COMPLETED:
        return StoredResponse(status_code=record.response_status or 200, body=record.response_body, replayed=True)
    if record.locked_until is not None and record.locked_until > now:
        raise IdempotencyInFlightError(IN_FLIGHT_MESSAGE)  # an old-style reservation, still held
    return None


async def purge_expired(session: AsyncSession, *, clock: Clock) -> int:
    return await repository.delete_expired(session, now=clock.now())
