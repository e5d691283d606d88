"""The Twilio-style SMS adapter against the sandbox's fake, on loopback.

Promise 2: a retry with the same idempotency key after an unknown outcome sends one text (at the
fake; real Twilio has no such key). Promise 4: every injected fault becomes the error class and
outcome the retry policy needs, judged by what the fake recorded.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from seawall.providers.errors import ProviderRejectedError, ProviderUnavailableError
from seawall.providers.sms import TwilioSmsSender
from seawall.sandbox.server import SandboxServer
from seawall.sandbox.sms import create_sms_app

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-token-very-secret"
FROM = "+15005550006"
TO = "+14155550100"


@pytest.fixture
def sandbox_options() -> dict[str, Any]:
    return {"sms_accounts": {ACCOUNT_SID: AUTH_TOKEN}}


@pytest.fixture
async def sms(sandbox: SandboxServer) -> AsyncIterator[TwilioSmsSender]:
    async with TwilioSmsSender(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM,
                               api_base=sandbox.base_url, connect_timeout=2, read_timeout=2, deadline=5) as sender:
        yield sender


async def test_a_text_is_sent_and_recorded(sandbox: SandboxServer, sms: TwilioSmsSender) -> None:
    sent = await sms.send_sms(to=TO, body="Your receipt: 20.00 USD", idempotency_key="ntf_1")

    assert sent.sid.startswith("SM") and sent.status == "queued" and sent.to == TO and not sent.replayed
    record = sandbox.state.sms.ledger.messages[sent.sid]
    assert (record.to, record.from_, record.body, record.idempotency_key) == (TO, FROM, "Your receipt: 20.00 USD",
                                                                              "ntf_1")


async def test_a_replay_with_the_same_key_returns_the_same_sid_and_sends_nothing_new(
        sandbox: SandboxServer, sms: TwilioSmsSender) -> None:
    first = await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_2")
    again = await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_2")

    assert again.sid == first.sid and again.replayed
    assert len(sandbox.state.sms.ledger.with_idempotency_key("ntf_2")) == 1
    assert sandbox.state.sms.requests.outcomes["replayed"] == 1


async def test_the_same_key_with_another_text_is_refused(sandbox: SandboxServer, sms: TwilioSmsSender) -> None:
    await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_3")
    with pytest.raises(ProviderRejectedError) as caught:
        await sms.send_sms(to=TO, body="something else", idempotency_key="ntf_3")
    assert caught.value.http_status == 422
    assert len(sandbox.state.sms.ledger.messages) == 1


@pytest.mark.parametrize(("to", "code"), [("14155550100", "21211"), ("+15005550001", "21211"),
                                          ("+15005550004", "21610"), ("+15005550009", "21614")])
async def test_an_invalid_or_unreachable_number_is_refused_permanently(
        sandbox: SandboxServer, sms: TwilioSmsSender, to: str, code: str) -> None:
    with pytest.raises(ProviderRejectedError) as caught:
        await sms.send_sms(to=to, body="hello", idempotency_key=f"ntf_bad_{code}_{to}")
    assert caught.value.http_status == 400 and caught.value.code == code
    assert sandbox.state.sms.ledger.messages == {}


async def test_bad_credentials_are_refused_and_never_shown(sandbox: SandboxServer) -> None:
    async with TwilioSmsSender(account_sid=ACCOUNT_SID, auth_token="wrong-token-also-secret", from_number=FROM,
                               api_base=sandbox.base_url) as sender:
        with pytest.raises(ProviderRejectedError) as caught:
            await sender.send_sms(to=TO, body="hello", idempotency_key="ntf_auth")
        assert caught.value.http_status == 401 and caught.value.code == "20003"
        assert "wrong-token-also-secret" not in str(caught.value) + repr(caught.value) + repr(sender)


# ---- faults → error class and outcome ---------------------------------------------------------

@pytest.mark.parametrize("fault", ["error_500_rate", "error_503_rate"])
async def test_a_5xx_is_unknown(sandbox: SandboxServer, sms: TwilioSmsSender, fault: str) -> None:
    sandbox.set_sms_faults({fault: 1.0})
    with pytest.raises(ProviderUnavailableError) as caught:
        await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_5xx")
    assert caught.value.outcome == "unknown" and caught.value.http_status in (500, 503)


async def test_a_429_is_not_processed_and_says_when_to_retry(sandbox: SandboxServer, sms: TwilioSmsSender) -> None:
    sandbox.set_sms_faults(error_429_rate=1.0, retry_after_seconds=3)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_429")
    assert caught.value.outcome == "not_processed" and caught.value.retry_after == 3
    assert sandbox.state.sms.ledger.messages == {}


async def test_a_hang_is_a_read_timeout_with_an_unknown_outcome(sandbox: SandboxServer) -> None:
    sandbox.set_sms_faults(hang_rate=1.0)
    async with TwilioSmsSender(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM,
                               api_base=sandbox.base_url, read_timeout=0.2) as sender:
        with pytest.raises(ProviderUnavailableError) as caught:
            await sender.send_sms(to=TO, body="hello", idempotency_key="ntf_hang")
    assert caught.value.outcome == "unknown"
    assert sandbox.state.sms.ledger.messages == {}


async def test_a_lost_response_is_unknown_and_the_retry_is_a_replay(sandbox: SandboxServer,
                                                                    sms: TwilioSmsSender) -> None:
    sandbox.set_sms_faults(lost_response_rate=1.0)
    with pytest.raises(ProviderUnavailableError) as caught:
        await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_lost")
    assert caught.value.outcome == "unknown"
    (recorded,) = sandbox.state.sms.ledger.messages.values()  # the fake did send it

    sandbox.set_sms_faults()
    retried = await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_lost")
    assert retried.sid == recorded.sid and retried.replayed
    assert len(sandbox.state.sms.ledger.messages) == 1


async def test_a_refused_connection_is_not_processed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with TwilioSmsSender(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM,
                               api_base=f"http://127.0.0.1:{port}") as sender:
        with pytest.raises(ProviderUnavailableError) as caught:
            await sender.send_sms(to=TO, body="hello", idempotency_key="ntf_refused")
    assert caught.value.outcome == "not_processed"


async def test_sms_faults_are_apart_from_payments_faults(sandbox: SandboxServer, sms: TwilioSmsSender) -> None:
    sandbox.set_faults(error_500_rate=1.0)
    assert (await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_apart")).sid.startswith("SM")
    assert sandbox.state.requests.outcomes == {}


# ---- steering over HTTP, and the fake on its own ----------------------------------------------

async def test_the_sandbox_shows_texts_and_takes_sms_faults_over_http(sandbox: SandboxServer,
                                                                      sms: TwilioSmsSender) -> None:
    sent = await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_http")
    async with httpx.AsyncClient(base_url=sandbox.base_url) as admin:
        listed = (await admin.get("/_sandbox/sms/messages", params={"to": TO})).json()
        assert listed["count"] == 1 and listed["data"][0]["sid"] == sent.sid
        assert (await admin.post("/_sandbox/sms/faults", json={"error_503_rate": 1.0})).status_code == 200
        with pytest.raises(ProviderUnavailableError):
            await sms.send_sms(to=TO, body="hello", idempotency_key="ntf_http_2")
        assert (await admin.get("/_sandbox/sms/faults")).json()["faults"]["error_503_rate"] == 1.0
        fetched = await admin.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sent.sid}.json",
                                  auth=(ACCOUNT_SID, AUTH_TOKEN))
        assert fetched.status_code == 503  # the fault applies to reads as well


async def test_the_fake_serves_on_its_own_as_an_asgi_app() -> None:
    transport = httpx.ASGITransport(app=create_sms_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sms.test") as http:
        sender = TwilioSmsSender(account_sid=ACCOUNT_SID, auth_token="any-token", from_number="Seawall",
                                 api_base="http://sms.test", http_client=http)
        sent = await sender.send_sms(to=TO, body="hello", idempotency_key="ntf_asgi")
        fetched = await http.get(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sent.sid}.json",
                                 auth=(ACCOUNT_SID, "any-token"))
        assert fetched.status_code == 200 and fetched.json()["from"] == "Seawall"
        other_account = await http.get(f"/2010-04-01/Accounts/AC{'2' * 32}/Messages/{sent.sid}.json",
                                       auth=(ACCOUNT_SID, "any-token"))
        assert other_account.status_code == 401
