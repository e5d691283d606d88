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
otherwise count forever.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from uvicorn.supervisors import Multiprocess

from seawall.config import Settings
from seawall.observability import exposition
from seawall.observability.metrics_port import MetricsPort


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
