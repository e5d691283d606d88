"""The Idempotency-Key header: required on creating POSTs, at most 255 printable ASCII characters."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.integration.accounts.wire import assert_error, new_email

Body = Callable[[], dict[str, str]]

ENDPOINTS = [
    pytest.param("/v1/signups", lambda: {"email": new_email(), "password": "long enough password"}, 201,
                 id="signups"),
    pytest.param("/v1/password-resets", lambda: {"email": new_email()}, 202, id="password-resets"),
]


@pytest.mark.parametrize(("path", "body", "created"), ENDPOINTS)
async def test_missing_key_is_400(client: httpx.AsyncClient, path: str, body: Body, created: int) -> None:
    assert_error(await client.post(path, json=body()), 400, "idempotency_key_invalid")
    assert_error(await client.post(path, json=body(), headers={"Idempotency-Key": ""}), 400,
                 "idempotency_key_invalid")


@pytest.mark.parametrize(("path", "body", "created"), ENDPOINTS)
async def test_key_of_256_characters_is_400_and_255_is_accepted(
    client: httpx.AsyncClient, path: str, body: Body, created: int
) -> None:
    too_long = await client.post(path, json=body(), headers={"Idempotency-Key": "k" * 256})
    assert_error(too_long, 400, "idempotency_key_invalid")
    longest = await client.post(path, json=body(), headers={"Idempotency-Key": "k" * 255})
    assert longest.status_code == created, longest.text


@pytest.mark.parametrize(("path", "body", "created"), ENDPOINTS)
@pytest.mark.parametrize("key", [b"tab\there", b"bell\x07", b"del\x7f", "caf\u00e9".encode()],
                         ids=["tab", "control", "delete", "non-ascii"])
async def test_non_printable_key_is_400(
    client: httpx.AsyncClient, path: str, body: Body, created: int, key: bytes
) -> None:
    response = await client.post(path, json=body(), headers={b"Idempotency-Key": key})
    assert_error(response, 400, "idempotency_key_invalid")


async def test_key_is_checked_before_anything_is_created(client: httpx.AsyncClient) -> None:
    email = new_email()
    body = {"email": email, "password": "long enough password"}
    assert_error(await client.post("/v1/signups", json=body), 400, "idempotency_key_invalid")
    # The refused request created no account: the same email signs up now.
    assert (await client.post("/v1/signups", json=body, headers={"Idempotency-Key": "k1"})).status_code == 201
