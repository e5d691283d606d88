"""Password resets: no enumeration, a single-use expiring token mailed once, sessions revoked."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlalchemy import text, update

from seawall.config import Settings
from seawall.jobs import enqueue
from seawall.jobs.models import Job, JobStatus
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from tests.integration.accounts.wire import (
    assert_error,
    bearer,
    log_in,
    new_email,
    request_reset,
    sign_up,
    token_for,
)
from tests.support.workers import RunJobs

NEW_PASSWORD = "a brand new passphrase 42"
TOKEN_LINE = re.compile(r"^Your reset token: (\S+)\r?$", re.MULTILINE)


def outbox_messages(settings: Settings) -> list[EmailMessage]:
    """The password-reset messages in the development outbox (welcome mails are there too)."""
    directory: Path = settings.resolved_outbox_dir
    if not directory.exists():
        return []
    messages = []
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if message["Subject"] == "Reset your password":
            messages.append(message)
    return messages


def reset_token(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = TOKEN_LINE.search(body.get_content())
    assert match, body.get_content()
    return match.group(1)


async def confirm(client: httpx.AsyncClient, token: str, new_password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post("/v1/password-resets/confirm", json={"token": token, "new_password": new_password})


async def mailed_token(client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs, address: str) -> str:
    assert (await request_reset(client, address)).status_code == 202
    await run_jobs()
    messages = [m for m in outbox_messages(settings) if m["To"] == address]
    assert len(messages) == 1
    return reset_token(messages[0])


async def test_reset_request_answers_identically_for_known_and_unknown_emails(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs
) -> None:
    known = new_email("known")
    unknown = new_email("unknown")
    assert (await sign_up(clocked_client, known)).status_code == 201

    for_known = await request_reset(clocked_client, known)
    for_unknown = await request_reset(clocked_client, unknown)
    assert for_known.status_code == for_unknown.status_code == 202
    assert for_known.content == for_unknown.content

    await run_jobs()
    messages = outbox_messages(settings)
    assert [m["To"] for m in messages] == [known]
    assert messages[0]["Message-ID"]


async def test_mailed_token_sets_a_new_password_and_revokes_sessions(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs
) -> None:
    address = new_email()
    assert (await sign_up(clocked_client, address)).status_code == 201
    old_session = await token_for(clocked_client, address)
    # In use (so this process has cached its lookup): the reset must still end it at once.
    assert (await clocked_client.get("/v1/me", headers=bearer(old_session))).status_code == 200

    token = await mailed_token(clocked_client, settings, run_jobs, address)
    response = await confirm(clocked_client, token)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "password_changed"

    assert_error(await log_in(clocked_client, address), 401, "invalid_credentials")
    assert (await log_in(clocked_client, address, NEW_PASSWORD)).status_code == 201
    assert_error(await clocked_client.get("/v1/me", headers=bearer(old_session)), 401, "invalid_session")


async def test_reset_token_works_only_once(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs
) -> None:
    address = new_email()
    assert (await sign_up(clocked_client, address)).status_code == 201
    token = await mailed_token(clocked_client, settings, run_jobs, address)
    assert (await confirm(clocked_client, token)).status_code == 200
    assert_error(await confirm(clocked_client, token, "yet another passphrase"), 400, "invalid_reset_token")
    assert (await log_in(clocked_client, address, NEW_PASSWORD)).status_code == 201


async def test_confirmed_reset_retires_the_users_other_outstanding_tokens(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs
) -> None:
    address = new_email()
    assert (await sign_up(clocked_client, address)).status_code == 201
    assert (await request_reset(clocked_client, address)).status_code == 202
    assert (await request_reset(clocked_client, address)).status_code == 202
    await run_jobs()
    first, second = (reset_token(message) for message in outbox_messages(settings))
    assert first != second
    assert (await confirm(clocked_client, first)).status_code == 200
    assert_error(await confirm(clocked_client, second, "yet another passphrase"), 400, "invalid_reset_token")


async def test_expired_reset_token_is_refused(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs, fake_clock: FakeClock
) -> None:
    address = new_email()
    assert (await sign_up(clocked_client, address)).status_code == 201
    token = await mailed_token(clocked_client, settings, run_jobs, address)
    fake_clock.advance(settings.password_reset_ttl_minutes * 60)
    assert_error(await confirm(clocked_client, token), 400, "invalid_reset_token")
    assert (await log_in(clocked_client, address)).status_code == 201  # the old password still works


async def test_unknown_or_malformed_reset_token_is_refused(clocked_client: httpx.AsyncClient) -> None:
    assert_error(await confirm(clocked_client, "made-up-token"), 400, "invalid_reset_token")
    assert_error(await confirm(clocked_client, ""), 422, "validation_error")
    assert_error(await confirm(clocked_client, "made-up-token", "short"), 422, "validation_error")


async def test_database_stores_only_the_reset_tokens_digest(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs, runtime: Runtime
) -> None:
    address = new_email()
    assert (await sign_up(clocked_client, address)).status_code == 201
    token = await mailed_token(clocked_client, settings, run_jobs, address)

    async with runtime.database.transaction() as session:
        resets = (await session.execute(text("SELECT * FROM password_resets"))).mappings().all()
        jobs = (await session.execute(text("SELECT * FROM jobs"))).mappings().all()
    assert len(resets) == 1
    assert resets[0]["token_digest"] == hashlib.sha256(token.encode()).hexdigest()
    for row in [*resets, *jobs]:
        assert not any(token in str(value) for value in row.values())


async def test_running_the_reset_job_twice_sends_one_message_with_the_same_id_and_token(
    clocked_client: httpx.AsyncClient, settings: Settings, run_jobs: RunJobs, runtime: Runtime
) -> None:
    address = new_email()
    assert (await sign_up(clocked_client, address)).status_code == 201
    assert (await request_reset(clocked_client, address)).status_code == 202
    await run_jobs()
    [first] = outbox_messages(settings)

    # Redeliver: both jobs run again, as after a worker lost its lease right after sending (the
    # notification was sent but its completion never committed, so it is still pending).
    async with runtime.database.transaction() as session:
        requeued = await session.execute(
            update(Job)
            .where(Job.kind.in_(["accounts.send_password_reset", "notifications.send"]))
            .values(status=JobStatus.QUEUED, finished_at=None)
        )
        assert requeued.rowcount >= 2  # type: ignore[attr-defined]
        await session.execute(text("UPDATE notifications SET status = 'pending' WHERE event_type = 'password_reset'"))
    await run_jobs()
    async with runtime.database.transaction() as session:
        attempts = (await session.execute(text(
            "SELECT count(*) FROM job_attempts a JOIN jobs j ON j.id = a.job_id "
            "WHERE j.kind = 'accounts.send_password_reset'"))).scalar_one()
        resets = (await session.execute(text("SELECT count(*) FROM password_resets"))).scalar_one()
    assert attempts == 2  # it really ran twice
    assert resets == 1

    [second] = outbox_messages(settings)
    assert second["Message-ID"] == first["Message-ID"]
    assert reset_token(second) == reset_token(first)
    assert (await confirm(clocked_client, reset_token(second))).status_code == 200


async def test_a_reset_job_queued_under_its_former_kind_still_mails_one_token(
    clocked_client: httpx.AsyncClient, settings: Settings, runtime: Runtime, run_jobs: RunJobs,
    fake_clock: FakeClock,
) -> None:
    """Upgrading with jobs in the queue: `notifications.password_reset` (the kind's name before
    0.11) runs the same handler as `accounts.send_password_reset`."""
    address = new_email("queued-before-upgrade")
    assert (await sign_up(clocked_client, address)).status_code == 201
    async with runtime.database.transaction() as session:
        await enqueue(session, "notifications.password_reset", {"request_id": "pwr_before_upgrade", "email": address},
                      clock=fake_clock)
    await run_jobs()

    [message] = [m for m in outbox_messages(settings) if m["To"] == address]
    assert (await confirm(clocked_client, reset_token(message))).status_code == 200
