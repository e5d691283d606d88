"""Start real `seawall` processes (serve, api, worker) for acceptance and crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from seawall.kit.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORD_VARIABLE = "SEAWALL_RECORD_RESPONSES_DIR"  # set by `tests.support.openapi_coverage`


def recording_environment() -> dict[str, str]:
    """The response-recording variable, for a `seawall` process started with a cleaned environment."""
    directory = os.environ.get(RECORD_VARIABLE)
    return {RECORD_VARIABLE: directory} if directory else {}




@dataclass
class SeawallProcess:
    role: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def base_url(self) -> str:
        assert self.port is not None, "this role serves no HTTP"
        return f"http://127.0.0.1:{self.port}"

    def signal(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (graceful drain) and wait; SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return int(self.process.returncode)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class ServerFactory:
    var_dir: Path
    admin_key: str
    database_url: str | None = None  # None: the embedded SQLite file in var_dir
    secret_key: str | None = None
    services: dict[str, str] = field(default_factory=dict)  # settings names -> values (Redis, broker)
    processes: list[SeawallProcess] = field(default_factory=list)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
        env.update(
            SEAWALL_VAR_DIR=str(self.var_dir),
            SEAWALL_ADMIN_API_KEY=self.admin_key,
            SEAWALL_JOB_MODULES="tests.support.effects",
            SEAWALL_JOB_POLL_INTERVAL_SECONDS="0.05",
            SEAWALL_LOG_LEVEL="INFO",
            # No load balancer to wait for: SIGTERM closes the listener at once (tests about it set their own).
            SEAWALL_SHUTDOWN_READINESS_DELAY="0",
            PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        )
        if self.database_url:
            env["SEAWALL_DATABASE_URL"] = self.database_url
        if self.secret_key:
            env["SEAWALL_SECRET_KEY"] = self.secret_key
        env.update({f"SEAWALL_{name.upper()}": value for name, value in self.services.items()})
        env.update(recording_environment())
        env.update(extra or {})
        return env

    def start(self, role: str, *, env: dict[str, str] | None = None, args: list[str] | None = None,
              wait_ready: bool = True, port: int | None = None) -> SeawallProcess:
        http = role in ("serve", "api")
        port = (port or free_port()) if http else None
        command = [sys.executable, "-m", "seawall", role, *(args or [])]
        if http:
            command += ["--host", "127.0.0.1", "--port", str(port)]
            if "--workers" not in command:  # one serving process unless a test is about more
                command += ["--workers", "1"]
        log_path = self.var_dir / f"{role}-{len(self.processes)}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(command, env=self.env(env), stdout=log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
        started = SeawallProcess(role=role, process=process, log_path=log_path, port=port)
        self.processes.append(started)
        if http and wait_ready:
            self.wait_ready(started)
        return started

    @staticmethod
    def wait_ready(server: SeawallProcess, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.role} exited with {server.process.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{server.role} was not ready within {timeout}s:\n{server.log()}")

    def close(self) -> None:
        for process in self.processes:
            process.kill()
