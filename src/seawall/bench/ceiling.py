"""The ceiling of `seawall bench write`: the same three INSERTs per transaction, straight to the driver.

Each transaction inserts what `POST /v1/payments` must make durable — an idempotency record (with a
stored response), a payment, a job row with its dedup key — into Seawall's tables, and commits.
PostgreSQL: asyncpg, `connections` connections (fewer if the server's `max_connections` has no
room) each running transactions back to back for `seconds`. Embedded file: sqlite3 with Seawall's
pragmas (WAL, synchronous=FULL, foreign keys), one writer (SQLite has one write lock). Latency is
per transaction (µs, HdrHistogram); CPU is the calling process's own (the driver, and on SQLite the
database engine itself), read by the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from seawall.bench.load import LATENCY_MAX_US, LoadResult, new_histogram

JOB_KIND = "bench.ceiling"  # a kind no Seawall worker runs
JOB_QUEUE = "bench"

_INSERT_RECORD = ("INSERT INTO idempotency_records (scope, key, fingerprint, status, response_status, response_body,"
                  " created_at, expires_at) VALUES ({0}, {1}, {2}, 'completed', 202, {3}, {4}, {5})")
_INSERT_PAYMENT = ("INSERT INTO payments (id, user_id, amount, currency, payment_method, description, purpose, status,"
                   " provider_outcome_unknown, amount_refunded, created_at, updated_at)"
                   " VALUES ({0}, {1}, 1000, 'usd', 'pm_card_visa', NULL, 'charge', 'pending', {2}, 0, {3}, {3})")
_INSERT_JOB = ("INSERT INTO jobs (kind, queue, payload, status, dedup_key, attempts, max_attempts, next_run_at,"
               f" created_at, updated_at) VALUES ('{JOB_KIND}', '{JOB_QUEUE}', {{0}}, 'queued', {{1}}, 0, 10, {{2}},"
               " {2}, {2})")


def _rows(user_id: str, key: str, now: datetime) -> tuple[str, str, str, str]:
    """(payment id, fingerprint, stored response body, job payload), as Seawall would write them."""
    payment_id = f"pay_{uuid.uuid4().hex}"
    fingerprint = hashlib.sha256(f"{user_id}:{key}".encode()).hexdigest()
    body = json.dumps({"id": payment_id, "amount": 1000, "currency": "usd", "status": "pending",
                       "payment_method": "pm_card_visa", "created_at": now.isoformat()})
    return payment_id, fingerprint, body, json.dumps({"payment_id": payment_id})


def _record(result: LoadResult, seconds: float) -> None:
    result.requests += 1
    result.histogram.record_value(max(1, min(int(seconds * 1e6), LATENCY_MAX_US)))


def _empty_result(generator: str) -> LoadResult:
    return LoadResult(generator=generator, requests=0, non_2xx=0, errors=0, seconds=0.0, histogram=new_histogram())


async def postgres(dsn: str, *, user_id: str, connections: int, seconds: float) -> LoadResult:
    """`connections` asyncpg connections, each committing the three INSERTs back to back."""
    placeholders = [f"${n}" for n in range(1, 7)]
    record_sql = _INSERT_RECORD.format(*placeholders[:3], "$4::json", "$5", "$6")
    payment_sql = _INSERT_PAYMENT.format("$1", "$2", "false", "$3")
    job_sql = _INSERT_JOB.format("$1::json", "$2", "$3")
    result = _empty_result("asyncpg")
    connections = await _connections_allowed(dsn, connections)
    result.connections = connections
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    try:
        started = time.perf_counter()
        deadline = started + seconds

        async def one_connection(number: int) -> None:
            counter = 0
            async with pool.acquire() as connection:
                while time.perf_counter() < deadline:
                    counter += 1
                    sent = time.perf_counter()
                    now = datetime.now(UTC)
                    key = f"ceiling-{number}-{counter}-{uuid.uuid4().hex[:8]}"
                    payment_id, fingerprint, body, payload = _rows(user_id, key, now)
                    async with connection.transaction():
                        await connection.execute(record_sql, user_id, key, fingerprint, body, now,
                                                 now + timedelta(hours=24))
                        await connection.execute(payment_sql, payment_id, user_id, now)
                        await connection.execute(job_sql, payload, f"{JOB_KIND}:{payment_id}", now)
                    _record(result, time.perf_counter() - sent)

        await asyncio.gather(*(one_connection(number) for number in range(connections)))
        result.seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return result


async def _connections_allowed(dsn: str, wanted: int) -> int:
    """`wanted`, or fewer when the server's `max_connections` has no room for that many (five spare)."""
    connection = await asyncpg.connect(dsn)
    try:
        limit = int(await connection.fetchval("SHOW max_connections"))
        used = int(await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))
    finally:
        await connection.close()
    return max(1, min(wanted, limit - used - 5))


def _sqlite_time(moment: datetime) -> str:
    """The way SQLAlchemy stores Seawall's UTC datetimes in SQLite (naive UTC, fixed width)."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def sqlite(path: Path, *, user_id: str, seconds: float) -> LoadResult:
    """One sqlite3 writer committing the three INSERTs back to back, with Seawall's pragmas."""
    record_sql = _INSERT_RECORD.format(*["?"] * 6)
    payment_sql = _INSERT_PAYMENT.format("?1", "?2", "0", "?3")
    job_sql = _INSERT_JOB.format("?1", "?2", "?3")
    result = _empty_result("sqlite3")
    result.connections = 1
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
            connection.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        deadline = started + seconds
        counter = 0
        while time.perf_counter() < deadline:
            counter += 1
            sent = time.perf_counter()
            now = datetime.now(UTC)
            key = f"ceiling-{counter}-{uuid.uuid4().hex[:8]}"
            payment_id, fingerprint, body, payload = _rows(user_id, key, now)
            stamp = _sqlite_time(now)
            parameters: list[Any] = [user_id, key, fingerprint, body, stamp, _sqlite_time(now + timedelta(hours=24))]
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(record_sql, parameters)
            connection.execute(payment_sql, (payment_id, user_id, stamp))
            connection.execute(job_sql, (payload, f"{JOB_KIND}:{payment_id}", stamp))
            connection.execute("COMMIT")
            _record(result, time.perf_counter() - sent)
        result.seconds = time.perf_counter() - started
    finally:
        connection.close()
    return result
