"""Promise: every authentication event leaves an audit row and a `audit.<action>` log line — a login
refused (known or unknown email), a lockout (once per locked email or IP per lock period, however many
requests it refuses), a password reset requested and confirmed, a session revoked — with the request
id and client IP, and never a password or token. Read through `GET /admin/audit-events`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from seawall.config import Settings
from tests.integration.accounts.test_password_reset import NEW_PASSWORD, confirm, mailed_token
from tests.integration.accounts.wire import (
    STRONG_PASSWORD,
    bearer,
    log_in,
    new_email,
    request_reset,
    sign_up,
    token_for,
)
from tests.integration.admin.operators import audit_events
from tests.support.apps import StartApp, asgi_client
from tests.support.logs import captured_logs
from tests.support.workers import RunJobs


def only(events: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    matching = [e for e in events if all(e.get(k) == v for k, v in fields.items())]
    assert len(matching) == 1, (fields, events)
    return matching[0]


async def test_a_refused_login_is_audited_for_a_known_and_an_unknown_email(started_app: StartApp) -> None:
    known, unknown = new_email("known"), new_email("unknown")
    async with asgi_client(await started_app(), ip="192.0.2.44") as http:
        user = (await sign_up(http, known)).json()["user"]
        with capture_logs() as logs:
            wrong = await log_in(http, known, "not the password at all")
            nobody = await log_in(http, unknown, "not the password at all")
        assert wrong.status_code == nobody.status_code == 401
        events = await audit_events(http, action="auth.login_failed")

    first = only(events, request_id=wrong.headers["x-request-id"])
    assert (first["actor_type"], first["actor"], first["outcome"]) == ("user", user["id"], "invalid_credentials")
    assert first["client_ip"] == "192.0.2.44" and first["details"] == {"email": known}
    second = only(events, request_id=nobody.headers["x-request-id"])
    assert (second["actor_type"], second["actor"], second["details"]) == ("anonymous", None, {"email": unknown})
    lines = [line for line in logs if line["event"] == "audit.auth.login_failed"]
    assert len(lines) == 2 and all(line["log_level"] == "warning" for line in lines)
    assert "not the password at all" not in repr(logs) + repr(events)


@pytest.mark.parametrize("quota", ["per-email", "per-ip"])
async def test_a_lockout_is_audited_once_per_locked_partition(started_app: StartApp, quota: str) -> None:
    limits = ({"rate_limit_login_per_email": "2/minute"} if quota == "per-email"
              else {"rate_limit_login_per_ip": "2/minute"})
    address = new_email("target")
    async with asgi_client(await started_app(**limits), ip="192.0.2.45") as http:
        statuses = [(await log_in(http, address, f"guess number {n}")).status_code for n in range(6)]
        assert statuses == [401, 401, 429, 429, 429, 429]
        locked = await audit_events(http, action="auth.login_locked")
        failed = await audit_events(http, action="auth.login_failed")
    [event] = locked
    assert event["outcome"] == "rate_limited" and event["client_ip"] == "192.0.2.45"
    assert event["route"] == "POST /v1/sessions"
    assert event["details"]["policy"].startswith("login-email" if quota == "per-email" else "login-ip")
    assert event["details"].get("email") == (address if quota == "per-email" else None)
    assert len(failed) == 2  # the refused requests never reached the password check


async def test_reset_requested_and_confirmed_and_sessions_revoked_are_audited(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs
) -> None:
    address = new_email("resetter")
    user = (await sign_up(clocked_client, address)).json()["user"]
    token = await token_for(clocked_client, address)
    logged_out = await clocked_client.delete("/v1/sessions/current", headers=bearer(token))
    assert logged_out.status_code == 204
    reset_token = await mailed_token(clocked_client, settings, run_jobs, address)
    confirmed = await confirm(clocked_client, reset_token)
    assert confirmed.status_code == 200, confirmed.text
    nobody = new_email("nobody")
    assert (await request_reset(clocked_client, nobody)).status_code == 202

    events = await audit_events(clocked_client)
    revoked = only(events, action="auth.session_revoked")
    assert (revoked["actor"], revoked["details"]["reason"]) == (user["id"], "logout")
    assert revoked["request_id"] == logged_out.headers["x-request-id"]
    requests = [e for e in events if e["action"] == "auth.password_reset_requested"]
    assert sorted(e["details"]["email"] for e in requests) == sorted([address, nobody])  # any email: no enumeration
    done = only(events, action="auth.password_reset_confirmed")
    assert (done["actor"], done["outcome"], done["request_id"]) == (user["id"], "ok", confirmed.headers["x-request-id"])
    text = repr(events)
    assert token not in text and reset_token not in text and NEW_PASSWORD not in text and STRONG_PASSWORD not in text


async def test_a_refused_reset_confirmation_changes_nothing_and_records_no_confirmation(
    client: httpx.AsyncClient
) -> None:
    refused = await confirm(client, "x" * 43)
    assert refused.status_code == 400
    assert await audit_events(client, action="auth.password_reset_confirmed") == []


async def test_a_password_change_and_a_refused_one_are_audited_without_the_passwords(
    client: httpx.AsyncClient
) -> None:
    address = new_email("changer")
    user = (await sign_up(client, address)).json()["user"]
    token = await token_for(client, address)
    with captured_logs() as logs:
        refused = await client.post("/v1/me/password", headers=bearer(token), json={
            "current_password": "Pw-marker-wrong-current", "new_password": "Pw-marker-new-one-1234"})
        changed = await client.post("/v1/me/password", headers=bearer(token), json={
            "current_password": STRONG_PASSWORD, "new_password": "Pw-marker-new-one-1234"})
    assert (refused.status_code, changed.status_code) == (403, 200), changed.text
    events = await audit_events(client)
    failed = only(events, action="auth.password_change_failed")
    assert (failed["actor"], failed["outcome"], failed["request_id"]) == (
        user["id"], "invalid_current_password", refused.headers["x-request-id"])
    done = only(events, action="auth.password_changed")
    assert (done["actor"], done["outcome"], done["request_id"]) == (user["id"], "ok", changed.headers["x-request-id"])
    for text in (repr(events), logs.text, refused.text, changed.text):
        assert "Pw-marker" not in text and STRONG_PASSWORD not in text and token not in text
