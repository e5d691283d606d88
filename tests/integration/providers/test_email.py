"""The SMTP adapter against the sandbox's SMTP sink, on loopback.

Promise 2 (notifications carry a stable id, so a redelivery is detectable): the sink counts
deliveries per Message-ID. Promise 4 (a failing provider is seen as such): every injected SMTP
fault becomes the error class and outcome the retry policy needs, judged by what the sink recorded.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from seawall.notifications.rendering import render
from seawall.providers.email import OutgoingEmail, SmtpEmailSender
from seawall.providers.errors import ProviderRejectedError, ProviderUnavailableError
from seawall.sandbox.server import SandboxServer
from seawall.sandbox.smtp import SmtpFaultConfig, SmtpSink

SENDER = "Seawall <no-reply@seawall.invalid>"


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    """The shared `sink` is the sandbox's SMTP sink."""
    return {"smtp_port": 0}


def sender_for(sink: SmtpSink, **overrides: object) -> SmtpEmailSender:
    options: dict[str, object] = {"host": sink.host, "port": sink.port, "security": "none",
                                  "local_hostname": "client.test", "connect_timeout": 2.0,
                                  "command_timeout": 2.0, "deadline": 5.0}
    return SmtpEmailSender(**(options | overrides))  # type: ignore[arg-type]


def message(message_id: str = "<ntf_1@seawall.invalid>", to: str = "ada@example.com") -> OutgoingEmail:
    rendered = render("payment_receipt", {"email": to, "payment_id": "pay_1", "amount": "20.00 USD",
                                          "description": "Pro <plan>"})
    return OutgoingEmail(sender=SENDER, to=to, subject=rendered.subject, text=rendered.text, html=rendered.html,
                         message_id=message_id, headers={"X-Seawall-Notification": "ntf_1"})


async def test_a_message_is_delivered_once_with_its_message_id_as_text_and_html(sink: SmtpSink) -> None:
    sent = await sender_for(sink).send(message())

    assert sent.message_id == "<ntf_1@seawall.invalid>" and "queued as" in sent.reply
    (received,) = sink.messages
    assert received.message_id == "<ntf_1@seawall.invalid>"
    assert received.mail_from == "no-reply@seawall.invalid" and received.rcpt_tos == ("ada@example.com",)
    assert received.message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in received.message.iter_parts()] == ["text/plain", "text/html"]
    assert received.subject == "Your receipt: 20.00 USD"
    assert received.message["X-Seawall-Notification"] == "ntf_1" and received.message["Date"] is not None
    assert "Pro <plan>" in (received.body("plain") or "")
    assert "Pro &lt;plan&gt;" in (received.body("html") or "")
    assert sink.deliveries_by_message_id == {"<ntf_1@seawall.invalid>": 1} and sink.duplicates() == {}


async def test_a_message_id_without_angle_brackets_gets_them(sink: SmtpSink) -> None:
    sent = await sender_for(sink).send(message("ntf_2@seawall.invalid"))
    assert sent.message_id == "<ntf_2@seawall.invalid>" == sink.messages[0].message_id


async def test_a_text_only_message_is_single_part(sink: SmtpSink) -> None:
    await sender_for(sink).send(OutgoingEmail(sender=SENDER, to="ada@example.com", subject="Hi", text="Hello é",
                                              message_id="<ntf_t@seawall.invalid>"))
    (received,) = sink.messages
    assert received.message.get_content_type() == "text/plain" and received.body() == "Hello é\n"


async def test_a_resend_of_the_same_message_id_is_counted_as_a_duplicate(sink: SmtpSink) -> None:
    sender = sender_for(sink)
    await sender.send(message())
    await sender.send(message())
    await sender.send(message("<ntf_other@seawall.invalid>"))

    assert sink.deliveries_by_message_id["<ntf_1@seawall.invalid>"] == 2
    assert sink.duplicates() == {"<ntf_1@seawall.invalid>": 2}


# ---- faults → error class and outcome ---------------------------------------------------------

async def test_a_451_is_transient_and_the_message_was_not_accepted(sink: SmtpSink) -> None:
    sink.set_faults(error_451_rate=1.0)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sender_for(sink).send(message())
    assert caught.value.outcome == "not_processed" and caught.value.code == "451"
    assert sink.messages == [] and sink.outcomes["error_451"] == 1


