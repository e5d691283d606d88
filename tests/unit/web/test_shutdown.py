"""Promise 6 (graceful everything), the pieces: SIGTERM marks the process draining at once and reaches
uvicorn's handler only after the readiness delay; another signal meanwhile is not a second stop; the
defaults fit Kubernetes' 30 s grace period; the old drain variable still sets the shutdown timeout."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from seawall.config import Settings
from seawall.jobs.worker import RELEASE_WAIT_SECONDS
from seawall.web.shutdown import SIGNALS, GracefulSignals

KUBERNETES_DEFAULT_GRACE_SECONDS = 30.0


@pytest.fixture
def restored_signal_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


async def test_the_first_signal_drains_at_once_and_reaches_the_previous_handler_after_the_delay(
    restored_signal_handlers: None,
) -> None:
    events: list[str] = []
    handed_on = asyncio.Event()

    def uvicorn_handle_exit(signum: int, _frame: FrameType | None) -> None:
        events.append(f"handed on {signal.Signals(signum).name}")
        handed_on.set()

    for sig in SIGNALS:
        signal.signal(sig, uvicorn_handle_exit)
    graceful = GracefulSignals(begin=lambda: events.append("draining"), hand_on=True, delay=0.2,
                               loop=asyncio.get_running_loop())
    assert graceful.install()

    os.kill(os.getpid(), signal.SIGTERM)
    while not events:
        await asyncio.sleep(0.01)
    assert events == ["draining"]  # at once; uvicorn (the listener) not yet told
    os.kill(os.getpid(), signal.SIGINT)  # e.g. Ctrl+C to the group under the supervisor: not a second stop
    await asyncio.wait_for(handed_on.wait(), timeout=10)
    assert events == ["draining", "handed on SIGTERM"]
    assert graceful.received == [signal.SIGTERM, signal.SIGINT]

    graceful.uninstall()
    assert all(signal.getsignal(sig) is uvicorn_handle_exit for sig in SIGNALS)


async def test_without_hand_on_the_signal_only_begins_the_drain(restored_signal_handlers: None) -> None:
    stopped = asyncio.Event()
    graceful = GracefulSignals(begin=stopped.set, loop=asyncio.get_running_loop())  # `seawall worker`
    assert graceful.install()
    os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: the drain is the whole stop
    await asyncio.wait_for(stopped.wait(), timeout=10)
    await asyncio.sleep(0.05)
    graceful.uninstall()


def test_the_default_stop_fits_the_default_kubernetes_grace_period() -> None:
    settings = Settings()
    # Listener open for the delay, then in-flight requests get the timeout; jobs get the timeout from the
    # signal, then the hand-back writes RELEASE_WAIT_SECONDS at most. A few seconds stay for closing pools.
    http = settings.shutdown_readiness_delay + settings.resolved_shutdown_timeout
    jobs = settings.resolved_shutdown_timeout + RELEASE_WAIT_SECONDS
    assert max(http, jobs) <= KUBERNETES_DEFAULT_GRACE_SECONDS - 5


def test_shutdown_timeout_and_its_deprecated_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().resolved_shutdown_timeout == 20.0
    monkeypatch.setenv("SEAWALL_JOB_DRAIN_TIMEOUT_SECONDS", "3")
    assert Settings().resolved_shutdown_timeout == 3.0
    monkeypatch.setenv("SEAWALL_SHUTDOWN_TIMEOUT", "7.5")
    assert Settings().resolved_shutdown_timeout == 7.5
    monkeypatch.delenv("SEAWALL_JOB_DRAIN_TIMEOUT_SECONDS")
    assert Settings().resolved_shutdown_timeout == 7.5
