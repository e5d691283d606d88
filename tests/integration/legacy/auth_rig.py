"""What the auth-bridging tests share: the legacy app process, a route table that keeps `/v1/...` on
Seawall (read once the bridge is installed), and a Seawall user with a bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.integration.accounts.wire import new_email, sign_up, token_for
from tests.support.legacy_app.process import LegacyApp

NEW_KEY = "new:" + "n" * 40
OLD_KEY = "old:" + "o" * 32
COOKIE = "legacy_sid"
INTROSPECTION_PATH = "/internal/introspect"
ROUTES_TOML = """
[[route]]
path = "/v1/{rest:path}"
mode = "seawall"
"""


@pytest.fixture
def legacy() -> Iterator[LegacyApp]:
    with LegacyApp.start() as app:
        yield app


def bridge_settings(legacy: LegacyApp, var_dir: Path, **overrides: Any) -> dict[str, Any]:
    routes = var_dir / "legacy-routes.toml"
    routes.write_text(ROUTES_TOML)
    return {"legacy_upstream": legacy.url, "legacy_routes": routes, **overrides}


def auth_keys(text: str) -> SecretStr:
    return SecretStr(text)


def legacy_accepts(legacy: LegacyApp, keys: str) -> None:
    httpx.post(f"{legacy.url}/_legacy/keys", json={"keys": keys}, timeout=5.0).raise_for_status()


def legacy_log_in(legacy: LegacyApp, email: str, ttl_seconds: float = 3600) -> str:
    response = httpx.post(f"{legacy.url}/_legacy/sessions", json={"email": email, "ttl_seconds": ttl_seconds},
                          timeout=5.0)
    response.raise_for_status()
    return str(response.json()["cookie"])


async def seawall_user(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """(user id, email, bearer token) of a new Seawall user."""
    email = new_email("bridge")
    signed_up = await sign_up(client, email)
    assert signed_up.status_code == 201, signed_up.text
    return str(signed_up.json()["user"]["id"]), email, await token_for(client, email)
