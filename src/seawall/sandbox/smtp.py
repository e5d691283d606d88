"""The sandbox's SMTP sink: accepts mail on loopback, records it, and counts deliveries per Message-ID.

    async with SmtpSink() as sink:                  # 127.0.0.1, a free port, in this event loop
        sender = SmtpEmailSender(host=sink.host, port=sink.port, security="none")
        ...
        assert sink.deliveries_by_message_id["<ntf_1@seawall.invalid>"] == 1
        assert sink.duplicates() == {}

Every accepted message is parsed with the stdlib `email` package and kept in `Mailbox.messages`; a
second delivery of the same `Message-ID` is recorded too and shows in `duplicates()`, so a
redelivery by Seawall is visible rather than silently merged.

Fault injection (`SmtpFaultConfig`, JSON, all fields optional), seedable like `faults.FaultConfig`;
one draw per mail transaction picks at most one of the rates:

    {
      "seed": 7,
      "error_451_rate": 0.0,       end of DATA: 451 4.3.0, message NOT accepted (transient)
      "error_550_rate": 0.0,       RCPT TO: 550 5.1.1 mailbox unavailable (permanent)
      "hang_rate": 0.0,            end of DATA: no reply, NOT accepted, until the client gives up ...
      "hang_seconds": 3600,        ... or this long, then the connection is dropped
      "lost_response_rate": 0.0,   end of DATA: message ACCEPTED and recorded, then the connection is
                                   dropped before the 250 reply; the client cannot know (unknown)
      "latency_ms": 0,             before the reply to DATA ...
      "latency_jitter_ms": 0,      ... plus a uniform random 0..jitter
      "outage_seconds": 0,         from when it is applied, for this long: 421 4.3.2 to EHLO/HELO and
                                   MAIL, and the connection is closed
      "bounce_prefixes": ["bounce"]  recipients whose local part starts with one of these always get
                                   550 5.1.1 at RCPT TO (independent of the rates)
    }

Served by aiosmtpd's `SMTP` protocol on a server this class starts on the running loop (not
aiosmtpd's threaded `Controller`), so tests read the records directly, without locks.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from enum import StrEnum
from types import TracebackType
from typing import Annotated, Any, Self, cast

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import BaseModel, ConfigDict, Field, model_validator

from seawall.kit.ids import new_id
from seawall.sandbox.faults import RandomFaults

SINK_HOSTNAME = "sink.sandbox.seawall.invalid"
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class SmtpFaultKind(StrEnum):
    ERROR_451 = "error_451"
    ERROR_550 = "error_550"
    HANG = "hang"
    LOST_RESPONSE = "lost_response"


class SmtpFaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = None
    error_451_rate: Probability = 0.0
    error_550_rate: Probability = 0.0
    hang_rate: Probability = 0.0
    hang_seconds: float = Field(default=3600.0, gt=0)
    lost_response_rate: Probability = 0.0
    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0)
    outage_seconds: float = Field(default=0.0, ge=0)
    bounce_prefixes: list[str] = Field(default_factory=lambda: ["bounce"])

    @model_validator(mode="after")
    def _rates_fit_in_one(self) -> SmtpFaultConfig:
        total = sum(rate for _kind, rate in self.weighted_kinds())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f}; at most 1 is possible")
        return self

    def weighted_kinds(self) -> list[tuple[SmtpFaultKind, float]]:
        return [(SmtpFaultKind.ERROR_451, self.error_451_rate), (SmtpFaultKind.ERROR_550, self.error_550_rate),
                (SmtpFaultKind.HANG, self.hang_rate), (SmtpFaultKind.LOST_RESPONSE, self.lost_response_rate)]

    def bounces(self, address: str) -> bool:
        local_part = address.rsplit("@", 1)[0].lower()
        return any(local_part.startswith(prefix.lower()) for prefix in self.bounce_prefixes if prefix)


@dataclass(frozen=True)
class SmtpFaultDecision:
    kind: SmtpFaultKind | None
    latency_seconds: float = 0.0


class SmtpFaultInjector(RandomFaults[SmtpFaultConfig]):
    """Decides, transaction by transaction, which fault (if any) the sink injects."""

    def __init__(self, config: SmtpFaultConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config or SmtpFaultConfig(), clock=clock)

    def decide(self) -> SmtpFaultDecision:
        kind, latency = self.draw()
        return SmtpFaultDecision(kind, latency)


def as_smtp_fault_config(faults: SmtpFaultConfig | Mapping[str, Any] | None) -> SmtpFaultConfig:
    if faults is None:
        return SmtpFaultConfig()
    return faults if isinstance(faults, SmtpFaultConfig) else SmtpFaultConfig.model_validate(dict(faults))


@dataclass(frozen=True)
class ReceivedMessage:
    queue_id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    received_at: datetime

    @property
    def message_id(self) -> str | None:
        value = self.message["Message-ID"]
        return str(value).strip() if value is not None else None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def body(self, subtype: str = "plain") -> str | None:
        """The text/<subtype> part's decoded content, if the message has one."""
        part = self.message.get_body(preferencelist=(subtype,))
        return cast(str, part.get_content()) if part is not None else None

    def summary(self) -> dict[str, Any]:
        return {"queue_id": self.queue_id, "message_id": self.message_id, "mail_from": self.mail_from,
                "rcpt_tos": list(self.rcpt_tos), "subject": self.subject,
                "content_type": self.message.get_content_type(), "received_at": self.received_at.isoformat()}


