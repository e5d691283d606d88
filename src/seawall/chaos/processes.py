"""The Seawall processes of a chaos run: `seawall api` and `seawall worker` as real processes that are
SIGKILLed and started again, and the fleet that keeps every one of them running.

A process keeps its name, command, environment and (for an API) its loopback port across restarts,
so clients find it again where it was; its output is appended to one log file per name.
`Fleet.revive()` restarts every process that is down, whoever killed it: the scenario's SIGKILLs
(`Fleet.kill`) and a crash point that made a worker kill itself (`SEAWALL_CRASH_POINTS`) are told
apart by who asked, and counted separately.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from seawall.cli.demo.processes import free_port

WORKER_STARTED = b"worker.started"  # the line a worker logs (level INFO) once it is claiming jobs


@dataclass
class SeawallProcess:
    """One role instance. `port` is None for a worker; `starts` counts its starts (1 = never restarted)."""

    name: str
    role: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    starts: int = 0
    killed_by_us: bool = False
    log_offset: int = 0  # where this start's output begins in the log
    up_seen: bool = False

    @property
    def base_url(self) -> str:
        assert self.port is not None, f"{self.name} has no HTTP port"
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        args = [*self.args, "--host", "127.0.0.1", "--port", str(self.port)] if self.port is not None else self.args
        with open(self.log_path, "ab") as log_file:
            self.log_offset = log_file.tell()
            log_file.write(f"--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            log_file.flush()
            self.process = subprocess.Popen([sys.executable, "-m", "seawall", *args], env=self.env, stdout=log_file,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.started_at = time.monotonic()
        self.starts += 1
        self.killed_by_us = False
        self.up_seen = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def is_up(self) -> bool:
        """Alive and serving: an API answers `/readyz` 200; a worker has logged `worker.started` (it runs
        with `SEAWALL_LOG_LEVEL=INFO` for that)."""
        if not self.alive:
            return False
        if self.port is None:
            if not self.up_seen:
                with open(self.log_path, "rb") as log_file:
                    log_file.seek(self.log_offset)
                    self.up_seen = WORKER_STARTED in log_file.read()
            return self.up_seen
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_up():
                return True
            if self.process is not None and self.process.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def kill(self) -> None:
        """SIGKILL, at once, and reap."""
        if self.process is not None and self.process.poll() is None:
            self.killed_by_us = True
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30.0, *, signal_it: bool = True) -> int | None:
        """SIGTERM (unless `signal_it` is false: already sent) and wait (SIGKILL past `timeout`); the
        exit code, None if it never ran. One SIGTERM only: a second one means "exit at once"."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            if signal_it:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Fleet:
    """Every Seawall process of the run, by role."""

    processes: list[SeawallProcess] = field(default_factory=list)
    kills: dict[str, int] = field(default_factory=dict)  # SIGKILLs sent, by role
    restarts: int = 0
    crash_exits: int = 0  # died without our SIGKILL (a crash point, or a start-up failure)
    exits: list[str] = field(default_factory=list)  # each of those: name, exit code, seconds after its start

    @classmethod
    def build(cls, *, apis: int, workers: int, env: dict[str, str], log_dir: Path,
              worker_env: dict[str, str] | None = None) -> Fleet:
        """`apis` × `seawall api --workers 1` on free ports and `workers` × `seawall worker`, all with `env`
        (the workers with `worker_env` on top: e.g. their crash points)."""
        fleet = cls()
        for index in range(apis):
            fleet.processes.append(SeawallProcess(
                name=f"api-{index}", role="api", args=["api", "--workers", "1"], env=env,
                log_path=log_dir / f"api-{index}.log", port=free_port()))
        for index in range(workers):
            fleet.processes.append(SeawallProcess(
                name=f"worker-{index}", role="worker", args=["worker"],
                env={**env, "SEAWALL_LOG_LEVEL": "INFO", **(worker_env or {})},
                log_path=log_dir / f"worker-{index}.log"))
        return fleet

    def of_role(self, role: str) -> list[SeawallProcess]:
        return [process for process in self.processes if process.role == role]

    @property
    def api_urls(self) -> list[str]:
        return [process.base_url for process in self.of_role("api")]

    def start(self, *, timeout: float = 90.0) -> list[str]:
        """Start every process and wait until each is up; the names of those that did not come up.
        A process that dies while starting (a worker armed with crash points can die at its first job)
        is started again, as the supervisor would, until `timeout`."""
        for process in self.processes:
            process.start()
        deadline = time.monotonic() + timeout
        waiting = list(self.processes)
        while waiting and time.monotonic() < deadline:
            self.revive()
            waiting = [process for process in waiting if not process.wait_up(min(2.0, deadline - time.monotonic()))]
        return [process.name for process in waiting]

    def kill(self, role: str, pick: float) -> SeawallProcess | None:
        """SIGKILL one process of `role` that is up (`pick` in [0, 1) chooses which); None when none is."""
        up = [process for process in self.of_role(role) if process.is_up()]
        if not up:
            return None
        victim = up[min(int(pick * len(up)), len(up) - 1)]
        victim.kill()
        self.kills[role] = self.kills.get(role, 0) + 1
        return victim

    def revive(self) -> list[SeawallProcess]:
        """Start again every process that is down; the ones restarted."""
        revived = []
        for process in self.processes:
            if process.process is not None and not process.alive:
                if not process.killed_by_us:
                    self.crash_exits += 1
                    assert process.process is not None
                    lived = time.monotonic() - process.started_at
                    self.exits.append(f"{process.name} (start {process.starts}) exited "
                                      f"{process.process.returncode} after {lived:.1f} s")
                process.start()
                self.restarts += 1
                revived.append(process)
        return revived

    def stop(self, timeout: float = 30.0) -> dict[str, int | None]:
        for process in self.processes:  # SIGTERM to all at once, then wait for each
            if process.alive and process.process is not None:
                process.process.send_signal(signal.SIGTERM)
        return {process.name: process.stop(timeout, signal_it=False) for process in self.processes}

    def log_tails(self, chars: int = 1500) -> str:
        return "\n".join(f"== {process.name}\n{process.log_tail(chars)}" for process in self.processes)