async def test_a_bounce_recipient_is_refused_permanently(sink: SmtpSink) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        await sender_for(sink).send(message(to="bounce-ada@example.com"))
    assert caught.value.code == "550" and "mailbox unavailable" in caught.value.message
    assert sink.messages == [] and sink.outcomes["bounced"] == 1
    await sender_for(sink).send(message(to="ada@example.com"))  # other recipients still get mail
    assert len(sink.messages) == 1


async def test_an_injected_550_is_permanent(sink: SmtpSink) -> None:
    sink.set_faults(error_550_rate=1.0)
    with pytest.raises(ProviderRejectedError, match="550"):
        await sender_for(sink).send(message())
    assert sink.messages == []


async def test_a_lost_reply_to_data_is_unknown_although_the_sink_took_the_message(sink: SmtpSink) -> None:
    sink.set_faults(lost_response_rate=1.0)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sender_for(sink).send(message())
    assert caught.value.outcome == "unknown"
    assert len(sink.messages) == 1  # accepted: the outcome really was unknown to the client

    sink.set_faults()
    await sender_for(sink).send(message())  # the retry the caller makes on "unknown"
    assert sink.duplicates() == {"<ntf_1@seawall.invalid>": 2}  # ... is visible as a redelivery


async def test_a_hang_after_data_is_unknown(sink: SmtpSink) -> None:
    sink.set_faults(hang_rate=1.0)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sender_for(sink, command_timeout=0.2).send(message())
    assert caught.value.outcome == "unknown"
    assert sink.messages == [] and sink.outcomes["hang"] == 1


async def test_stopping_the_sink_ends_a_hanging_transaction() -> None:
    sink = SmtpSink(faults={"hang_rate": 1.0})
    await sink.start()
    sending = asyncio.create_task(sender_for(sink, command_timeout=30.0, deadline=30.0).send(message()))
    async with asyncio.timeout(5):
        while sink.outcomes["hang"] == 0:
            await asyncio.sleep(0.01)
    await sink.stop()
    with pytest.raises(ProviderUnavailableError) as caught:
        await asyncio.wait_for(sending, timeout=5)
    assert caught.value.outcome == "unknown" and sink.messages == []


async def test_the_total_deadline_after_data_is_unknown(sink: SmtpSink) -> None:
    sink.set_faults(hang_rate=1.0)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sender_for(sink, command_timeout=5.0, deadline=0.3).send(message())
    assert caught.value.outcome == "unknown"


async def test_latency_delays_but_delivers(sink: SmtpSink) -> None:
    sink.set_faults(latency_ms=20, latency_jitter_ms=10, seed=3)
    await sender_for(sink).send(message())
    assert len(sink.messages) == 1


async def test_an_outage_is_a_421_before_anything_was_sent_and_ends_when_cleared(sink: SmtpSink) -> None:
    sink.set_faults(outage_seconds=60)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sender_for(sink).send(message())
    assert caught.value.outcome == "not_processed" and caught.value.code == "421"
    assert sink.messages == [] and sink.outcomes["outage"] == 1

    sink.set_faults()
    await sender_for(sink).send(message())
    assert len(sink.messages) == 1


async def test_a_refused_connection_is_not_processed() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = SmtpEmailSender(host="127.0.0.1", port=port, security="none", local_hostname="client.test")
    with pytest.raises(ProviderUnavailableError) as caught:
        await sender.send(message())
    assert caught.value.outcome == "not_processed"


async def test_a_server_that_never_greets_is_a_connect_timeout_and_not_processed() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # and say nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sender = SmtpEmailSender(host="127.0.0.1", port=port, security="none", local_hostname="client.test",
                                 connect_timeout=0.2)
        with pytest.raises(ProviderUnavailableError) as caught:
            await sender.send(message())
        assert caught.value.outcome == "not_processed"
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_starttls_required_but_not_offered_is_a_configuration_error(sink: SmtpSink) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        await sender_for(sink, security="starttls").send(message())
    assert caught.value.error_kind == "smtp_configuration"
    assert sink.messages == []


# ---- authentication and secrets ---------------------------------------------------------------

async def test_auth_succeeds_with_the_right_password_and_a_refusal_never_shows_it() -> None:
    password = "pw-very-secret-42"
    async with SmtpSink(credentials={"relay-user": password}) as sink:
        await sender_for(sink, username="relay-user", password=password).send(message())
        assert len(sink.messages) == 1

        wrong = sender_for(sink, username="relay-user", password="pw-wrong-but-secret")
        with pytest.raises(ProviderRejectedError) as caught:
            await wrong.send(message())
        assert caught.value.code == "535"
        assert "pw-wrong-but-secret" not in str(caught.value) + repr(caught.value) + repr(wrong)
        assert caught.value.__cause__ is None and caught.value.__context__ is None


