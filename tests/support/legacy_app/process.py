"""`LegacyApp`: the legacy app as a real process on a loopback port, for a test to start, stop, kill
and question.

    with LegacyApp.start() as legacy:
        legacy.url            # http://127.0.0.1:<port>
        legacy.effects()      # {"order.created": 1}
        legacy.requests()     # what arrived, in order
        legacy.kill()         # SIGKILL (the upstream is down); legacy.restart() brings it back
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from seawall.kit.ports import free_port
from tests.support.server import REPO_ROOT

READY_WITHIN_SECONDS = 20.0


@dataclass
class LegacyApp:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, port: int | None = None) -> LegacyApp:
        app = cls(port=port or free_port())
        app.restart()
        return app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restart(self) -> None:
        """Start the process (again, on the same port) and wait until it answers."""
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.support.legacy_app", "--port", str(self.port)],
                                        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        while True:
            try:
                httpx.get(f"{self.url}/_legacy/effects", timeout=1.0).raise_for_status()
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the legacy app did not start: {self._stderr()}") from None
                time.sleep(0.1)

    def _stderr(self) -> str:
        if self.process is None or self.process.poll() is None:
            return ""
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")[-4000:]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def effects(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/_legacy/effects", timeout=5.0).json())

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_legacy/requests", timeout=5.0).json())

    def reset(self) -> None:
        httpx.post(f"{self.url}/_legacy/reset", timeout=5.0).raise_for_status()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
