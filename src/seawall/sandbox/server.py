"""Run the sandbox: in process for tests and the demo (`SandboxServer`), or as `seawall sandbox`.

    async with SandboxServer() as sandbox:          # 127.0.0.1, a free port, in this event loop
        provider = StripeProvider(api_key="sk_test_x", api_base=sandbox.base_url)
        sandbox.set_faults(lost_response_rate=1.0, seed=1)
        ...
        assert len(sandbox.state.intents_for("pay_1")) == 1

The fake Twilio is served on the same port (`sandbox.base_url`); the SMTP sink runs on a port of
its own when asked for: `SandboxServer(smtp_port=0)` (a free port) → `sandbox.smtp.port`.
`seawall sandbox` (`seawall.cli.sandbox`) always starts the sink (`--smtp-port`, default 12125).

`SandboxServer` serves through `embedded.EmbeddedHttpServer` (uvicorn in this loop, on a socket it
binds itself, signal handlers left alone) and on exit releases hanging requests so it stops promptly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Any, Self

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from seawall.sandbox.app import SandboxState, as_fault_config, create_sandbox_app
from seawall.sandbox.embedded import EmbeddedHttpServer, uvicorn_config
from seawall.sandbox.faults import FaultConfig
from seawall.sandbox.smtp import SmtpFaultConfig, SmtpSink, as_smtp_fault_config
from seawall.sandbox.stripe_webhooks import WebhookConfig


class SandboxSettings(BaseSettings):
    """`SEAWALL_SANDBOX_FAULTS` (JSON) or `SEAWALL_SANDBOX_FAULTS__<FIELD>` (one per field) for payments;
    `SEAWALL_SANDBOX_SMS_FAULTS...` and `SEAWALL_SANDBOX_SMTP_FAULTS...` the same way for SMS and SMTP."""

    model_config = SettingsConfigDict(env_prefix="SEAWALL_SANDBOX_", env_nested_delimiter="__", extra="ignore")

    faults: FaultConfig = Field(default_factory=FaultConfig)
    sms_faults: FaultConfig = Field(default_factory=FaultConfig)
    smtp_faults: SmtpFaultConfig = Field(default_factory=SmtpFaultConfig)
    # Where the fake Stripe sends webhook events, signed with these secrets (comma separated).
    stripe_webhook_url: str | None = None
    stripe_webhook_secrets: str = ""


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
        self._http = EmbeddedHttpServer(self.app, host=host, port=port, name="sandbox server")

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        return self._http.base_url

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

    def set_stripe_webhooks(self, config: WebhookConfig | Mapping[str, Any] | None = None,
                            **fields: Any) -> WebhookConfig:
        """Configure the fake Stripe's webhook sender (`stripe_webhooks.WebhookConfig`):
        `set_stripe_webhooks(url=..., secrets=["whsec_..."], faults={"duplicate_rate": 1.0})`."""
        base = config.model_dump() if isinstance(config, WebhookConfig) else dict(config or {})
        new_config = WebhookConfig.model_validate(base | fields)
        self.state.stripe_webhooks.configure(new_config)
        return new_config

    def set_smtp_faults(self, config: SmtpFaultConfig | Mapping[str, Any] | None = None,
                        **fields: Any) -> SmtpFaultConfig:
        """The same for the SMTP sink (`smtp.SmtpFaultConfig`), whether or not this server runs it."""
        new_config = SmtpFaultConfig.model_validate(as_smtp_fault_config(config).model_dump() | fields)
        self.state.mail_faults.configure(new_config)
        return new_config

    async def start(self) -> None:
        self._http.bind()  # a taken HTTP port fails before the sink starts
        if self.smtp is not None:
            try:
                await self.smtp.start()
            except BaseException:
                self._http.close_socket()
                raise
        try:
            await self._http.serve()
        except BaseException:
            if self.smtp is not None:
                await self.smtp.stop()
            raise

    async def stop(self) -> None:
        if self.smtp is not None:
            await self.smtp.stop()
        if self._http.running:
            self.state.faults.release_hangs()
            self.state.sms.faults.release_hangs()
        await self.state.stripe_webhooks.aclose()
        await self._http.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


def run_sandbox(*, host: str, port: int, smtp_port: int,
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
    state.stripe_webhooks.configure(WebhookConfig(
        url=settings.stripe_webhook_url,
        secrets=[s.strip() for s in settings.stripe_webhook_secrets.split(",") if s.strip()]))
    config = as_fault_config(faults) if faults is not None else settings.faults
    app = create_sandbox_app(state=state, faults=config)
    server = uvicorn.Server(uvicorn_config(app, host=host, port=port))
    sink = SmtpSink(host=host, port=smtp_port, mailbox=state.mail, injector=state.mail_faults)
    asyncio.run(_serve(server, sink, on_smtp_ready))


async def _serve(server: uvicorn.Server, sink: SmtpSink, on_smtp_ready: Callable[[int], None] | None) -> None:
    async with sink:  # bound before HTTP starts: a taken SMTP port stops the sandbox at once
        if on_smtp_ready is not None:
            on_smtp_ready(sink.port)
        await server.serve()  # returns on SIGINT/SIGTERM, after uvicorn's graceful shutdown
