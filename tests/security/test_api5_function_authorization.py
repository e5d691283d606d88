"""OWASP API5:2023 Broken Function Level Authorization. Promise: the operator routes (`/admin/*`)
refuse a user — a valid session token is no operator key — and anyone without a key: 401 in the one
error shape, nothing done. With no operator key configured they do not exist at all (404). The
routes are read from the mounted app, so a new operator route is covered without editing this file.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from seawall.config import Settings
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import assert_error
from tests.security.wire import mounted_operations, new_user
from tests.support.apps import StartApp, asgi_client

OPERATOR_PREFIX = "/admin"


def concrete(path: str) -> str:
    """A request path for a template: job ids are integers, any other parameter a plausible id."""
    return path.replace("{job_id}", "1").replace("{", "x").replace("}", "")


def operator_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted((method, path) for method, path in mounted_operations(app) if path.startswith(OPERATOR_PREFIX))


async def test_the_operator_routes_are_found(app: FastAPI) -> None:
    """Guards the enumeration below: the admin routes are mounted when a key is configured."""
    assert {("GET", "/admin/jobs"), ("POST", "/admin/jobs/{job_id}/replay")} <= set(operator_routes(app))


async def test_a_users_session_token_opens_no_operator_route(app: FastAPI, client: httpx.AsyncClient) -> None:
    user = await new_user(client, "plain")
    for method, path in operator_routes(app):
        for headers in (user.headers, {}, {"Authorization": "Bearer "}, {"Authorization": f"Basic {ADMIN_KEY}"},
                        {"Authorization": ADMIN_KEY}, {"X-Api-Key": ADMIN_KEY}):
            answer = await client.request(method, concrete(path), headers=headers)
            assert_error(answer, 401)
            assert answer.headers["www-authenticate"] == "Bearer", (method, path)


async def test_the_operator_key_opens_them(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The refusals above are about the caller: with the key, each route gets past authorization."""
    for method, path in operator_routes(app):
        answer = await client.request(method, concrete(path), headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert answer.status_code not in (401, 403), (method, path, answer.text)


async def test_an_operator_key_is_no_user_session(client: httpx.AsyncClient) -> None:
    """The other direction: the operator key opens no user route."""
    for path in ("/v1/me", "/v1/payments", "/v1/webhook-endpoints"):
        assert_error(await client.get(path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}), 401)


@pytest.mark.parametrize("with_session", [False, True], ids=["anonymous", "user"])
async def test_without_an_operator_key_configured_the_routes_do_not_exist(
    started_app: StartApp, settings: Settings, app: FastAPI, client: httpx.AsyncClient, with_session: bool,
) -> None:
    headers = (await new_user(client, "plain")).headers if with_session else {}
    closed = await started_app(admin_api_key=None)
    assert operator_routes(closed) == []
    async with asgi_client(closed) as http:
        for method, path in operator_routes(app):
            for auth in (headers, {"Authorization": f"Bearer {ADMIN_KEY}"}):
                assert_error(await http.request(method, concrete(path), headers=auth), 404, "not_found")