@dataclass
class Mailbox:
    """Everything the sink accepted, and what its transactions came to (`outcomes`)."""

    messages: list[ReceivedMessage] = field(default_factory=list)
    deliveries_by_message_id: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    connections_accepted: int = 0

    def record(self, *, mail_from: str, rcpt_tos: list[str], content: bytes) -> ReceivedMessage:
        parsed = cast(EmailMessage, message_from_bytes(content.replace(b"\r\n", b"\n"), policy=default_policy))
        received = ReceivedMessage(queue_id=new_id("q"), mail_from=mail_from, rcpt_tos=tuple(rcpt_tos),
                                   message=parsed, received_at=datetime.now(UTC))
        self.messages.append(received)
        if received.message_id is not None:
            self.deliveries_by_message_id[received.message_id] += 1
        return received

    def duplicates(self) -> dict[str, int]:
        """Message-IDs delivered more than once, with their delivery counts."""
        return {message_id: count for message_id, count in self.deliveries_by_message_id.items() if count > 1}

    def with_message_id(self, message_id: str) -> list[ReceivedMessage]:
        return [m for m in self.messages if m.message_id == message_id]

    def to(self, address: str) -> list[ReceivedMessage]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def reset(self) -> None:
        self.messages.clear()
        self.deliveries_by_message_id.clear()
        self.outcomes.clear()
        self.connections_accepted = 0


class _Transaction:
    """aiosmtpd's handler for one connection: the hooks that record mail and inject faults."""

    def __init__(self, mailbox: Mailbox, faults: SmtpFaultInjector) -> None:
        self.mailbox = mailbox
        self.faults = faults
        self.decision = SmtpFaultDecision(None)

    def _refuse_in_outage(self, server: SMTP) -> str | None:
        if self.faults.outage_remaining() <= 0:
            return None
        self.mailbox.outcomes["outage"] += 1
        asyncio.get_running_loop().call_soon(_close, server)  # after the reply has been written
        return "421 4.3.2 Service not available (sandbox: injected outage), closing transmission channel"

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        refusal = self._refuse_in_outage(server)
        if refusal is not None:
            return [refusal]
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str) -> str:
        refusal = self._refuse_in_outage(server)
        if refusal is not None:
            return refusal
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        refusal = self._refuse_in_outage(server)
        if refusal is not None:
            return refusal
        self.decision = self.faults.decide()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.faults.config.bounces(address):
            self.mailbox.outcomes["bounced"] += 1
            return f"550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable"
        if self.decision.kind is SmtpFaultKind.ERROR_550:
            self.mailbox.outcomes[SmtpFaultKind.ERROR_550.value] += 1
            return f"550 5.1.1 <{address}>: mailbox unavailable (sandbox: injected)"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        decision, self.decision = self.decision, SmtpFaultDecision(None)
        if decision.latency_seconds > 0:
            await asyncio.sleep(decision.latency_seconds)
        kind = decision.kind
        if kind is SmtpFaultKind.ERROR_451:
            self.mailbox.outcomes[kind.value] += 1
            return "451 4.3.0 Temporary local problem, try again later (sandbox: injected)"
        if kind is SmtpFaultKind.HANG:
            self.mailbox.outcomes[kind.value] += 1
            await self._hang(self.faults.config.hang_seconds)  # a client that hangs up cancels this
            _close(server)
            return "451 4.4.2 Timeout (sandbox: the connection was dropped)"  # never reaches the client
        content = envelope.original_content or b""
        received = self.mailbox.record(mail_from=str(envelope.mail_from), rcpt_tos=list(envelope.rcpt_tos),
                                       content=content)
        if kind is SmtpFaultKind.LOST_RESPONSE:
            self.mailbox.outcomes[kind.value] += 1
            _close(server)  # the 250 below is written to a closed transport: the client never sees it
            return f"250 2.0.0 OK: queued as {received.queue_id}"
        self.mailbox.outcomes["ok"] += 1
        return f"250 2.0.0 OK: queued as {received.queue_id}"

    async def _hang(self, seconds: float) -> None:
        waiters = [asyncio.ensure_future(self.faults.wait_released()), asyncio.ensure_future(asyncio.sleep(seconds))]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


