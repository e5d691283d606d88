"""Promise 8: the database pool reports connections in use, and counts a checkout as a wait only when
it found no idle connection (it had to open one, or wait for one to come back)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from seawall.config import Settings
from seawall.db import Database
from seawall.observability import exposition
from tests.support.metrics import registry_text, sample

pytestmark = pytest.mark.backends("sqlite", "postgres")


def pool_figures() -> tuple[float, float, float]:
    text_format = registry_text(exposition.scrape_registry())
    return (sample(text_format, "seawall_db_pool_in_use"), sample(text_format, "seawall_db_pool_waits_total"),
            sample(text_format, "seawall_db_pool_wait_seconds_count"))


async def test_in_use_follows_checkouts_and_only_a_checkout_without_an_idle_connection_waits(
    settings: Settings,
) -> None:
    exposition.install(settings)
    database = Database(settings.model_copy(update={"database_pool_size": 2}))
    try:
        in_use, waits, timed = pool_figures()
        async with database.engine.connect() as connection:  # an empty pool: opens one
            await connection.execute(text("SELECT 1"))
            assert pool_figures() == (in_use + 1, waits + 1, timed + 1)
        assert pool_figures() == (in_use, waits + 1, timed + 1)
        async with database.engine.connect() as connection:  # the idle one: no wait
            await connection.execute(text("SELECT 1"))
            assert pool_figures() == (in_use + 1, waits + 1, timed + 1)
        assert pool_figures() == (in_use, waits + 1, timed + 1)
    finally:
        await database.dispose()


async def test_metrics_off_leaves_the_pool_unmetered(settings: Settings) -> None:
    exposition.install(settings)
    database = Database(settings.model_copy(update={"metrics_enabled": False}))
    try:
        before = pool_figures()
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            assert pool_figures() == before
    finally:
        await database.dispose()
