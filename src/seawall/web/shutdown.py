"""Graceful shutdown on SIGTERM/SIGINT: readiness first, the listener later, the process last.

`GracefulSignals(begin=..., delay=..., hand_on=..., loop=...)`, installed in the main thread of a process, takes
SIGTERM and SIGINT:
1. the first one calls `begin()` at once, on the event loop: the runtime is marked draining (`/readyz`
   answers 503 `checks.draining`) and a worker stops claiming and starts its drain;
2. with `hand_on`, `delay` seconds later (`SEAWALL_SHUTDOWN_READINESS_DELAY`) the signal goes on to the
   handler that was installed before this one: uvicorn's `Server.handle_exit`. Until then the listener
   accepts and serves as usual, so that load balancers, which stop routing only after their own
   readiness probes fail, never meet a closed port. uvicorn then stops accepting, lets in-flight
   requests finish within `timeout_graceful_shutdown` (`SEAWALL_SHUTDOWN_TIMEOUT`), runs the ASGI
   lifespan shutdown (worker drain, pools closed) and returns;
3. the same signal a second time exits at once (`os._exit(128 + signal)`), as a crash would: leased
   jobs come back when their lease expires. A different signal during the drain is only logged: under
   uvicorn's supervisor a Ctrl+C reaches every process, and the supervisor then sends its SIGTERM too.

Why a handler in front of uvicorn's: uvicorn (0.54, `Server.capture_signals`) stops listening as soon
as a signal arrives, and its supervisor (`supervisors.Multiprocess`) passes SIGTERM to each serving
process, which runs the same `Server`; chaining the handler that `capture_signals` installed works in
one process and in each of N alike. The pattern is Kubernetes' "preStop sleep" done in the process
(https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination).
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog

log = structlog.get_logger("seawall.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT)

SignalHandler = Callable[[int, FrameType | None], Any]


class GracefulSignals:
    """Take SIGTERM/SIGINT for a process; see the module docstring for the sequence.

    `begin`: called once, on `loop`, at the first signal. `hand_on`: then call the handler installed
    before this one (uvicorn's), `delay` seconds after `begin` (0: at once); a `seawall worker` has
    none to call (its `begin` is the whole stop). `install()` and `uninstall()` run in the main
    thread (the only one Python delivers signals to); elsewhere `install()` does nothing and says so.
    """

    def __init__(self, *, begin: Callable[[], None], loop: asyncio.AbstractEventLoop, hand_on: bool = False,
                 delay: float = 0.0) -> None:
        self.begin = begin
        self.hand_on = hand_on
        self.delay = delay
        self.loop = loop
        self.received: list[int] = []
        self._previous: dict[int, SignalHandler | int | None] = {}

    @property
    def draining(self) -> bool:
        return bool(self.received)

    def install(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)
        return True

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Runs in the main thread between two bytecodes: only hand work to the loop (thread-safe)."""
        if signum in self.received:
            force_exit(signum)
        self.received.append(signum)
        if len(self.received) == 1:
            self.loop.call_soon_threadsafe(self._begin, signum)
        else:
            self.loop.call_soon_threadsafe(functools.partial(
                log.info, "shutdown.signal_ignored", signal=signal.Signals(signum).name, note="already draining"))

    def _begin(self, signum: int) -> None:
        log.info("shutdown.draining", signal=signal.Signals(signum).name, readiness_delay_seconds=self.delay,
                 pid=os.getpid())
        self.begin()
        if self.hand_on:
            self.loop.call_later(self.delay, self._hand_on, signum)

    def _hand_on(self, signum: int) -> None:
        previous = self._previous.get(signum)
        if callable(previous):
            log.info("shutdown.closing_listener", signal=signal.Signals(signum).name)
            previous(signum, None)


def force_exit(signum: int) -> None:
    """Exit now with the shell's code for `signum` (128 + n), skipping every drain: as after a crash."""
    log.warning("shutdown.forced", signal=signal.Signals(signum).name, pid=os.getpid(),
                note="the same signal twice: exiting at once; leased jobs come back when their lease expires")
    os._exit(128 + signum)
