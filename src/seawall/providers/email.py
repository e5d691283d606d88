"""`EmailSender` over SMTP (any relay, and the sandbox's sink), on aiosmtplib.

Per message: a connection (TCP, then STARTTLS or implicit TLS when configured, then AUTH), then
`MAIL FROM`, `RCPT TO`, `DATA`. A connection that delivered a message stays open for the next one
(up to `max_idle_connections`, each for `idle_seconds`; the rest get `QUIT`); one that saw any
error is closed, since it may be mid-transaction. If the server has closed an idle connection
meanwhile (or answers `MAIL FROM` on it with 421), nothing of the message was sent, and it goes
over a new connection. The caller's stable `Message-ID` goes out as the
header, so a resend after an unknown outcome reaches the recipient as the same message and is
detectable (and deduplicated by most mail stores and by the sandbox's sink).

Bounded three ways: a connect timeout (TCP and the server's greeting), a per-command timeout, and
a total deadline across the whole exchange. Nothing is retried here.

Failures become `seawall.providers.errors`, by what the server can have done with the message.
Until the message text has gone (`DATA`), the server holds nothing it could deliver:

    connect refused / connect timeout / no greeting        ProviderUnavailableError  not_processed
    4xx reply (421, 450, 451, 452, 454 ...)                 ProviderUnavailableError  not_processed
    5xx reply (550, 553, 554, 535 auth ...)                 ProviderRejectedError     (permanent)
    timeout or dropped connection before DATA               ProviderUnavailableError  not_processed
    timeout, dropped connection or deadline from DATA on    ProviderUnavailableError  unknown
    STARTTLS / AUTH configured but not offered by the server ProviderRejectedError    (configuration)
    a malformed or non-ASCII From / To address              ProviderRejectedError     invalid_address

An SMTP error reply to the message text is a refusal: the server did not take the message. Only
the silence after it leaves the outcome unknown. Once the server answers 250 the message is
accepted; a failure of a later QUIT changes nothing.

Envelope addresses must be ASCII (no SMTPUTF8). A malformed `Message-ID` or an extra header that
would override the message's own fields is the caller's bug: ValueError. The password never
appears in errors or `repr`, and errors do not chain aiosmtplib's exceptions.
"""

from __future__ import annotations

import asyncio
import email.policy
import re
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Literal, Protocol

import aiosmtplib
from pydantic import SecretStr

from seawall.providers.errors import ProviderError, ProviderRejectedError, ProviderUnavailableError

Security = Literal["none", "starttls", "tls"]
Phase = Literal["connect", "envelope", "data"]

_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_RESERVED_HEADERS = frozenset({"from", "to", "subject", "message-id", "mime-version", "content-type",
                               "content-transfer-encoding", "cc", "bcc"})
_POLICY = email.policy.SMTP  # CRLF line ends, RFC 2047 headers


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A rendered message ready to send. `message_id` is the caller's stable id, `<local@domain>`."""

    sender: str  # the From header, e.g. "Seawall <no-reply@example.com>"; its address is MAIL FROM
    to: str  # one recipient, e.g. "ada@example.com" or "Ada <ada@example.com>"
    subject: str
    text: str
    message_id: str
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # extra headers (Reply-To, List-Unsubscribe ...)


@dataclass(frozen=True, slots=True)
class SentEmail:
    message_id: str
    reply: str  # the server's answer to DATA, often carrying its queue id


class EmailSender(Protocol):
    name: str

    async def send(self, message: OutgoingEmail) -> SentEmail:
        """Deliver one message; raises the `seawall.providers.errors` tree."""
        ...

    async def aclose(self) -> None: ...


def normalized_message_id(message_id: str) -> str:
    """`<id@domain>` (angle brackets added when missing); ValueError for anything else."""
    candidate = message_id.strip()
    if not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    if not _MESSAGE_ID.match(candidate) or not candidate.isascii():
        raise ValueError(f"not a valid Message-ID: {message_id!r}")
    return candidate


def build_mime(message: OutgoingEmail, *, now: datetime | None = None) -> EmailMessage:
    """The MIME message: text/plain, or multipart/alternative (text, then HTML); 7-bit clean."""
    mime = EmailMessage(policy=_POLICY)
    mime["From"] = message.sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Message-ID"] = normalized_message_id(message.message_id)
    for name, value in message.headers.items():
        if name.strip().lower() in _RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set from the message's own fields")
        mime[name] = value
    if "Date" not in mime:
        mime["Date"] = format_datetime(now or datetime.now(UTC))
    mime.set_content(message.text, cte="quoted-printable")
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html", cte="quoted-printable")
    return mime


def _single_address(header_value: str, *, role: str) -> str:
    addresses = [address for _name, address in getaddresses([header_value]) if address]
    if len(addresses) != 1:
        raise ValueError(f"{role} must hold exactly one address: {header_value!r}")
    address = addresses[0]
    if not address.isascii():
        raise ValueError(f"{role} address is not ASCII (SMTPUTF8 is not supported): {address!r}")
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{role} address is malformed: {address!r}") from exc
    return address


