"""Promise: a bad setting is one line on stderr naming the variable (and what to do), exit status 2,
never a traceback (the secrets' side: tests/unit/test_bad_settings.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def seawall(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("SEAWALL_")}
    return subprocess.run([sys.executable, "-m", "seawall", *args], env={**clean, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("command", "env", "variable"), [
    (("api",), {"SEAWALL_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/postgres"}, "SEAWALL_SECRET_KEY"),
    (("serve",), {"SEAWALL_PORT": "eighty"}, "SEAWALL_PORT"),
    (("worker",), {"SEAWALL_WORKER_CONCURRENCY": "-x"}, "SEAWALL_WORKER_CONCURRENCY"),
    (("migrate",), {"SEAWALL_WEBHOOKS_TIMEOUT_SECONDS": "soon"}, "SEAWALL_WEBHOOKS_TIMEOUT_SECONDS"),
    (("sandbox",), {"SEAWALL_JOB_LEASE_SECONDS": "long"}, "SEAWALL_JOB_LEASE_SECONDS"),
    (("migrate",), {"SEAWALL_LOG_LEVEL": "LOUD"}, "SEAWALL_LOG_LEVEL"),
    (("api",), {"SEAWALL_DATABASE_URL": "mysql://root:hunter2@127.0.0.1/seawall"}, "SEAWALL_DATABASE_URL"),
    (("worker",), {"SEAWALL_DATABASE_URL": "127.0.0.1:5432"}, "SEAWALL_DATABASE_URL"),
    (("serve",), {"SEAWALL_VAR_DIR": "/dev/null/seawall"}, "SEAWALL_VAR_DIR"),  # a file in the way
    (("doctor",), {"SEAWALL_VAR_DIR": "/proc/seawall"}, "SEAWALL_VAR_DIR"),
    (("api",), {"SEAWALL_SESSION_TTL_HOURS": "99999999"}, "SEAWALL_SESSION_TTL_HOURS"),
    (("api",), {"SEAWALL_ADMIN_API_KEY": "k", "SEAWALL_OPERATOR_KEYS": f"admin:read:{'a' * 64}"},
     "SEAWALL_ADMIN_API_KEY"),
    # A read replica: PostgreSQL only, of a PostgreSQL primary; the read-your-writes window outlasts the lag.
    (("api",), {"SEAWALL_DATABASE_REPLICA_URL": "postgresql://postgres:hunter2@127.0.0.1:5433/seawall"},
     "SEAWALL_DATABASE_REPLICA_URL"),  # the embedded SQLite primary has no replica
    (("api",), {"SEAWALL_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/seawall",
                "SEAWALL_DATABASE_REPLICA_URL": "sqlite+aiosqlite:///replica.db"}, "SEAWALL_DATABASE_REPLICA_URL"),
    (("worker",), {"SEAWALL_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/seawall",
                   "SEAWALL_DATABASE_REPLICA_URL": "127.0.0.1:5433"}, "SEAWALL_DATABASE_REPLICA_URL"),
    (("api",), {"SEAWALL_DATABASE_REPLICA_MAX_LAG_SECONDS": "5",
                "SEAWALL_DATABASE_REPLICA_READ_YOUR_WRITES_SECONDS": "5"},
     "SEAWALL_DATABASE_REPLICA_READ_YOUR_WRITES_SECONDS"),
    # The legacy bridge: a half-configured setting is refused, never silently ignored.
    (("serve",), {"SEAWALL_LEGACY_UPSTREAM": "http://127.0.0.1:9", "SEAWALL_LEGACY_SESSION_COOKIE": "sid"},
     "SEAWALL_LEGACY_SESSION_INTROSPECTION_PATH"),
    (("worker",), {"SEAWALL_LEGACY_AUTH_KEYS": "k1:" + "a" * 32}, "SEAWALL_LEGACY_AUTH_KEYS"),
    (("migrate",), {"SEAWALL_LEGACY_UPSTREAM": "http://127.0.0.1:9", "SEAWALL_LEGACY_MAX_CONNECTIONS": "10",
                    "SEAWALL_LEGACY_MAX_KEEPALIVE_CONNECTIONS": "11"}, "SEAWALL_LEGACY_MAX_KEEPALIVE_CONNECTIONS"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(
    command: tuple[str, ...], env: dict[str, str], variable: str, tmp_path: Path,
) -> None:
    result = seawall(*command, env=env, cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seawall: {variable}"), result.stderr
    assert "Traceback" not in result.stderr


REFUSED = "postgresql+asyncpg://postgres:hunter2@127.0.0.1:9/seawall"
MISSING = "postgresql://postgres:hunter2@127.0.0.1:5432/seawall_no_such_database"  # the server answers


# Every command that opens the database, refused. The missing database is another driver error through
# the same `db.first_contact`, which wraps the API's start-up (app.py) and every command run by
# `cli.runner.run_with_runtime` (worker, migrate, dlq, reconcile): once for each of the two.
@pytest.mark.parametrize(("command", "url", "reason"), [
    *[(command, REFUSED, "Connection refused") for command in ("api", "worker", "migrate", "dlq list", "reconcile")],
    *[pytest.param(command, MISSING, "does not exist", marks=pytest.mark.postgres) for command in ("api", "migrate")],
])
def test_a_database_that_cannot_be_reached_is_one_line_without_its_password(
    command: str, url: str, reason: str, tmp_path: Path,
) -> None:
    result = seawall(*command.split(), env={"SEAWALL_DATABASE_URL": url, "SEAWALL_SECRET_KEY": "k" * 32,
                                   "SEAWALL_PORT": "0"}, cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SEAWALL_DATABASE_URL" in lines[0] and reason in lines[0], result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers (a hung database server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in [*held, listener]:
            connection.close()


@pytest.mark.parametrize("command", ["migrate", "api"])
def test_a_database_that_never_answers_is_one_line_after_the_connect_timeout(
    command: str, blackhole: int, tmp_path: Path,
) -> None:
    started = time.monotonic()
    result = seawall(command, env={"SEAWALL_DATABASE_URL": f"postgresql://postgres:hunter2@127.0.0.1:{blackhole}/db",
                                   "SEAWALL_SECRET_KEY": "k" * 32, "SEAWALL_PORT": "0",
                                   "SEAWALL_DATABASE_CONNECT_TIMEOUT_SECONDS": "1"}, cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SEAWALL_DATABASE_URL" in lines[0] and "TimeoutError" in lines[0], result.stderr
    assert time.monotonic() - started < 20, "bounded by the connect timeout, not asyncpg's 60 s"


def test_migrate_json_says_an_unreachable_database_in_json(tmp_path: Path) -> None:
    for command in (["migrate", "--check", "--json"], ["migrate", "--json"]):
        result = seawall(*command, env={"SEAWALL_DATABASE_URL": REFUSED, "SEAWALL_SECRET_KEY": "k" * 32},
                         cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        error = json.loads(result.stdout)["error"]
        assert error["type"] == "unavailable" and "SEAWALL_DATABASE_URL" in error["message"], result.stdout
        assert "Connection refused" in error["message"] and "hunter2" not in result.stdout + result.stderr
