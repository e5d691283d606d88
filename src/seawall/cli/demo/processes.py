"""The demo's real processes: `seawall sandbox`, `seawall serve` (or `seawall api` + `seawall worker`), on free
loopback ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from seawall.kit.ports import free_port

# Passed on: the test suite's response recording (`web.response_record`), so the demo's answers count too.
PASSED_ON = frozenset({"SEAWALL_RECORD_RESPONSES_DIR"})


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without its `SEAWALL_*` settings (but `PASSED_ON`), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_") or k in PASSED_ON}
    env.update(extra)
    return env


@dataclass
class DemoProcess:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @classmethod
    def start(cls, name: str, args: list[str], *, port: int, env: dict[str, str], log_dir: Path,
              python: str = sys.executable) -> DemoProcess:
        """`python -m seawall <args>` on 127.0.0.1:`port` (`python`: another install's interpreter)."""
        log_path = log_dir / f"{name}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [python, "-m", "seawall", *args, "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        return cls(name=name, process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)

    def wait_ready(self, path: str, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base_url}{path}", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the process has used so far; None where /proc is not available."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Sandbox:
    process: DemoProcess
    smtp_port: int


def start_sandbox(data_dir: Path, faults: dict[str, Any], smtp_faults: dict[str, Any]) -> Sandbox:
    env = clean_env({"SEAWALL_SANDBOX_FAULTS": json.dumps(faults), "SEAWALL_SANDBOX_SMTP_FAULTS":
                     json.dumps(smtp_faults), "SEAWALL_LOG_LEVEL": "WARNING"})
    smtp_port = free_port()
    process = DemoProcess.start("sandbox", ["sandbox", "--smtp-port", str(smtp_port)], port=free_port(), env=env,
                                log_dir=data_dir)
    return Sandbox(process=process, smtp_port=smtp_port)


def start_server(data_dir: Path, *, admin_key: str, sandbox: Sandbox,
                 extra_env: dict[str, str] | None = None, role: str = "serve") -> DemoProcess:
    """`seawall serve` tuned for a one-minute run: short provider timeouts and a small breaker window.

    `extra_env` adds or overrides `SEAWALL_*` settings (e.g. `SEAWALL_DATABASE_URL` for `seawall bench pipeline`);
    `role="api"` starts the HTTP API alone (its workers then run as `seawall worker`, with `server_env`).
    """
    env = server_env(data_dir, admin_key=admin_key, sandbox=sandbox, extra_env=extra_env)
    # One serving process: the demo checks the embedded default (SQLite, in-process cache and worker).
    return DemoProcess.start("server", [role, "--workers", "1"], port=free_port(), env=env, log_dir=data_dir)


def server_env(data_dir: Path, *, admin_key: str, sandbox: Sandbox,
               extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of `start_server`'s process (the tuning above), for other Seawall roles beside it."""
    return clean_env({
        "SEAWALL_VAR_DIR": str(data_dir),
        "SEAWALL_ADMIN_API_KEY": admin_key,
        "SEAWALL_STRIPE_API_BASE": sandbox.process.base_url,
        "SEAWALL_SMTP_HOST": "127.0.0.1",
        "SEAWALL_SMTP_PORT": str(sandbox.smtp_port),
        "SEAWALL_SMTP_SECURITY": "none",
        "SEAWALL_JOB_BACKOFF_BASE_SECONDS": "0.25",  # retries come round 4x sooner than the default
        "SEAWALL_WORKER_CONCURRENCY": "16",
        "SEAWALL_DATABASE_POOL_SIZE": "32",  # 16 jobs and 16 client connections, none opened and closed per use
        "SEAWALL_PROVIDER_READ_TIMEOUT_SECONDS": "1",
        "SEAWALL_PROVIDER_TOTAL_TIMEOUT_SECONDS": "2",
        "SEAWALL_BREAKER_SLIDING_WINDOW_SIZE": "20",
        "SEAWALL_BREAKER_MINIMUM_NUMBER_OF_CALLS": "10",
        "SEAWALL_BREAKER_WAIT_DURATION_IN_OPEN_SECONDS": "2",
        "SEAWALL_BREAKER_PERMITTED_CALLS_IN_HALF_OPEN": "3",
        "SEAWALL_WEBHOOKS_ALLOW_PRIVATE": "1",  # the subscribers' receiver listens on 127.0.0.1
        "SEAWALL_WEBHOOKS_SCHEDULE_SCALE": "0.01",  # the published retry schedule, compressed 100x
        # The whole workload comes from one loopback address: raise every rate limit for this load test.
        "SEAWALL_RATE_LIMIT_SCALE": "100",
        "SEAWALL_LOG_LEVEL": "WARNING",
        # No load balancer to tell of a stop: drain at SIGTERM without keeping the port open first.
        "SEAWALL_SHUTDOWN_READINESS_DELAY": "0",
        **(extra_env or {}),
    })


def start_worker(data_dir: Path, env: dict[str, str], *, name: str = "worker",
                 metrics_port: int | None = None) -> DemoProcess:
    """`seawall worker` with `env` (`server_env`'s); its output is appended to `<data_dir>/<name>.log`.

    A worker has no HTTP port: with `metrics_port` it serves its metrics there (`SEAWALL_METRICS_PORT`,
    loopback) and `base_url` points at it (`wait_ready("/metrics")`, its breakers' metrics); without, `base_url`
    is empty.
    """
    if metrics_port is not None:
        env = {**env, "SEAWALL_METRICS_PORT": str(metrics_port), "SEAWALL_METRICS_HOST": "127.0.0.1"}
    log_path = data_dir / f"{name}.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "seawall", "worker"], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{metrics_port}" if metrics_port is not None else ""
    return DemoProcess(name=name, process=process, base_url=base_url, log_path=log_path)


def run_doctor(data_dir: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "seawall", "doctor", "--json"],
        env=clean_env({"SEAWALL_VAR_DIR": str(data_dir), "SEAWALL_LOG_LEVEL": "WARNING"}),
        capture_output=True, text=True, timeout=120,
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        report = {"healthy": False, "error": result.stderr[-2000:]}
    return report
