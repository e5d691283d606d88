"""One private server each: how to find its binaries, start it, tell that it accepts connections,
stop it the fast or the crash way, and remove it. `seawall.chaos.infra.PrivateServers` composes them;
see its module docstring for the contract (loopback only, durability, restart modes).

Every call is bounded by a `timeout` in seconds; failures raise `InfraError` (one line, naming the
server, with the tail of its log when it has one).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_LOOPBACK = "127.0.0.1"


class InfraError(RuntimeError):
    """A private server could not be found, started or stopped; the message says which and why."""


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll `check` until it is true; return the seconds waited. InfraError after `timeout` s."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise InfraError(f"{what}: not done within {timeout:.0f} s")
        time.sleep(interval)


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _run(command: list[str], *, what: str, timeout: float, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, start_new_session=True, check=False)
    except subprocess.TimeoutExpired:
        program = Path(command[0]).name if command else "?"
        raise InfraError(f"{what}: {program} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().replace("\n", " | ")[-400:]
        raise InfraError(f"{what}: exit {done.returncode}: {detail}")


def _tcp_accepts(port: int, payload: bytes = b"", expect: bytes = b"") -> bool:
    try:
        with socket.create_connection((_LOOPBACK, port), timeout=1.0) as connection:
            if not payload:
                return True
            connection.sendall(payload)
            return connection.recv(len(expect) or 1).startswith(expect)
    except OSError:
        return False


def _reap(process: subprocess.Popen[bytes] | None, *, timeout: float, what: str) -> None:
    """Wait for `process` to exit, then SIGKILL whatever is left of its process group."""
    if process is None:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # helpers it forked (RabbitMQ: erl_child_setup, ...)


class Server:
    """What `PrivateServers` needs of one server."""

    name = ""
    url = ""

    def accepts(self) -> bool:
        raise NotImplementedError

    def start(self, *, timeout: float) -> None:
        raise NotImplementedError

    def stop(self, *, mode: str, timeout: float) -> None:
        raise NotImplementedError

    def destroy(self, *, timeout: float) -> None:
        """Stop whatever runs (killing it if need be) and remove what this server made."""
        raise NotImplementedError


def find_postgres_bin() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`, else the directory
    of `pg_ctl` on PATH. InfraError if neither exists."""
    found = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")
             if (path.parent / "initdb").exists()]
    if found:
        return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").exists():
        return Path(on_path).parent
    raise InfraError("PostgreSQL: initdb and pg_ctl not found in /usr/lib/postgresql/*/bin nor on PATH "
                     "(install the postgresql server package)")


