"""A real legacy app process, a real `seawall api` process in front of it (embedded SQLite, its own var
dir), and an "evil" listener that no request may ever reach: the bridge tests' setup.

    with BridgeRig.start(tmp_path, routes=TABLE, env={...}) as rig:
        rig.url                # Seawall, http://127.0.0.1:<port>
        rig.legacy             # LegacyApp (kill, restart, requests)
        rig.evil.connections   # connections the evil listener accepted (must stay 0)
        rig.write_routes(TEXT) # replace the table file
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

from seawall.kit.ports import free_port
from tests.support.legacy_app.process import LegacyApp
from tests.support.server import SeawallProcess, ServerFactory

ADMIN_KEY = "test-admin-key-0123456789"


@dataclass
class EvilListener:
    """A loopback TCP listener counting every connection (and the first bytes of each)."""

    port: int = field(default_factory=free_port)
    connections: int = 0
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", self.port))
        self._socket.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.settimeout(0.5)
                try:
                    self.received.append(connection.recv(4096))
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
        self._thread.join(timeout=2)


@dataclass
class BridgeRig:
    factory: ServerFactory
    legacy: LegacyApp
    evil: EvilListener
    routes_path: Path
    server: SeawallProcess | None = None

    @classmethod
    def start(cls, directory: Path, *, routes: str = "", env: dict[str, str] | None = None) -> BridgeRig:
        var_dir = directory / "var"
        var_dir.mkdir(parents=True, exist_ok=True)
        routes_path = directory / "legacy-routes.toml"
        routes_path.write_text(routes)
        legacy = LegacyApp(port=free_port())  # started while Seawall starts: both take a second or two
        rig = cls(factory=ServerFactory(var_dir=var_dir, admin_key=ADMIN_KEY), legacy=legacy,
                  evil=EvilListener(), routes_path=routes_path)
        try:
            rig.server = rig.factory.start("api", wait_ready=False, env={
                "SEAWALL_LEGACY_UPSTREAM": legacy.url, "SEAWALL_LEGACY_ROUTES": str(routes_path),
                "SEAWALL_ACCESS_LOG": "true", **(env or {})})
            legacy.restart()
            rig.factory.wait_ready(rig.server)
        except BaseException:
            rig.close()
            raise
        return rig

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def rss(self) -> int:
        """The serving process's resident memory, with its children's (bytes)."""
        assert self.server is not None
        process = psutil.Process(self.server.process.pid)
        children = process.children(recursive=True)
        return int(process.memory_info().rss + sum(child.memory_info().rss for child in children))

    def write_routes(self, text: str) -> None:
        """Replace the table file in one step (rename: a reader sees the old file or the new one)."""
        temporary = self.routes_path.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(self.routes_path)

    def close(self) -> None:
        self.factory.close()
        self.legacy.stop()
        self.evil.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def raw_request(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send `request` as is on a fresh connection and read the whole answer (the server closes after it:
    send `Connection: close`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        chunks = []
        while True:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
