"""Metrics around a process role: the multiprocess directory, the metrics port, and dead children.

`serving_metrics(settings, processes=N)` wraps a role's run (`api`, `serve`, `worker`) in the process
the command started, before any serving process exists:
- N > 1 serving processes and no `PROMETHEUS_MULTIPROC_DIR` set: a fresh directory (`tempfile`, so
  `TMPDIR` decides where) is named in the environment the N processes inherit, and removed at the end;
- `exposition.install(settings)` for this process;
- with `SEAWALL_METRICS_PORT` set, this process serves it (`MetricsPort`) until the role stops; with
  N processes it renders all of them through the directory.
- at the end, in an operator's directory, this process's live gauges are dropped.
`MetricsMultiprocess` is uvicorn's supervisor, which also drops the live gauges of each serving
process that exited (crashed and replaced, or retired by SIGTTOU/SIGHUP): their in-use gauges would
otherwise count forever. On SIGTERM/SIGINT it also closes its own copy of the listening socket once
it has passed SIGTERM on, so that the port refuses connections as soon as the serving processes close
theirs (`web.shutdown`), rather than queueing them for nobody; the same signal twice kills the
serving processes and exits at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from uvicorn.config import Config
from uvicorn.supervisors import Multiprocess

from seawall.config import Settings
from seawall.observability import exposition
from seawall.observability.metrics_port import MetricsPort
from seawall.web.shutdown import SIGNALS, force_exit


@contextmanager
def serving_metrics(settings: Settings, *, processes: int) -> Iterator[None]:
    if not settings.metrics_enabled:
        yield
        return
    own_directory: str | None = None
    if processes > 1 and exposition.multiprocess_directory() is None:
        own_directory = tempfile.mkdtemp(prefix="seawall-metrics-")
        os.environ[exposition.MULTIPROC_VARIABLE] = own_directory
    port: MetricsPort | None = None
    try:
        exposition.install(settings)
        if settings.metrics_port is not None:
            port = MetricsPort.start(settings)
        yield
    finally:
        if port is not None:
            port.close()
        if own_directory is not None:
            os.environ.pop(exposition.MULTIPROC_VARIABLE, None)
            shutil.rmtree(own_directory, ignore_errors=True)
        else:
            exposition.forget_process(os.getpid())


class MetricsMultiprocess(Multiprocess):
    """uvicorn's supervisor of N serving processes; forgets the live gauges of each one that exits."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self._stop_signals: list[int] = []
        for sig in SIGNALS:  # uvicorn's own handler only queues the signal for its loop (every 0.5 s)
            signal.signal(sig, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum in self._stop_signals:
            for process in self.processes:
                process.kill()
            force_exit(signum)
        self._stop_signals.append(signum)
        self.signal_queue.append(signum)

    def terminate_all(self) -> None:
        super().terminate_all()
        for sock in self.sockets:  # each serving process holds its own descriptor of the listener
            sock.close()

    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()
        self._forget_gone(before)

    def handle_signals(self) -> None:
        before = self._pids()
        super().handle_signals()
        self._forget_gone(before)

    def join_all(self) -> None:
        super().join_all()
        self._forget_gone(self._pids(), every=True)

    def _pids(self) -> set[int]:
        return {process.pid for process in self.processes if process.pid is not None}

    def _forget_gone(self, before: set[int], *, every: bool = False) -> None:
        for pid in before if every else before - self._pids():
            exposition.forget_process(pid)
