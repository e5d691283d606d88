"""`db.first_contact` turns any failure to reach the database into one line, even an error whose
message is empty (`TimeoutError()`, a server that accepts and never answers): its class name is the
reason. The real hung server: tests/acceptance/test_bad_settings.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.config import Settings
from seawall.db import first_contact
from seawall.errors import DatabaseUnreachableError


@pytest.mark.parametrize(("error", "reason"), [
    (TimeoutError(), "TimeoutError"),
    (ConnectionRefusedError(111, "Connection refused\nsecond line"), "[Errno 111] Connection refused"),
])
async def test_the_reason_is_one_line_never_empty(error: OSError, reason: str, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, database_url="postgresql+asyncpg://postgres:hunter2@127.0.0.1:9/db",
                        secret_key="k" * 32)
    with pytest.raises(DatabaseUnreachableError) as unreachable:
        async with first_contact(settings):
            raise error
    assert unreachable.value.message == (
        f"cannot use the database at postgresql+asyncpg://postgres:***@127.0.0.1:9/db (SEAWALL_DATABASE_URL): {reason}")
