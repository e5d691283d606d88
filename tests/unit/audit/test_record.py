"""Promise: an audit event is always a log line first; a row that cannot be written apart from the
request is an `audit.write_failed` error line carrying the event (never silent, never raised), while
a row written in the caller's transaction fails that transaction; the lockout log records a locked
partition once per lock period."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
import structlog
from structlog.testing import capture_logs

from seawall import audit
from seawall.db import Database
from seawall.kit.clock import FakeClock
from seawall.ratelimit.lockouts import LockoutLog, is_login_lockout


class BrokenDatabase:
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        raise ConnectionError("database unreachable")
        yield  # pragma: no cover


class BrokenSession:
    def add(self, row: object) -> None:
        pass

    async def flush(self) -> None:
        raise ConnectionError("database unreachable")


ENTRY = audit.AuditEntry(action="auth.login_failed", outcome="invalid_credentials", details={"email": "a@b.example"})


async def test_a_failed_write_apart_is_logged_with_the_event_and_not_raised() -> None:
    with structlog.contextvars.bound_contextvars(request_id="req-1", client_ip="192.0.2.1"), capture_logs() as logs:
        await audit.record_apart(cast(Database, BrokenDatabase()), ENTRY, clock=FakeClock())
    assert [line["event"] for line in logs] == ["audit.auth.login_failed", "audit.write_failed"]
    event, failed = logs
    assert event["log_level"] == "warning" and event["client_ip"] == "192.0.2.1"
    assert failed["log_level"] == "error" and failed["action"] == "auth.login_failed"
    assert failed["details"] == {"email": "a@b.example"} and failed["audit_id"] == event["audit_id"]


async def test_a_failed_write_in_the_callers_transaction_fails_it() -> None:
    with capture_logs() as logs, pytest.raises(ConnectionError):
        await audit.record(cast(Any, BrokenSession()), ENTRY, clock=FakeClock())
    assert [line["event"] for line in logs] == ["audit.auth.login_failed"]


def test_a_locked_partition_is_recorded_once_per_lock_period() -> None:
    lockouts = LockoutLog()
    assert lockouts.first_refusal("p1", 60) and not lockouts.first_refusal("p1", 60)
    assert lockouts.first_refusal("p2", 60)
    lockouts.until["p1"] = 0.0  # its period is over
    assert lockouts.first_refusal("p1", 60)
    assert is_login_lockout("login-email-60s") and is_login_lockout("login-ip-3600s")
    assert not is_login_lockout("ip-60s") and not is_login_lockout(None)
