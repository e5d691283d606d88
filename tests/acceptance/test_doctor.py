"""`seawall doctor` names the backends in use on each deployment combination, and says plainly when
one of them cannot be reached (exit code 1, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.support.server import REPO_ROOT, ServerFactory, free_port


def run_doctor(servers: ServerFactory, extra: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run([sys.executable, "-m", "seawall", "doctor", "--json"], env=servers.env(extra),
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    return result.returncode, json.loads(result.stdout), result.stderr


def test_doctor_reports_the_backends_in_use_and_their_health(servers: ServerFactory, backend: str) -> None:
    code, report, stderr = run_doctor(servers)
    assert code == 0, (report, stderr)
    assert report["healthy"] is True and report["failed"] == []
    assert report["database"]["ok"] is True and report["database"]["schema_current"] is True
    assert report["database"]["mode"] == ("embedded (SQLite)" if backend == "sqlite" else "server")
    transport, redis = report["job_transport"], report["redis"]
    if backend == "full":
        assert transport["configured"] is True and transport["ok"] is True
        assert "guest:guest" not in json.dumps(transport), "credentials are never printed"
        assert redis["configured"] is True and redis["ok"] is True and redis["version"]
    else:
        assert transport == {"configured": False, "ok": True, "transport": "database (jobs table)"}
        assert redis["configured"] is False and redis["ok"] is True


# `full` would only repeat `postgres`: the closed port replaces its Redis and broker URLs.
@pytest.mark.backends("sqlite", "postgres")
def test_doctor_fails_clearly_when_redis_or_the_broker_cannot_be_reached(servers: ServerFactory) -> None:
    closed = free_port()  # nothing listens there
    code, report, stderr = run_doctor(servers, {
        "SEAWALL_REDIS_URL": f"redis://127.0.0.1:{closed}/0",
        "SEAWALL_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{closed}/",
    })
    assert code == 1
    assert report["healthy"] is False and report["failed"] == ["job_transport", "redis"]
    assert report["redis"]["ok"] is False and report["redis"]["error"]
    assert report["job_transport"]["ok"] is False and report["job_transport"]["error"]
    assert report["database"]["ok"] is True, "the database is still checked and reported"
    assert "Traceback" not in stderr
