"""GET /v1/notifications: the owner's notifications only, newest first, paged by an opaque cursor
that neither repeats nor skips a row (ties on `created_at` included), and showing what happened to
each (status, attempts, last error)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from seawall.kit.clock import FakeClock
from seawall.kit.pagination import encode_cursor
from seawall.notifications import service
from seawall.notifications.messages import PaymentReceipt
from seawall.runtime import Runtime
from seawall.sandbox.smtp import SmtpSink
from tests.integration.accounts.wire import assert_error
from tests.integration.notifications.wire import User, new_user, pay, put_preferences
from tests.support.workers import RunJobs

OUT_FIELDS = {"id", "event_type", "channel", "status", "attempts", "last_error", "created_at", "sent_at"}


async def list_all(client: httpx.AsyncClient, user: User, *, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Follow the cursor to the end; every row seen, and how many pages it took."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/notifications", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        rows.extend(page["data"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages


async def test_the_list_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/notifications"), 401)
    assert_error(await client.get("/v1/notifications", headers={"Authorization": "Bearer not-a-token"}), 401)


async def test_a_user_sees_only_their_own_notifications(
    client: httpx.AsyncClient, run_jobs: RunJobs,
) -> None:
    ada, bob = await new_user(client), await new_user(client)
    await run_jobs()

    seen = {}
    for user in (ada, bob):
        response = await client.get("/v1/notifications", headers=user.headers)
        assert response.status_code == 200, response.text
        (welcome,) = response.json()["data"]
        assert set(welcome) == OUT_FIELDS and response.json()["next_cursor"] is None
        assert (welcome["event_type"], welcome["channel"], welcome["status"], welcome["attempts"]) == (
            "welcome", "email", "sent", 1)
        seen[user.id] = welcome["id"]
    assert seen[ada.id] != seen[bob.id]


async def test_pages_run_newest_first_without_duplicates_or_gaps(
    client: httpx.AsyncClient, runtime: Runtime, fake_clock: FakeClock,
) -> None:
    user = await new_user(client)
    other = await new_user(client)
    # Groups of notifications created at the same instant, so page boundaries fall inside ties.
    for group, size in enumerate((3, 1, 4, 2)):
        fake_clock.advance(1.0)
        async with runtime.database.transaction() as session:
            for i in range(size):
                await service.notify(session, PaymentReceipt(user_id=user.id, payment_id=f"pay_list_{group}_{i}"),
                                     clock=fake_clock)
                await service.notify(session, PaymentReceipt(user_id=other.id, payment_id=f"pay_other_{group}_{i}"),
                                     clock=fake_clock)

    everything, _ = await list_all(client, user, limit=100)
    assert len(everything) == 1 + 3 + 1 + 4 + 2
    keys = [(row["created_at"], row["id"]) for row in everything]
    assert keys == sorted(keys, reverse=True) and everything[-1]["event_type"] == "welcome"
    for limit in (1, 2, 3, 4):
        paged, pages = await list_all(client, user, limit=limit)
        assert [row["id"] for row in paged] == [row["id"] for row in everything], limit
        assert pages == -(-len(everything) // limit)  # no empty last page


@pytest.mark.parametrize("limit", [0, 101, "many"])
async def test_an_out_of_range_limit_is_refused(client: httpx.AsyncClient, limit: int | str) -> None:
    user = await new_user(client)
    assert_error(await client.get("/v1/notifications", params={"limit": limit}, headers=user.headers), 422)


async def test_a_bad_cursor_is_a_400(client: httpx.AsyncClient, fake_clock: FakeClock) -> None:
    user = await new_user(client)
    for cursor in ("not-a-cursor", "!!!", encode_cursor(fake_clock.now(), "we_0123"),  # another resource's
                   encode_cursor(fake_clock.now().replace(tzinfo=None), "ntf_0123")):  # a naive time
        response = await client.get("/v1/notifications", params={"cursor": cursor}, headers=user.headers)
        assert_error(response, 400)
    assert_error(await client.get("/v1/notifications", params={"cursor": "x" * 201}, headers=user.headers), 422)


async def test_the_list_shows_status_attempts_and_last_error_as_they_happen(
    client: httpx.AsyncClient, sink: SmtpSink, fake_clock: FakeClock, run_jobs: RunJobs, run_retries: RunJobs,
) -> None:
    user = await new_user(client)
    await run_jobs()  # the welcome goes out
    assert (await put_preferences(client, user, ["email", "sms"])).status_code == 200  # SMS, but no phone
    fake_clock.advance(1.0)
    sink.set_faults(error_451_rate=1.0)
    await pay(client, user)

    await run_jobs()

    response = await client.get("/v1/notifications", headers=user.headers)
    receipt_a, receipt_b, welcome = response.json()["data"]
    receipts = {row["channel"]: row for row in (receipt_a, receipt_b)}
    assert receipt_a["created_at"] == receipt_b["created_at"] > welcome["created_at"]
    assert (welcome["status"], welcome["attempts"], welcome["last_error"]) == ("sent", 1, None)
    by_email, by_sms = receipts["email"], receipts["sms"]
    assert (by_email["status"], by_email["attempts"], by_email["sent_at"]) == ("pending", 1, None)
    assert "SMTP 451" in by_email["last_error"]
    assert (by_sms["status"], by_sms["attempts"], by_sms["sent_at"]) == ("failed", 1, None)
    assert by_sms["last_error"] == "channel sms cannot reach this user"

    sink.set_faults()
    await run_retries()

    rows = {row["id"]: row for row in (await client.get("/v1/notifications", headers=user.headers)).json()["data"]}
    by_email, by_sms = rows[by_email["id"]], rows[by_sms["id"]]
    assert (by_email["status"], by_email["attempts"], by_email["last_error"]) == ("sent", 2, None)
    assert by_email["sent_at"] is not None
    assert (by_sms["status"], by_sms["attempts"]) == ("failed", 1)  # failed is final
    assert [m.subject for m in sink.messages] == ["Welcome to Seawall", "Your receipt: 20.00 USD"]


