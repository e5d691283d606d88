"""Promise: a rolling deploy and its rollback, with the real processes and the real CLI.

- A process of this release (`seawall api`, a real process on PostgreSQL) starts against a schema one
  expand revision ahead, logs one warning naming both revisions, and serves a sign-up on it;
  against one contract revision ahead `seawall worker` refuses with one line and exit code 1.
- `seawall migrate --check` says the first is safe, and this release's `seawall migrate` (its migration
  Job, in a code rollback) leaves the schema one expand revision ahead as it is, with exit code 0;
  `seawall doctor` counts it healthy.
- Against one contract revision ahead, `seawall doctor` is unhealthy and names `schema` as the failed check.
- `seawall migrate --to REV` downgrades and upgrades again, printing each step; `--check` then judges
  the pending revisions; an unknown or ambiguous revision is one line and exit code 2.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from seawall.config import Settings
from seawall.db import Database
from seawall.runtime import Runtime
from seawall.schema.declarations import ScriptHistory
from seawall.schema.runner import migrate_to
from tests.support.schema_scripts import scripts_ahead
from tests.support.server import REPO_ROOT, ServerFactory

HEAD = ScriptHistory().head


def seawall(factory: ServerFactory, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "seawall", *args], env=factory.env(), cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr


def error_lines(stderr: str) -> list[str]:
    """The lines a person reads: everything but the JSON log lines."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


@pytest.mark.backends("postgres")
def test_old_processes_run_against_one_expand_revision_ahead_and_refuse_a_contract(
    servers: ServerFactory, runtime: Runtime, tmp_path: Path,
) -> None:
    expand, (revision,) = scripts_ahead(tmp_path / "expand", ["expand"])
    _move(runtime.settings, "head", expand)

    api = servers.start("api")
    check, migrate, doctor = (seawall(servers, "migrate", "--check", "--json"), seawall(servers, "migrate"),
                              seawall(servers, "doctor", "--json"))
    with httpx.Client(base_url=api.base_url, timeout=10) as http:
        signup = http.post("/v1/signups", json={"email": "rolling@example.com", "password": "rolling-password-1"},
                           headers={"Idempotency-Key": "rolling-1"})
        assert signup.status_code == 201, signup.text
    warnings = [json.loads(line) for line in api.log().splitlines()
                if line.startswith("{") and '"schema.ahead"' in line]
    assert len(warnings) == 1, api.log()
    assert (warnings[0]["level"], warnings[0]["database_revision"], warnings[0]["code_revision"]) == (
        "warning", revision, HEAD)
    code, stdout, stderr = finished(check)
    assert code == 0, stdout + stderr
    verdict = json.loads(stdout)
    assert verdict["safe"] and [r["revision"] for r in verdict["extra"]] == [revision]
    code, stdout, stderr = finished(migrate)
    assert (code, stdout) == (0, f"database at revision {revision}, one expand revision ahead of this release's "
                                 f"{HEAD}, which runs against it: nothing to migrate\n"), stderr
    code, stdout, stderr = finished(doctor)
    report = json.loads(stdout)["database"]
    assert code == 0 and (report["schema"], report["schema_starts"], report["schema_current"]) == (
        "ahead_compatible", True, False), stdout + stderr
    api.stop()

    contract, _ = scripts_ahead(tmp_path / "contract", ["contract"])
    _move(runtime.settings, HEAD, expand)  # the later release rolls its schema back,
    _move(runtime.settings, "head", contract)  # and another one migrates a contract
    code, stdout, stderr = finished(seawall(servers, "doctor", "--json"))
    report = json.loads(stdout)
    assert code == 1 and (report["healthy"], report["failed"], report["database"]["ok"]) == (
        False, ["schema"], True), stdout + stderr
    code, _, stderr = finished(seawall(servers, "worker"))
    assert code == 1 and len(error_lines(stderr)) == 1, stderr
    assert error_lines(stderr)[0].startswith(f"error: database schema is at revision {revision}, newer than "
                                             f"this Seawall's {HEAD}, and {revision} is a contract migration")


def _move(settings: Settings, target: str, location: Path) -> None:
    """Migrate as the later release's `seawall migrate --to` would (its scripts, this process)."""

    async def move() -> None:
        database = Database(settings)
        try:
            await migrate_to(database, target, location=location)
        finally:
            await database.dispose()

    asyncio.run(move())


@pytest.mark.backends("sqlite")
def test_migrate_to_goes_down_and_back_up_and_check_judges_it(servers: ServerFactory, runtime: Runtime) -> None:
    unknown, ambiguous = seawall(servers, "migrate", "--to", "0999"), seawall(servers, "migrate", "--to", "001")
    code, stdout, stderr = finished(seawall(servers, "migrate", "--to", "0012"))
    assert code == 0, stderr
    assert stdout.splitlines() == [
        "downgrade 0015 -> 0014  expand  legacy_shadow_comparisons: one row per shadow call of the legacy bridge and "
        "how the answers compared",
        "downgrade 0014 -> 0013  expand  schema_revisions: each applied revision with its parent and compatibility "
        "(rolling deploys)",
        "downgrade 0013 -> 0012  expand  retention and routine checks: the routine_runs table, and the indexes the "
        "retention purge walks",
        "database at revision 0012"]

    code, stdout, _ = finished(seawall(servers, "migrate", "--check"))
    assert code == 1
    assert stdout.splitlines()[:6] == ["database revision: 0012", f"this release's head: {HEAD}", "pending:",
                                       "  0013  expand    a new table and indexes only",
                                       "  0014  expand    a new table only, which the previous release never reads",
                                       "  0015  expand    a new table only, which the previous release never reads"]
    assert "NOT safe for a rolling deploy: processes of revision 0012 start against their own revision only" in stdout
    assert "what to do: stop every process of revision 0012, run `seawall migrate`" in stdout

    code, stdout, stderr = finished(seawall(servers, "migrate", "--to", "head"))
    assert code == 0, stderr
    assert [line.split("  ")[0] for line in stdout.splitlines()] == [
        "upgrade 0012 -> 0013", "upgrade 0013 -> 0014", "upgrade 0014 -> 0015", "database at revision 0015"]
    code, _, stderr = finished(unknown)
    assert code == 2 and error_lines(stderr) == [
        "error: --to: unknown revision '0999': Can't locate revision identified by '0999'"], stderr
    code, _, stderr = finished(ambiguous)
    assert code == 2 and error_lines(stderr) == [
        "error: --to: ambiguous revision '001': the start of 0010, 0011, 0012, 0013, 0014, 0015"], stderr
