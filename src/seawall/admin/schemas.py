"""Wire shapes of the operator job API (`admin.jobs`) and of `seawall dlq --json`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    worker_id: str
    outcome: str
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    queue: str
    status: str
    payload: dict[str, Any]
    dedup_key: str | None
    attempts: int
    max_attempts: int
    next_run_at: datetime
    lease_expires_at: datetime | None
    locked_by: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class JobDetailOut(JobOut):
    attempt_history: list[JobAttemptOut]


class JobPageOut(BaseModel):
    data: list[JobOut]
    next_cursor: str | None


class AuditEventOut(BaseModel):
    """One audit event (see `seawall.audit`): never holds a secret."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    created_at: datetime
    action: str
    outcome: str
    actor_type: str
    actor: str | None
    scope: str | None
    route: str | None
    request_id: str | None
    client_ip: str | None
    details: dict[str, Any]


class AuditEventPageOut(BaseModel):
    data: list[AuditEventOut]
    next_cursor: str | None
