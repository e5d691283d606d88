"""Promise: a database restart costs at most a retryable 503 per broken pooled connection, never a
500, and the API serves again at once (connections are not pre-pinged; see DATABASE_POOL_PRE_PING)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from seawall.runtime import Runtime
from tests.integration.accounts.wire import new_email, new_key, sign_up


async def terminate_other_connections(database_url: str) -> int:
    """What a PostgreSQL restart does to the pool: every server-side session of the database ends."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return int(await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        await connection.close()


async def test_broken_pooled_connections_answer_503_then_the_api_serves_again(
    client: httpx.AsyncClient, runtime: Runtime, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("an embedded SQLite file has no server connections to lose")
    assert runtime.settings.database_url is not None
    first = await sign_up(client, email=new_email("before"), key=new_key())
    assert first.status_code == 201, first.text
    assert await terminate_other_connections(runtime.settings.resolved_database_url) >= 1

    statuses = []
    for attempt in range(runtime.settings.database_pool_size + 2):
        key, email = new_key(), new_email(f"after{attempt}")
        response = await sign_up(client, email=email, key=key)
        statuses.append(response.status_code)
        assert response.status_code in (201, 503), response.text
        if response.status_code == 503:
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"]["type"] == "unavailable"
            retried = await sign_up(client, email=email, key=key)  # nothing of the failed request was kept
            assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers, retried.text
        if response.status_code == 201:
            break
    assert statuses[-1] == 201, statuses
