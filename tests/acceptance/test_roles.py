"""Process roles: `seawall api` and `seawall worker` as separate processes on one database, and the
refusal to start against a database whose schema is not current."""

from __future__ import annotations

import subprocess
import sys
import time
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx

from tests.support.databases import create_postgres_database, drop_postgres_database, require_postgres
from tests.support.server import REPO_ROOT, ServerFactory


def test_api_and_worker_processes_share_the_work(servers: ServerFactory, var_dir: Path) -> None:
    api = servers.start("api")
    servers.start("worker", args=["--queues", "notifications", "--concurrency", "2"])
    with httpx.Client(base_url=api.base_url, timeout=10) as http:
        signup = http.post("/v1/signups", json={"email": "roles@example.com", "password": "roles-password-1"},
                           headers={"Idempotency-Key": "roles-1"})
        assert signup.status_code == 201, signup.text
        reset = http.post("/v1/password-resets", json={"email": "roles@example.com"},
                          headers={"Idempotency-Key": "roles-reset-1"})
        assert reset.status_code == 202
    mail_drop = var_dir / "outbox"  # the default mail drop directory

    def reset_messages() -> list[Message]:
        found = [message_from_bytes(p.read_bytes()) for p in mail_drop.glob("*.eml")]
        return [m for m in found if m["Subject"] == "Reset your password"]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not reset_messages():
        time.sleep(0.1)
    messages = reset_messages()
    assert len(messages) == 1, "the worker process, not the API, sends the reset message"
    assert messages[0]["To"] == "roles@example.com"


def test_server_mode_refuses_an_unmigrated_database_with_a_clear_message(tmp_path: Path) -> None:
    require_postgres()
    url = create_postgres_database()
    try:
        env = {"SEAWALL_DATABASE_URL": url, "SEAWALL_SECRET_KEY": "s" * 32, "SEAWALL_VAR_DIR": str(tmp_path),
               "PATH": "/usr/bin:/bin"}
        for role in (["api", "--port", "1"], ["worker"]):
            result = subprocess.run([sys.executable, "-m", "seawall", *role], env=env, cwd=REPO_ROOT,
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 1, result.stderr
            assert "run `seawall migrate` first" in result.stderr
            assert "Traceback" not in result.stderr
        migrated = subprocess.run([sys.executable, "-m", "seawall", "migrate"], env=env, cwd=REPO_ROOT,
                                  capture_output=True, text=True, timeout=60)
        assert migrated.returncode == 0, migrated.stderr
        assert "database at revision" in migrated.stdout
        doctor = subprocess.run([sys.executable, "-m", "seawall", "doctor", "--json"], env=env, cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=60)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert '"schema_current": true' in doctor.stdout
    finally:
        drop_postgres_database(url)