class _Credentials:
    """aiosmtpd authenticator: AUTH PLAIN / LOGIN against fixed username → password pairs."""

    def __init__(self, credentials: Mapping[str, str]) -> None:
        self.credentials = dict(credentials)

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(errors="replace"), auth_data.password.decode(errors="replace")
        ok = login in self.credentials and secrets.compare_digest(self.credentials[login], password)
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)


class _SinkProtocol(SMTP):
    """aiosmtpd's SMTP protocol, registered with the sink while connected so `stop` can close it."""

    def __init__(self, handler: _Transaction, *, connections: set[_SinkProtocol],
                 loop: asyncio.AbstractEventLoop, credentials: Mapping[str, str] | None) -> None:
        auth: dict[str, Any] = {}
        if credentials is not None:  # AUTH over plain text: acceptable on loopback, in a sandbox
            auth = {"auth_required": True, "auth_require_tls": False, "authenticator": _Credentials(credentials)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS
            super().__init__(handler, hostname=SINK_HOSTNAME, ident="Seawall sandbox SMTP sink", loop=loop,
                             data_size_limit=10 * 1024 * 1024, timeout=60, **auth)
        self._connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._connections.add(self)
        self.event_handler.mailbox.connections_accepted += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._connections.discard(self)
        super().connection_lost(error)


class SmtpSink:
    """The sink, served on the running loop. `port=0` (the default) binds a free port."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: SmtpFaultConfig | Mapping[str, Any] | None = None,
        mailbox: Mailbox | None = None,
        injector: SmtpFaultInjector | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        """`credentials`: username → password; when given, AUTH is required (PLAIN/LOGIN, no TLS)."""
        self.host = host
        self._credentials = dict(credentials) if credentials is not None else None
        self.mailbox = mailbox if mailbox is not None else Mailbox()
        self.faults = injector if injector is not None else SmtpFaultInjector()
        if faults is not None:
            self.faults.configure(as_smtp_fault_config(faults))
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._socket: socket.socket | None = None
        self._connections: set[_SinkProtocol] = set()

    # ---- what the sink saw ---------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.mailbox.messages

    @property
    def deliveries_by_message_id(self) -> Counter[str]:
        return self.mailbox.deliveries_by_message_id

    def duplicates(self) -> dict[str, int]:
        return self.mailbox.duplicates()

    @property
    def outcomes(self) -> Counter[str]:
        return self.mailbox.outcomes

    def set_faults(self, config: SmtpFaultConfig | Mapping[str, Any] | None = None, **fields: Any) -> SmtpFaultConfig:
        """Replace the fault configuration: `set_faults(error_451_rate=1.0)`; `set_faults()` clears."""
        merged = as_smtp_fault_config(config).model_dump() | fields
        new_config = SmtpFaultConfig.model_validate(merged)
        self.faults.configure(new_config)
        return new_config

    # ---- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the SMTP sink is not running")
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
            sock.setblocking(False)
            self._server = await loop.create_server(
                lambda: _SinkProtocol(_Transaction(self.mailbox, self.faults), connections=self._connections,
                                      loop=loop, credentials=self._credentials),
                sock=sock,
            )
        except BaseException:
            sock.close()
            raise
        self._socket = sock

    def drop_connections(self) -> int:
        """Close every client connection, as a server's idle timeout would; returns how many."""
        dropped = 0
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
                dropped += 1
        return dropped

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        self.faults.release_hangs()
        server.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the closed connections' handlers unwind
        self._socket = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
