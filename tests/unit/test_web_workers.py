"""`SEAWALL_WEB_WORKERS`: one serving process on the embedded SQLite file, one per usable CPU in
server mode, unless set."""

from __future__ import annotations

from seawall.config import Settings, usable_cpus

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/seawall"


def test_embedded_mode_serves_from_one_process() -> None:
    assert Settings(database_url=None).resolved_web_workers == 1


def test_server_mode_serves_from_one_process_per_cpu() -> None:
    assert Settings(database_url=POSTGRES_URL).resolved_web_workers == usable_cpus() >= 1


def test_the_setting_wins_in_either_mode() -> None:
    assert Settings(database_url=None, web_workers=3).resolved_web_workers == 3
    assert Settings(database_url=POSTGRES_URL, web_workers=2).resolved_web_workers == 2