class PostgresServer(Server):
    """A private PostgreSQL cluster: trust auth, 127.0.0.1 only, fsync on, database `seawall`."""

    name = "postgres"

    def __init__(self, directory: Path, *, port: int) -> None:
        self.bin = find_postgres_bin()
        self.port = port
        self.url = f"postgresql+asyncpg://postgres@{_LOOPBACK}:{port}/seawall"
        self.as_postgres: list[str] = []
        self.owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:  # the server refuses to run as root
            try:
                self.owner = pwd.getpwnam("postgres")
            except KeyError:
                raise InfraError("PostgreSQL: running as root needs a `postgres` OS user to run the server") from None
            runuser = shutil.which("runuser")
            uid, gid = self.owner.pw_uid, self.owner.pw_gid
            self.as_postgres = ([runuser, "-u", "postgres", "--"] if runuser else
                                ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups"])
        # The `postgres` user must reach its directory, and a unix socket path is at most 107 bytes:
        # as root, or when `directory` is long, the cluster lives in its own dir under the temp dir.
        self.separate = self.owner is not None or len(str(directory)) > 80
        self.home = Path(tempfile.mkdtemp(prefix="seawall-pg-")) if self.separate else directory
        self.home.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            os.chown(self.home, self.owner.pw_uid, self.owner.pw_gid)
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        self.initialised = False

    def _tool(self, name: str) -> str:
        return str(self.bin / name)

    def accepts(self) -> bool:
        done = subprocess.run([self._tool("pg_isready"), "-q", "-h", _LOOPBACK, "-p", str(self.port), "-t", "2"],
                              capture_output=True, timeout=10, check=False)
        return done.returncode == 0

    def start(self, *, timeout: float) -> None:
        if not self.initialised:
            _run([*self.as_postgres, self._tool("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync"], what="PostgreSQL initdb", timeout=timeout)
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(f"\n# seawall chaos: a private, crash-safe server\nlisten_addresses = '{_LOOPBACK}'\n"
                           f"port = {self.port}\nunix_socket_directories = '{self.home}'\nfsync = on\n"
                           "synchronous_commit = on\nfull_page_writes = on\nmax_connections = 200\n"
                           "shared_buffers = '32MB'\n")
        try:
            _run([*self.as_postgres, self._tool("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(max(1, int(timeout))), "-s", "start"], what="PostgreSQL start", timeout=timeout + 5)
        except InfraError as error:
            raise InfraError(f"{error} (log: {_log_tail(self.log)})") from None
        wait_until(self.accepts, timeout=timeout, what="PostgreSQL accepting connections", interval=0.1)
        if not self.initialised:
            _run([self._tool("psql"), "-q", "-h", _LOOPBACK, "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-c", "CREATE DATABASE seawall"], what="PostgreSQL create database",
                 timeout=timeout)
            self.initialised = True

    def stop(self, *, mode: str, timeout: float) -> None:
        shutdown = "fast" if mode == "fast" else "immediate"
        _run([*self.as_postgres, self._tool("pg_ctl"), "-D", str(self.data), "-m", shutdown, "-w",
              "-t", str(max(1, int(timeout))), "-s", "stop"], what=f"PostgreSQL stop ({shutdown})", timeout=timeout + 5)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def destroy(self, *, timeout: float) -> None:
        if self._postmaster_pid() is not None:
            try:
                self.stop(mode="kill", timeout=timeout)
            except InfraError:
                pid = self._postmaster_pid()
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if self.separate:
            shutil.rmtree(self.home, ignore_errors=True)


class RedisServer(Server):
    """A private `redis-server` on 127.0.0.1, no persistence (a restart loses every key)."""

    name = "redis"

    def __init__(self, directory: Path, *, port: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise InfraError("Redis: redis-server not found on PATH (install the redis-server package)")
        self.binary = binary
        self.port = port
        self.url = f"redis://{_LOOPBACK}:{port}/0"
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def accepts(self) -> bool:
        return _tcp_accepts(self.port, b"PING\r\n", b"+PONG")

    def start(self, *, timeout: float) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", _LOOPBACK, "--save", "", "--appendonly", "no",
                 "--dir", str(self.directory), "--daemonize", "no", "--loglevel", "warning"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                start_new_session=True)
        process = self.process

        def up() -> bool:
            if process.poll() is not None:
                raise InfraError(f"Redis exited with {process.returncode} at start (log: {_log_tail(self.log)})")
            return self.accepts()

        wait_until(up, timeout=timeout, what="Redis accepting connections")

    def stop(self, *, mode: str, timeout: float) -> None:
        if self.process is None:
            return
        if mode == "fast":
            _tcp_accepts(self.port, b"SHUTDOWN NOSAVE\r\n")
        else:
            self.process.kill()
        _reap(self.process, timeout=timeout, what="Redis")
        self.process = None

    def destroy(self, *, timeout: float) -> None:
        self.stop(mode="kill", timeout=timeout)


def _find_rabbitmq() -> tuple[str, str]:
    """(`rabbitmq-server` script, `epmd`): the real script, not Debian's wrapper in /usr/sbin, which
    switches to the `rabbitmq` user and drops the environment that makes this node private."""
    scripts = [Path("/usr/lib/rabbitmq/bin/rabbitmq-server"),
               *sorted(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/sbin/rabbitmq-server"))]
    script = next((str(path) for path in scripts if path.exists()), None) or shutil.which("rabbitmq-server")
    bundled = sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))
    epmd = shutil.which("epmd") or (str(bundled[-1]) if bundled else None)
    if script is None or epmd is None:
        raise InfraError("RabbitMQ: rabbitmq-server or epmd not found (install the rabbitmq-server package)")
    return script, epmd


class RabbitMQServer(Server):
    """A private RabbitMQ node with its own epmd, cookie, data and logs; data kept across restarts."""

    name = "rabbitmq"

    def __init__(self, directory: Path, *, port: int, dist_port: int, epmd_port: int, node: str) -> None:
        self.script, self.epmd = _find_rabbitmq()
        self.port, self.epmd_port, self.node = port, epmd_port, node
        self.url = f"amqp://guest:guest@{_LOOPBACK}:{port}/"
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "enabled_plugins").write_text("[].\n")
        (directory / "rabbitmq.conf").write_text("# seawall chaos: a private node; defaults (guest from loopback)\n")
        self.log = directory / "server.log"
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith(("RABBITMQ_", "ERL_", "NOTIFY_SOCKET"))}
        environment.update({
            "HOME": str(directory),  # its own Erlang cookie
            "RABBITMQ_NODENAME": node, "RABBITMQ_NODE_IP_ADDRESS": _LOOPBACK, "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(dist_port), "ERL_EPMD_PORT": str(epmd_port), "ERL_EPMD_ADDRESS": _LOOPBACK,
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"), "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq"),  # not /etc/rabbitmq/rabbitmq.conf
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(directory / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),  # not /etc/rabbitmq's
            "RABBITMQ_PID_FILE": str(directory / "node.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RUNNING_UNDER_SYSTEMD": "true",  # the script execs the VM: our child is the node itself
        })
        self.environment = environment
        self.epmd_process: subprocess.Popen[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def accepts(self) -> bool:
        # AMQP 0-9-1 protocol header; a running broker answers with a method frame (type 1).
        return _tcp_accepts(self.port, b"AMQP\x00\x00\x09\x01", b"\x01")

    def start(self, *, timeout: float) -> None:
        if self.epmd_process is None or self.epmd_process.poll() is not None:
            self.epmd_process = subprocess.Popen(
                [self.epmd, "-port", str(self.epmd_port), "-address", _LOOPBACK], env=self.environment,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=self.directory, start_new_session=True)
            wait_until(lambda: _tcp_accepts(self.epmd_port), timeout=timeout, what="RabbitMQ epmd")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([self.script], env=self.environment, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                                            start_new_session=True)
        process = self.process

        def up() -> bool:
            if process.poll() is not None:
                raise InfraError(f"RabbitMQ exited with {process.returncode} at start (log: {_log_tail(self.log)})")
            return self.accepts()

        wait_until(up, timeout=timeout, what="RabbitMQ accepting connections", interval=0.1)

    def stop(self, *, mode: str, timeout: float) -> None:
        if self.process is None:
            return
        if mode == "fast":
            self.process.send_signal(signal.SIGTERM)  # the node's own orderly shutdown
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        _reap(self.process, timeout=timeout, what="RabbitMQ")
        self.process = None

    def destroy(self, *, timeout: float) -> None:
        self.stop(mode="kill", timeout=timeout)
        if self.epmd_process is not None:
            self.epmd_process.kill()
            _reap(self.epmd_process, timeout=timeout, what="epmd")
            self.epmd_process = None
