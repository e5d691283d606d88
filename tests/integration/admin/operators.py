"""Operator keys and the audit log as the admin tests use them."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from seawall.operator_keys import key_digest, new_operator_key
from tests.conftest import ADMIN_KEY


def operator_key(name: str, scope: str) -> tuple[str, str]:
    """A fresh key and its `SEAWALL_OPERATOR_KEYS` entry."""
    key = new_operator_key()
    return key, f"{name}:{scope}:{key_digest(key)}"


def keys_setting(*entries: str) -> SecretStr:
    return SecretStr("\n".join(entries))


def as_operator(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def audit_events(client: httpx.AsyncClient, *, action: str | None = None, key: str = ADMIN_KEY,
                       limit: int = 200) -> list[dict[str, Any]]:
    """Every audit event (newest first), read through `GET /admin/audit-events` page by page."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        params: dict[str, Any] = {"limit": limit, **({"action": action} if action else {}),
                                  **({"cursor": cursor} if cursor else {})}
        response = await client.get("/admin/audit-events", params=params, headers=as_operator(key))
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("more than 50 pages of audit events")
