"""The naive peer of `seawall bench write`: bench-only, never part of the product.

What a team writes without Seawall: a FastAPI route parsing the same body, then one SQLAlchemy
(async, ORM) transaction with the same three INSERTs as Seawall's `POST /v1/payments` — an
idempotency record, a payment, a job row — into Seawall's own tables. No guarantees: no bearer
check (the user id comes from the environment), no idempotency semantics (the key is stored, never
looked up), no rate limit. Served by uvicorn: `uvicorn seawall.bench.naive_app:create_app --factory`.

Environment: `SEAWALL_BENCH_PEER_DATABASE_URL` (SQLAlchemy async URL), `SEAWALL_BENCH_PEER_USER_ID`
(an existing `users.id`), `SEAWALL_BENCH_PEER_POOL_SIZE` (connections per process, default 10).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, status
from pydantic import BaseModel, Field
from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from seawall.accounts import models as _accounts_models  # noqa: F401  (payments.user_id's table, for the ORM)
from seawall.idempotency.models import IdempotencyRecord
from seawall.jobs.models import Job
from seawall.payments.models import Payment

JOB_KIND = "bench.naive"  # a kind no Seawall worker runs
JOB_QUEUE = "bench"


class NaivePaymentIn(BaseModel):
    amount: Annotated[int, Field(gt=0)]
    currency: Annotated[str, Field(pattern=r"^[a-z]{3}$")]
    payment_method: str
    description: str | None = None


class NaivePaymentOut(BaseModel):
    id: str
    amount: int
    currency: str
    status: str
    payment_method: str
    created_at: datetime


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """The same durability as Seawall's embedded file: WAL, synchronous=FULL, foreign keys, a busy timeout."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def create_app() -> FastAPI:
    url = os.environ["SEAWALL_BENCH_PEER_DATABASE_URL"]
    user_id = os.environ["SEAWALL_BENCH_PEER_USER_ID"]
    pool_size = int(os.environ.get("SEAWALL_BENCH_PEER_POOL_SIZE", "10"))
    engine = create_async_engine(url, pool_size=pool_size)  # overflow and timeout: SQLAlchemy defaults, as Seawall
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/payments", status_code=status.HTTP_202_ACCEPTED)
    async def create_payment(
        body: NaivePaymentIn, idempotency_key: Annotated[str, Header(alias="Idempotency-Key")] = "",
    ) -> NaivePaymentOut:
        now = datetime.now(UTC)
        payment = Payment(
            id=f"pay_{uuid.uuid4().hex}", user_id=user_id, amount=body.amount, currency=body.currency,
            payment_method=body.payment_method, description=body.description, purpose="charge", status="pending",
            route_name=None, provider_outcome_unknown=False, amount_refunded=0, created_at=now, updated_at=now,
        )
        answer = NaivePaymentOut(id=payment.id, amount=payment.amount, currency=payment.currency,
                                 status=payment.status, payment_method=payment.payment_method, created_at=now)
        async with sessions() as session, session.begin():
            session.add(IdempotencyRecord(
                scope=user_id, key=idempotency_key or uuid.uuid4().hex,
                fingerprint=hashlib.sha256(body.model_dump_json().encode()).hexdigest(), status="completed",
                response_status=202, response_body=answer.model_dump(mode="json"), created_at=now,
                expires_at=now + timedelta(hours=24),
            ))
            session.add(payment)
            session.add(Job(kind=JOB_KIND, queue=JOB_QUEUE, payload={"payment_id": payment.id}, status="queued",
                            dedup_key=f"{JOB_KIND}:{payment.id}", attempts=0, max_attempts=10, next_run_at=now,
                            created_at=now, updated_at=now))
        return answer

    return app
