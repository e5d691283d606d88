"""What the accounts and idempotency tests send and check at the HTTP boundary."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

STRONG_PASSWORD = "correct horse battery staple"
ERROR_FIELDS = {"type", "message", "details"}


def new_key() -> str:
    return f"test-{uuid.uuid4().hex}"


def new_email(name: str = "user") -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}@example.com"


def assert_error(response: httpx.Response, status: int, error_type: str | None = None) -> dict[str, Any]:
    """Assert the one error shape, `{"error": {"type", "message", "details"?}}`; return the error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"type", "message"} <= set(error) <= ERROR_FIELDS, error
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["message"], str) and error["message"]
    if error_type is not None:
        assert error["type"] == error_type, error
    return dict(error)


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = STRONG_PASSWORD, *, key: str | None = None
) -> httpx.Response:
    return await client.post(
        "/v1/signups", json={"email": email, "password": password}, headers={"Idempotency-Key": key or new_key()}
    )


async def log_in(client: httpx.AsyncClient, email: str, password: str = STRONG_PASSWORD) -> httpx.Response:
    return await client.post("/v1/sessions", json={"email": email, "password": password})


async def token_for(client: httpx.AsyncClient, email: str, password: str = STRONG_PASSWORD) -> str:
    response = await log_in(client, email, password)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def request_reset(client: httpx.AsyncClient, email: str, *, key: str | None = None) -> httpx.Response:
    return await client.post(
        "/v1/password-resets", json={"email": email}, headers={"Idempotency-Key": key or new_key()}
    )
