"""`ForwardedIdentity.headers` without a database to ask: a 503 error (never a header, never a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy.exc import OperationalError

from seawall.accounts.service import SessionTiming
from seawall.accounts.session_cache import SessionCache
from seawall.db import Database
from seawall.errors import ServiceUnavailableError
from seawall.kit.clock import FakeClock
from seawall.legacy.identity import ForwardedIdentity
from seawall.legacy.keys import SigningKey


class UnreachableDatabase:
    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[Any]:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("down"))
        yield


async def test_an_unreachable_database_is_a_503_error_not_a_missing_header() -> None:
    identity = ForwardedIdentity(SigningKey("k", b"s" * 32), prefix="", database=cast(Database, UnreachableDatabase()),
                                 clock=FakeClock(), session_cache=SessionCache.disabled(),
                                 timing=SessionTiming(ttl=timedelta(hours=1), idle=timedelta(minutes=30)))
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [(b"authorization", b"Bearer t")]}
    with pytest.raises(ServiceUnavailableError):
        await identity.headers(scope, "r")
    assert await identity.headers({**scope, "headers": []}, "r") == []  # no token: no database call at all
