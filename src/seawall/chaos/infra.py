"""Private, restartable PostgreSQL, Redis and RabbitMQ for `seawall chaos --infra`.

The machine's shared servers (5432, 6379, 5672) are never restarted: a chaos run starts its own
instances on free loopback ports in a fresh temp directory, restarts them under load, and removes
everything at the end (`stop`, also run from `atexit` and on SIGTERM/SIGHUP/SIGINT).

- PostgreSQL: `initdb` + `pg_ctl` from the newest `/usr/lib/postgresql/<version>/bin` (else `PATH`);
  trust authentication, listening on 127.0.0.1 only, its unix socket in its own directory, `fsync`,
  `synchronous_commit` and `full_page_writes` on, so a restart is a real crash-safe restart: every
  committed transaction survives. As root the server runs as the `postgres` OS user (`runuser`),
  its directory owned by it (made under the system temp dir when that user cannot reach `root`).
- Redis: `redis-server` without persistence: a restart loses every key, which for Seawall means
  rate-limit windows start afresh, the read cache and the shared circuit-breaker state are cold.
- RabbitMQ: a second node (`seawall-chaos-<hex>@localhost`) with its own Erlang port mapper
  (`epmd` on a private port), cookie (`HOME`), data (`RABBITMQ_MNESIA_BASE`), logs and an empty
  plugin list; `/etc/rabbitmq` is not read. The node's data directory is kept across a restart, so
  durable quorum queues and their confirmed messages survive one. `guest`/`guest` from loopback.

Restart modes: `"fast"` is the server's own quick shutdown, which drops every client at once
(PostgreSQL `pg_ctl -m fast`, Redis `SHUTDOWN NOSAVE`, RabbitMQ SIGTERM); `"kill"` is a crash
(PostgreSQL `-m immediate`, which recovers from its WAL on start; SIGKILL for the others).

Errors: `InfraError` (one line) when a binary is missing or a server does not start or stop within
its bound. Every wait is bounded (`start_timeout` seconds per server, 60 by default).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import FrameType, TracebackType

from seawall.chaos.infra_servers import InfraError, PostgresServer, RabbitMQServer, RedisServer, Server, wait_until
from seawall.kit.ports import free_port

__all__ = ["InfraError", "PrivateServers", "free_port", "wait_until"]

RESTART_MODES = ("fast", "kill")




class PrivateServers:
    """The chosen servers, private to one chaos run, under a fresh directory made inside `root`.

    `start()` starts each and waits (bounded) until it accepts connections; then `database_url`
    (`postgresql+asyncpg://postgres@127.0.0.1:<port>/seawall`, database created, not migrated),
    `redis_url` and `broker_url` (`amqp://guest:guest@127.0.0.1:<port>/`) are set (None for a server
    not chosen). `restart(name)` makes one server unreachable and brings it back; `stop()` stops all
    and removes every directory made; it is idempotent. `start_times` and `restart_times` record the
    seconds each took (figures for the chaos report).
    """

    database_url: str
    redis_url: str | None
    broker_url: str | None

    def __init__(self, root: Path, *, postgres: bool = True, redis: bool = True, rabbitmq: bool = True,
                 start_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.start_timeout = start_timeout
        self.directory: Path | None = None
        self.database_url = ""
        self.redis_url = None
        self.broker_url = None
        self.start_times: dict[str, float] = {}
        self.restart_times: dict[str, list[float]] = {}
        self._chosen = {"postgres": postgres, "redis": redis, "rabbitmq": rabbitmq}
        self._servers: dict[str, Server] = {}
        self._lock = threading.RLock()  # stop() may run from a signal handler during restart()
        self._stopped = False
        self._previous_handlers: dict[int, object] = {}

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start every chosen server and wait until each accepts connections. InfraError (after
        stopping whatever did start) on a missing binary or a server not up within the bound."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.directory = Path(tempfile.mkdtemp(prefix="seawall-infra-", dir=self.root))
        atexit.register(self.stop)
        self._install_signal_handlers()
        try:
            for name in ("postgres", "redis", "rabbitmq"):
                if not self._chosen[name]:
                    continue
                server = self._make(name, self.directory / name)
                self._servers[name] = server
                started = time.monotonic()
                server.start(timeout=self.start_timeout)
                self.start_times[name] = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        if "postgres" in self._servers:
            self.database_url = self._servers["postgres"].url
        if "redis" in self._servers:
            self.redis_url = self._servers["redis"].url
        if "rabbitmq" in self._servers:
            self.broker_url = self._servers["rabbitmq"].url

    def _make(self, name: str, directory: Path) -> Server:
        token = uuid.uuid4().hex[:10]
        if name == "postgres":
            return PostgresServer(directory, port=free_port())
        if name == "redis":
            return RedisServer(directory, port=free_port())
        return RabbitMQServer(directory, port=free_port(), dist_port=free_port(), epmd_port=free_port(),
                              node=f"seawall-chaos-{token}@localhost")

    def restart(self, name: str, *, down_seconds: float = 1.0, mode: str = "fast") -> float:
        """Stop server `name` ("postgres" | "redis" | "rabbitmq") the `mode` way ("fast" | "kill"),
        keep it down `down_seconds`, start it again and wait until it accepts connections.
        Returns the seconds it was unreachable (from the stop until it accepts again).
        ValueError on an unknown name or mode; InfraError if it does not come back in time."""
        if mode not in RESTART_MODES:
            raise ValueError(f"restart mode must be one of {', '.join(RESTART_MODES)}, not {mode!r}")
        server = self._servers.get(name)
        if server is None:
            raise ValueError(f"no private {name!r} server is running (running: {', '.join(self._servers) or 'none'})")
        with self._lock:
            started = time.monotonic()
            server.stop(mode=mode, timeout=self.start_timeout)
            time.sleep(max(0.0, down_seconds))
            server.start(timeout=self.start_timeout)
            unreachable = time.monotonic() - started
        self.restart_times.setdefault(name, []).append(unreachable)
        return unreachable

    def stop(self) -> None:
        """Stop every server (fast, then killed if it lingers) and remove the directories made.
        Idempotent; safe from `atexit` and a signal handler. Never raises on cleanup."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            for server in reversed(list(self._servers.values())):
                with contextlib.suppress(Exception):
                    server.destroy(timeout=min(self.start_timeout, 30.0))
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
            self._restore_signal_handlers()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> PrivateServers:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- signals: a SIGTERM'd chaos run still removes its servers ------------------------------
    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            previous = signal.getsignal(number)
            if previous is signal.SIG_IGN:
                continue
            self._previous_handlers[number] = previous
            signal.signal(number, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for number, previous in self._previous_handlers.items():
            with contextlib.suppress(Exception):
                signal.signal(number, previous)  # type: ignore[arg-type]
        self._previous_handlers.clear()

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        previous = self._previous_handlers.get(number, signal.SIG_DFL)
        self.stop()  # restores the previous handlers
        if callable(previous):
            previous(number, frame)
        elif number == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            os.kill(os.getpid(), number)  # the default action, now that the handler is restored
