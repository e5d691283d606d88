"""`seawall demo`: the main job, on a fresh embedded database and a free loopback port.

It starts the all-in-one server (`seawall serve`) as a real process, drives the core flows over HTTP
(sign-ups with Idempotency-Key replays, logins, `GET /v1/me`, logout, password resets for known and
unknown emails, reset confirmation), waits until every job has finished, checks each outcome, stops
the server with SIGTERM and prints a report. Exit code 0 only when every check holds.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from seawall.config import Settings

RESET_TOKEN = re.compile(r"Your reset token: (\S+)")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class DemoReport:
    data_dir: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "data_dir": self.data_dir,
            "figures": self.figures,
            "checks": [check.__dict__ for check in self.checks],
        }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoServer:
    def __init__(self, data_dir: Path, admin_key: str) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SEAWALL_")}
        env.update(SEAWALL_VAR_DIR=str(data_dir), SEAWALL_ADMIN_API_KEY=admin_key,
                   SEAWALL_JOB_POLL_INTERVAL_SECONDS="0.05")
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "seawall", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def _signup(http: httpx.Client, email: str, password: str, key: str) -> httpx.Response:
    return http.post("/v1/signups", json={"email": email, "password": password}, headers={"Idempotency-Key": key})


def _wait_for_jobs(http: httpx.Client, admin: dict[str, str], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = {}
        for status in ("queued", "running", "succeeded", "dead"):
            page = http.get("/admin/jobs", params={"status": status, "limit": 200}, headers=admin).json()
            counts[status] = len(page["data"])
        if counts["queued"] == 0 and counts["running"] == 0:
            return counts
        time.sleep(0.1)
    return counts


def _drive(http: httpx.Client, report: DemoReport, *, users: int, outbox: Path, admin: dict[str, str],
           progress: Progress) -> None:
    run_id = uuid.uuid4().hex[:8]
    accounts = [(f"demo-{run_id}-{i}@example.com", f"demo-password-{secrets.token_hex(4)}") for i in range(users)]
    latencies: list[float] = []

    task = progress.add_task("sign-ups", total=users)
    created = 0
    for index, (email, password) in enumerate(accounts):
        started = time.perf_counter()
        response = _signup(http, email, password, key=f"signup-{run_id}-{index}")
        latencies.append(time.perf_counter() - started)
        created += response.status_code == 201
        progress.advance(task)
    report.check("every sign-up answered 201", created == users, f"{created}/{users}")

    replay = _signup(http, accounts[0][0], accounts[0][1], key=f"signup-{run_id}-0")
    report.check("a repeated sign-up with its Idempotency-Key is replayed, not re-run",
                 replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true")
    conflict = _signup(http, accounts[0][0], "another-password-123", key=f"signup-{run_id}-0")
    report.check("the same key with a different body is refused with 422", conflict.status_code == 422)
    missing = http.post("/v1/signups", json={"email": f"nokey-{run_id}@example.com", "password": "x" * 12})
    report.check("a sign-up without Idempotency-Key is refused with 400", missing.status_code == 400)

    task = progress.add_task("logins", total=users)
    tokens: list[str] = []
    for email, password in accounts:
        started = time.perf_counter()
        response = http.post("/v1/sessions", json={"email": email, "password": password})
        latencies.append(time.perf_counter() - started)
        if response.status_code == 201:
            tokens.append(response.json()["token"])
        progress.advance(task)
    report.check("every user logs in", len(tokens) == users, f"{len(tokens)}/{users}")
    me_ok = all(http.get("/v1/me", headers={"Authorization": f"Bearer {t}"}).status_code == 200 for t in tokens)
    report.check("GET /v1/me answers for every session", me_ok)

    wrong = http.post("/v1/sessions", json={"email": accounts[0][0], "password": "not-the-password"})
    unknown = http.post("/v1/sessions", json={"email": f"nobody-{run_id}@example.com", "password": "whatever-1234"})
    report.check("wrong password and unknown email get the same 401",
                 wrong.status_code == unknown.status_code == 401 and wrong.json() == unknown.json())

    if tokens:
        http.delete("/v1/sessions/current", headers={"Authorization": f"Bearer {tokens[0]}"})
        revoked = http.get("/v1/me", headers={"Authorization": f"Bearer {tokens[0]}"})
        report.check("a logged-out token no longer works", revoked.status_code == 401)

    known = http.post("/v1/password-resets", json={"email": accounts[-1][0]},
                      headers={"Idempotency-Key": f"reset-{run_id}-known"})
    nobody = http.post("/v1/password-resets", json={"email": f"nobody-{run_id}@example.com"},
                       headers={"Idempotency-Key": f"reset-{run_id}-unknown"})
    report.check("password reset answers identically for known and unknown emails",
                 known.status_code == nobody.status_code == 202 and known.json() == nobody.json())

    progress.add_task("waiting for jobs", total=None)
    counts = _wait_for_jobs(http, admin, timeout=60)
    report.figures["jobs"] = counts
    report.check("every job finished", counts.get("queued") == 0 and counts.get("running") == 0, str(counts))
    report.check("no job was dead-lettered", counts.get("dead", 1) == 0, str(counts))

    messages = [message_from_bytes(path.read_bytes()) for path in sorted(outbox.glob("*.eml"))]
    report.check("exactly one reset message was sent (none for the unknown email)", len(messages) == 1,
                 f"{len(messages)} message(s)")
    if messages:
        body = messages[0].get_payload(decode=True)
        match = RESET_TOKEN.search(body.decode() if isinstance(body, bytes) else str(body))
        new_password = f"new-demo-password-{secrets.token_hex(4)}"
        confirmed = http.post("/v1/password-resets/confirm",
                              json={"token": match.group(1) if match else "", "new_password": new_password})
        report.check("the emailed token resets the password", confirmed.status_code == 200)
        again = http.post("/v1/password-resets/confirm",
                          json={"token": match.group(1) if match else "", "new_password": new_password + "x"})
        report.check("the reset token works only once", again.status_code == 400)
        relogin = http.post("/v1/sessions", json={"email": accounts[-1][0], "password": new_password})
        old = http.post("/v1/sessions", json={"email": accounts[-1][0], "password": accounts[-1][1]})
        report.check("the new password logs in and the old one does not",
                     relogin.status_code == 201 and old.status_code == 401)

    latencies.sort()
    if latencies:
        report.figures["api_latency_ms"] = {
            "p50": round(latencies[len(latencies) // 2] * 1000, 1),
            "p95": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
            "requests": len(latencies),
        }


def run_demo(*, users: int, as_json: bool, keep: bool) -> int:
    console = Console(stderr=as_json)
    data_dir = (Settings().var_dir / "demo").resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    report = DemoReport(data_dir=str(data_dir))
    admin_key = secrets.token_urlsafe(24)
    admin = {"Authorization": f"Bearer {admin_key}"}
    server = DemoServer(data_dir, admin_key)
    try:
        with Progress(console=console, transient=True) as progress:
            progress.add_task("starting seawall serve", total=None)
            if report.check("the all-in-one server starts and is ready", server.wait_ready()):
                with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
                    _drive(http, report, users=users, outbox=data_dir / "outbox", admin=admin, progress=progress)
    finally:
        code = server.stop()
        report.check("the server drains and exits cleanly on SIGTERM", code == 0, f"exit code {code}")
    if not report.ok:
        report.figures["server_log_tail"] = server.log_path.read_text(errors="replace")[-3000:]
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(console, report)
    if report.ok and not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if report.ok else 1


def _print_report(console: Console, report: DemoReport) -> None:
    table = Table(title="Seawall demo", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAILED[/]", check.detail)
    console.print(table)
    for name, value in report.figures.items():
        if name != "server_log_tail":
            console.print(f"{name}: {value}")
    if "server_log_tail" in report.figures:
        console.print("[red]server log (tail):[/]")
        console.print(report.figures["server_log_tail"], markup=False)
    console.print("[green]all checks passed[/]" if report.ok else "[red]some checks failed[/]")