class SmtpEmailSender:
    """`EmailSender` over an SMTP relay. `security`: "none", "starttls" (required) or "tls" (implicit)."""

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        security: Security = "starttls",
        username: str | None = None,
        password: SecretStr | str | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float = 30.0,
        deadline: float = 60.0,
        local_hostname: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        name: str = "smtp",
        max_idle_connections: int = 8,
        idle_seconds: float = 30.0,
    ) -> None:
        if min(connect_timeout, command_timeout, deadline) <= 0:
            raise ValueError("timeouts and the deadline must be positive")
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"unknown security {security!r}")
        self.name = name
        self.host = host
        self.port = port
        self.security: Security = security
        self._username = username
        self._password = password if isinstance(password, SecretStr) or password is None else SecretStr(password)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._deadline = deadline
        self._local_hostname = local_hostname
        self._tls_context = tls_context
        # Connections that delivered a message and can take the next (newest last). One that
        # failed in any way is closed instead: it may be mid-transaction.
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._max_idle = max_idle_connections
        self._idle_seconds = idle_seconds

    def __repr__(self) -> str:
        return f"SmtpEmailSender(name={self.name!r}, host={self.host!r}, port={self.port}, security={self.security!r})"

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client, _since in idle:
            await self._quit(client)

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and now - since < self._idle_seconds:
                return client
            client.close()
        return None

    async def _keep_or_quit(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self._max_idle and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            await self._quit(client)

    def _new_client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host, port=self.port, timeout=self._command_timeout,
            use_tls=self.security == "tls", start_tls=self.security == "starttls",
            username=self._username,
            password=self._password.get_secret_value() if self._password is not None else None,
            local_hostname=self._local_hostname, tls_context=self._tls_context,
        )

    async def _begin(self, sender: str) -> aiosmtplib.SMTP:
        """A connection on which MAIL FROM was accepted: an idle one if the server still takes it,
        else a new one. An idle connection the server has since closed (or closes with a 421) has
        sent nothing of this message, so moving to a new one is safe."""
        client = self._take_idle()
        if client is not None:
            try:
                await client.mail(sender)
                return client
            except (aiosmtplib.SMTPServerDisconnected, OSError):
                client.close()
            except aiosmtplib.SMTPResponseException as exc:
                client.close()
                if exc.code != 421:
                    raise
            except BaseException:  # cancelled, or the deadline: leave no connection behind
                client.close()
                raise
        client = self._new_client()
        try:
            await client.connect(timeout=self._connect_timeout)
            await client.mail(sender)
        except BaseException:
            client.close()
            raise
        return client

    async def send(self, message: OutgoingEmail) -> SentEmail:
        mime = build_mime(message)
        message_id = str(mime["Message-ID"])
        try:
            sender = _single_address(message.sender, role="From")
            recipient = _single_address(message.to, role="To")
        except ValueError as exc:
            raise ProviderRejectedError(f"{self.name}: {exc}", provider=self.name, error_kind="invalid_address",
                                        code="invalid_address") from None
        content = mime.as_bytes(policy=_POLICY)
        if self._local_hostname is None:  # looked up once per sender, not once per message
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        phase: Phase = "connect"
        failure: ProviderError | None = None
        client: aiosmtplib.SMTP | None = None
        try:
            async with asyncio.timeout(self._deadline):
                client = await self._begin(sender)  # `_begin` closes what it could not use
                phase = "envelope"
                await client.rcpt(recipient)
                phase = "data"
                reply = await client.data(content)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            refused_mail = isinstance(exc, aiosmtplib.SMTPSenderRefused)
            failure = self._translate(exc, "envelope" if refused_mail else phase)
        except BaseException:  # cancelled: leave no connection behind
            if client is not None:
                client.close()
            raise
        if failure is not None:
            if client is not None:
                client.close()
            raise failure  # raised outside the `except`: nothing of the exchange is chained
        assert client is not None
        await self._keep_or_quit(client)
        return SentEmail(message_id=message_id, reply=reply.message)

    async def _quit(self, client: aiosmtplib.SMTP) -> None:
        """The message is accepted; QUIT is a courtesy whose failure changes nothing."""
        try:
            async with asyncio.timeout(self._command_timeout):
                await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            client.close()

    # ---- translation -------------------------------------------------------------------------

    def _translate(self, exc: BaseException, phase: Phase) -> ProviderError:
        code, server_text = _reply_of(exc)
        if code is not None and 500 <= code < 600:
            return ProviderRejectedError(self._describe(f"SMTP {code} during {phase}", server_text),
                                         provider=self.name, error_kind="smtp_permanent", code=str(code))
        if code is not None and 400 <= code < 500:
            return ProviderUnavailableError(self._describe(f"SMTP {code} during {phase}", server_text),
                                            provider=self.name, outcome="not_processed", code=str(code))
        if isinstance(exc, aiosmtplib.SMTPException) and not isinstance(exc, OSError | TimeoutError):
            # e.g. STARTTLS or AUTH required by our settings but not offered by the server
            return ProviderRejectedError(self._describe(f"cannot proceed during {phase}", server_text),
                                         provider=self.name, error_kind="smtp_configuration")
        outcome: Literal["not_processed", "unknown"] = "unknown" if phase == "data" else "not_processed"
        what = "no answer in time" if isinstance(exc, TimeoutError) else f"connection failed ({type(exc).__name__})"
        suffix = "; outcome unknown" if outcome == "unknown" else "; the message was not sent"
        return ProviderUnavailableError(f"{self.name}: {what} during {phase}{suffix}", provider=self.name,
                                        outcome=outcome, timed_out=isinstance(exc, TimeoutError) and phase != "connect")

    def _describe(self, summary: str, server_text: str) -> str:
        text = _redacted(server_text, [self._password.get_secret_value() if self._password else ""])
        return f"{self.name}: {summary}: {text}" if text else f"{self.name}: {summary}"


def _reply_of(exc: BaseException) -> tuple[int | None, str]:
    """The SMTP reply code and text an exception carries (the first refusal for several recipients)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code, " ".join(str(exc.message).split())[:300]
    if isinstance(exc, aiosmtplib.SMTPException):
        return None, " ".join(str(exc.message).split())[:300]
    return None, ""


def _redacted(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
