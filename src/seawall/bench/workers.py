"""Worker processes for `seawall bench jobs`, started together and measured as one group.

`WorkerGroup` starts N copies of `python -m seawall.bench.job_worker …` (protocol in that module),
waits until every one says `ready`, then `go()` takes a CPU reading and releases them all at once;
`measure()`, called once the parent has seen every job done and before any worker is told to stop,
returns the run window, the CPU the group used in it and each process's RSS. Worker output on
stderr goes to a file whose tail is quoted when a worker fails.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from seawall.bench.job_worker import GO, READY, STOP
from seawall.bench.meter import GroupReading, ProcessGroupMeter

STDERR_TAIL_CHARS = 2000


class BenchWorkerError(RuntimeError):
    """A bench worker process failed to start, died, or the run did not finish in time."""


@dataclass(frozen=True)
class GroupFigures:
    """What a worker group did between `go` and `measure()`.

    `seconds`: the run window in wall seconds; `cpu_seconds`: user + system CPU seconds summed over
    the worker processes in that window; `max_rss_mb`: the largest worker's resident memory in MiB at
    the end of the window.
    """

    seconds: float
    cpu_seconds: float
    max_rss_mb: float


class WorkerGroup:
    def __init__(self, argv: list[str], *, count: int, env: Mapping[str, str]) -> None:
        self.argv = [sys.executable, "-m", "seawall.bench.job_worker", *argv]
        self.count = count
        self.env = dict(env)
        self.processes: list[asyncio.subprocess.Process] = []
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._meter: ProcessGroupMeter | None = None
        self._start_reading: GroupReading | None = None
        self._started_at = 0.0

    async def start(self, *, timeout: float) -> None:
        """Start every worker and wait until each says it is ready."""
        for _ in range(self.count):
            self.processes.append(await asyncio.create_subprocess_exec(
                *self.argv, env=self.env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=self._stderr,
            ))
        try:
            lines = await asyncio.wait_for(
                asyncio.gather(*(self._read_line(process) for process in self.processes)), timeout)
        except TimeoutError:
            raise BenchWorkerError(f"bench workers not ready within {timeout:.0f} s{self._stderr_tail()}") from None
        if any(line != READY for line in lines):
            raise BenchWorkerError(f"a bench worker failed to start{self._stderr_tail()}")
        self._meter = ProcessGroupMeter(process.pid for process in self.processes)

    async def go(self) -> None:
        """Release every worker at once; the run window and the CPU reading start here."""
        assert self._meter is not None, "start() first"
        self._start_reading = self._meter.read()
        self._started_at = time.perf_counter()
        for process in self.processes:
            await self._send(process, GO)

    def measure(self) -> GroupFigures:
        assert self._meter is not None and self._start_reading is not None, "go() first"
        seconds = time.perf_counter() - self._started_at
        reading = self._meter.read()
        if len(reading.cpu_seconds) < self.count:
            raise BenchWorkerError(f"a bench worker exited during the run{self._stderr_tail()}")
        return GroupFigures(seconds=seconds, cpu_seconds=reading.cpu_seconds_since(self._start_reading),
                            max_rss_mb=reading.max_rss_mb)

    def check_alive(self) -> None:
        """Raise if any worker has exited (the run would then never finish)."""
        if any(process.returncode is not None for process in self.processes):
            raise BenchWorkerError(f"a bench worker exited during the run{self._stderr_tail()}")

    async def stop(self, *, timeout: float = 30.0) -> None:
        """Tell every worker to stop and wait for it; kill the ones that do not exit in time."""
        try:
            for process in self.processes:
                if process.returncode is None:
                    await self._send(process, STOP)
                assert process.stdin is not None
                process.stdin.close()  # end of input stops a worker that missed the line
            for process in self.processes:
                try:
                    await asyncio.wait_for(process.wait(), timeout)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        finally:
            self._stderr.close()

    @staticmethod
    async def _read_line(process: asyncio.subprocess.Process) -> str:
        assert process.stdout is not None
        return (await process.stdout.readline()).decode().strip()

    @staticmethod
    async def _send(process: asyncio.subprocess.Process, line: str) -> None:
        assert process.stdin is not None
        try:
            process.stdin.write(f"{line}\n".encode())
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it has exited already; stop() and check_alive() see that

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace")[-STDERR_TAIL_CHARS:].strip()
        return f"; worker stderr:\n{tail}" if tail else ""


def worker_env(base: Mapping[str, str], settings: Mapping[str, object]) -> dict[str, str]:
    """`base` without any `SEAWALL_*` variable, plus `settings` as `SEAWALL_<NAME>` (None left out)."""
    env = {name: value for name, value in base.items() if not name.startswith("SEAWALL_")}
    for name, value in settings.items():
        if value is not None:
            env[f"SEAWALL_{name.upper()}"] = str(value)
    return env

