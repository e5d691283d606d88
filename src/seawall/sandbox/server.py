"""Run the sandbox: in process for tests and the demo (`SandboxServer`), or as `seawall sandbox`.

    async with SandboxServer() as sandbox:          # 127.0.0.1, a free port, in this event loop
        provider = StripeProvider(api_key="sk_test_x", api_base=sandbox.base_url)
        sandbox.set_faults(lost_response_rate=1.0, seed=1)
        ...
        assert len(sandbox.state.intents_for("pay_1")) == 1

The fake Twilio is served on the same port (`sandbox.base_url`); the SMTP sink runs on a port of
its own when asked for: `SandboxServer(smtp_port=0)` (a free port) → `sandbox.smtp.port`.
`seawall sandbox` always starts the sink (`--smtp-port`, default 12125).

`SandboxServer` runs uvicorn (h11, so dropped connections look the same everywhere) on a socket it
binds itself, leaves the process's signal handlers alone, and on exit releases hanging requests
so it stops promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Collection, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from seawall.sandbox.app import SandboxState, as_fault_config, create_sandbox_app
from seawall.sandbox.faults import FaultConfig
from seawall.sandbox.smtp import DEFAULT_SMTP_PORT, SmtpFaultConfig, SmtpSink, as_smtp_fault_config

DEFAULT_PORT = 12111


class SandboxSettings(BaseSettings):
    """`SEAWALL_SANDBOX_FAULTS` (JSON) or `SEAWALL_SANDBOX_FAULTS__<FIELD>` (one per field) for payments;
    `SEAWALL_SANDBOX_SMS_FAULTS...` and `SEAWALL_SANDBOX_SMTP_FAULTS...` the same way for SMS and SMTP."""

    model_config = SettingsConfigDict(env_prefix="SEAWALL_SANDBOX_", env_nested_delimiter="__", extra="ignore")

    faults: FaultConfig = Field(default_factory=FaultConfig)
    sms_faults: FaultConfig = Field(default_factory=FaultConfig)
    smtp_faults: SmtpFaultConfig = Field(default_factory=SmtpFaultConfig)


class _DroppedResponseFilter(logging.Filter):
    """Injected dropped responses are the point, not server errors: keep them out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


_DROPPED_RESPONSE_FILTER = _DroppedResponseFilter()


class _EmbeddedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the embedding process owns its signals


def _uvicorn_config(app: Any, *, host: str, port: int) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_DROPPED_RESPONSE_FILTER)
    return uvicorn.Config(app, host=host, port=port, http="h11", lifespan="off", log_config=None,
                          access_log=False, timeout_graceful_shutdown=2, timeout_keep_alive=5)


class SandboxServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultConfig | Mapping[str, Any] | None = None,
        api_keys: Collection[str] | None = None,
        state: SandboxState | None = None,
        sms_accounts: Mapping[str, str] | None = None,
        smtp_port: int | None = None,
        smtp_credentials: Mapping[str, str] | None = None,
    ) -> None:
        """`smtp_port`: also run the SMTP sink there (0: a free port; None: no sink)."""
        self.host = host
        self.state = state or SandboxState()
        self.app = create_sandbox_app(state=self.state, faults=faults, api_keys=api_keys, sms_accounts=sms_accounts)
        self.smtp: SmtpSink | None = None
        if smtp_port is not None:
            self.smtp = SmtpSink(host=host, port=smtp_port, mailbox=self.state.mail, injector=self.state.mail_faults,
                                 credentials=smtp_credentials)
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def faults(self) -> FaultConfig:
        return self.state.faults.config

    def set_faults(self, config: FaultConfig | Mapping[str, Any] | None = None, **fields: Any) -> FaultConfig:
        """Replace the fault configuration: `set_faults(error_500_rate=0.5, seed=3)`; `set_faults()` clears."""
        merged = as_fault_config(config).model_dump() | fields
        new_config = FaultConfig.model_validate(merged)
        self.state.faults.configure(new_config)
        return new_config

    def set_sms_faults(self, config: FaultConfig | Mapping[str, Any] | None = None, **fields: Any) -> FaultConfig:
        """The same for the fake Twilio: `set_sms_faults(hang_rate=1.0)`; `set_sms_faults()` clears."""
        new_config = FaultConfig.model_validate(as_fault_config(config).model_dump() | fields)
        self.state.sms.faults.configure(new_config)
        return new_config

    def set_smtp_faults(self, config: SmtpFaultConfig | Mapping[str, Any] | None = None,
                        **fields: Any) -> SmtpFaultConfig:
        """The same for the SMTP sink (`smtp.SmtpFaultConfig`), whether or not this server runs it."""
        new_config = SmtpFaultConfig.model_validate(as_smtp_fault_config(config).model_dump() | fields)
        self.state.mail_faults.configure(new_config)
        return new_config

    async def start(self) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (no 40 ms Nagle stalls).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        if self.smtp is not None:
            try:
                await self.smtp.start()
            except BaseException:
                sock.close()
                self._socket = None
                raise
        self._server = _EmbeddedUvicorn(_uvicorn_config(self.app, host=self.host, port=self.port))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="seawall-sandbox")
        while not self._server.started:
            if self._task.done():
                if self.smtp is not None:
                    await self.smtp.stop()
                await self._task  # raises what stopped it
                raise RuntimeError("the sandbox server stopped during startup")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self.smtp is not None:
            await self.smtp.stop()
        if self._server is None or self._task is None:
            return
        self.state.faults.release_hangs()
        self.state.sms.faults.release_hangs()
        self._server.should_exit = True
        try:
            await self._task
        finally:
            if self._socket is not None:
                self._socket.close()
            self._socket = self._server = self._task = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def run_sandbox(host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, smtp_port: int = DEFAULT_SMTP_PORT,
                faults: FaultConfig | Mapping[str, Any] | None = None,
                on_smtp_ready: Callable[[int], None] | None = None) -> None:
    """Serve the sandbox (HTTP on `port`, the SMTP sink on `smtp_port`) until SIGINT/SIGTERM.

    `on_smtp_ready` is called with the sink's port once it listens (useful with `smtp_port=0`).

    Faults: `faults` for payments, else `SEAWALL_SANDBOX_FAULTS...`; SMS and SMTP faults from
    `SEAWALL_SANDBOX_SMS_FAULTS...` and `SEAWALL_SANDBOX_SMTP_FAULTS...`.
    """
    settings = SandboxSettings()
    state = SandboxState()
    state.sms.faults.configure(settings.sms_faults)
    state.mail_faults.configure(settings.smtp_faults)
    config = as_fault_config(faults) if faults is not None else settings.faults
    app = create_sandbox_app(state=state, faults=config)
    server = uvicorn.Server(_uvicorn_config(app, host=host, port=port))
    sink = SmtpSink(host=host, port=smtp_port, mailbox=state.mail, injector=state.mail_faults)
    asyncio.run(_serve(server, sink, on_smtp_ready))


async def _serve(server: uvicorn.Server, sink: SmtpSink, on_smtp_ready: Callable[[int], None] | None) -> None:
    async with sink:  # bound before HTTP starts: a taken SMTP port stops the sandbox at once
        if on_smtp_ready is not None:
            on_smtp_ready(sink.port)
        await server.serve()  # returns on SIGINT/SIGTERM, after uvicorn's graceful shutdown
