"""Promise 8 (observable), notifications: each message sent through a provider counts once as a call
of that provider, `smtp` or `sms`, by outcome (an SMS refused with 500 is an error, its retry a success)."""

from __future__ import annotations

import httpx
import pytest

from seawall.sandbox import SandboxServer
from seawall.sandbox.smtp import SmtpSink
from tests.integration.notifications.wire import PHONE, new_user, pay, put_preferences
from tests.support.catalogue import CatalogueDelta
from tests.support.workers import RunJobs

pytestmark = pytest.mark.backends("sqlite")  # the calls are the same on every backend


async def test_emails_and_texts_count_as_smtp_and_sms_calls(
    client: httpx.AsyncClient, sandbox: SandboxServer, sink: SmtpSink, run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    delta = CatalogueDelta({
        f"{provider} {outcome}": ("seawall_provider_calls_total", {"provider": provider, "outcome": outcome})
        for provider in ("smtp", "sms") for outcome in ("success", "error")
    })
    user = await new_user(client)
    assert (await put_preferences(client, user, ["email", "sms"], PHONE)).status_code == 200
    sandbox.set_sms_faults(error_500_rate=1.0)
    await pay(client, user)
    await run_jobs()  # the welcome and the receipt by email; the receipt's text refused

    assert delta.changes() == {"smtp success": 2, "smtp error": 0, "sms success": 0, "sms error": 1}
    sandbox.set_sms_faults()
    await run_retries()
    assert delta.changes() == {"smtp success": 2, "smtp error": 0, "sms success": 1, "sms error": 1}
    assert len(sink.messages) == 2