async def test_invalid_addresses_are_refused_and_a_bad_message_id_is_a_programming_error(sink: SmtpSink) -> None:
    sender = sender_for(sink)
    with pytest.raises(ProviderRejectedError) as caught:
        await sender.send(message(to="not an address"))
    assert caught.value.code == "invalid_address"
    with pytest.raises(ValueError, match="Message-ID"):
        await sender.send(message("no-at-sign"))
    with pytest.raises(ValueError, match="header"):
        await sender.send(OutgoingEmail(sender=SENDER, to="ada@example.com", subject="s", text="t",
                                        message_id="<a@b>", headers={"Bcc": "eve@example.com"}))
    assert sink.messages == []


# ---- the sink inside the sandbox ---------------------------------------------------------------

async def test_the_sandbox_runs_the_sink_and_shows_deliveries_over_http() -> None:
    async with SandboxServer(smtp_port=0) as sandbox, httpx.AsyncClient(base_url=sandbox.base_url) as admin:
        assert sandbox.smtp is not None
        sender = SmtpEmailSender(host=sandbox.host, port=sandbox.smtp.port, security="none",
                                 local_hostname="client.test")
        await sender.send(message())
        await sender.send(message())

        listed = (await admin.get("/_sandbox/smtp/messages", params={"message_id": "<ntf_1@seawall.invalid>"})).json()
        assert listed["count"] == 2 and listed["duplicates"] == {"<ntf_1@seawall.invalid>": 2}
        assert listed["data"][0]["rcpt_tos"] == ["ada@example.com"]

        configured = await admin.post("/_sandbox/smtp/faults", json={"error_451_rate": 1.0})
        assert configured.status_code == 200 and configured.json()["faults"]["error_451_rate"] == 1.0
        with pytest.raises(ProviderUnavailableError):
            await sender.send(message())
        assert (await admin.post("/_sandbox/smtp/faults", json={"error_451_rate": 0.7, "hang_rate": 0.7})
                ).status_code == 422

        await admin.post("/_sandbox/reset")
        assert sandbox.smtp.messages == [] and sandbox.smtp.duplicates() == {}


def test_fault_rates_must_fit_in_one() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        SmtpFaultConfig(error_451_rate=0.6, lost_response_rate=0.6)


async def test_messages_in_a_row_share_one_connection(sink: SmtpSink) -> None:
    sender = sender_for(sink)
    for number in range(3):
        await sender.send(message(f"<ntf_{number}@seawall.invalid>"))
    await sender.aclose()
    assert len(sink.messages) == 3 and not sink.mailbox.duplicates()
    assert sink.mailbox.connections_accepted == 1


async def test_an_idle_connection_the_server_closed_is_replaced_and_the_message_goes_once(sink: SmtpSink) -> None:
    sender = sender_for(sink)
    await sender.send(message("<ntf_1@seawall.invalid>"))
    assert sink.drop_connections() == 1
    await asyncio.sleep(0.05)  # the close reaches the client
    await sender.send(message("<ntf_2@seawall.invalid>"))
    await sender.aclose()
    assert sink.mailbox.deliveries_by_message_id == {"<ntf_1@seawall.invalid>": 1, "<ntf_2@seawall.invalid>": 1}
    assert sink.mailbox.connections_accepted == 2


async def test_a_connection_that_failed_is_not_reused(sink: SmtpSink) -> None:
    sender = sender_for(sink)
    await sender.send(message("<ntf_1@seawall.invalid>"))
    sink.set_faults(error_451_rate=1.0)
    with pytest.raises(ProviderUnavailableError):
        await sender.send(message("<ntf_2@seawall.invalid>"))
    sink.set_faults()
    await sender.send(message("<ntf_2@seawall.invalid>"))
    await sender.aclose()
    assert sink.mailbox.connections_accepted == 2  # the one that saw the 451 was closed
    assert sink.mailbox.deliveries_by_message_id["<ntf_2@seawall.invalid>"] == 1


async def test_an_outage_on_a_reused_connection_is_not_processed(sink: SmtpSink) -> None:
    sender = sender_for(sink)
    await sender.send(message("<ntf_1@seawall.invalid>"))
    sink.set_faults(outage_seconds=60)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sender.send(message("<ntf_2@seawall.invalid>"))
    assert caught.value.outcome == "not_processed" and caught.value.code == "421"
    await sender.aclose()
    assert [m.message_id for m in sink.messages] == ["<ntf_1@seawall.invalid>"]
