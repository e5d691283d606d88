"""What the schema fuzzer (tests/fuzz/test_schema_fuzz.py) found, each as the exact request it sent,
and the whole kind around it; on every backend.

1. A JSON body that is not UTF-8 (`Content-Type: application/json`, bytes such as `\\x89'`) answered 400
   "There was an error parsing the body", a status `POST /v1/sessions` and `PUT
   /v1/me/notification-preferences` do not declare (FastAPI decodes the bytes before its JSON parser,
   and maps that error to a bare 400). Fixed at the root by `web.input_guard` (lead, issue 12 item 2,
   landed at the same time): every JSON body is parsed strictly once, before any route, and one that
   is not UTF-8 is a 422 `validation_error` with a `json_invalid` detail, as for any other body that is
   not JSON, on every route that takes a body.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import assert_error, bearer, new_email, new_key, sign_up, token_for

JSON = {"Content-Type": "application/json"}


def assert_not_json(answer: httpx.Response) -> None:
    error = assert_error(answer, 422, "validation_error")
    assert [(detail["loc"], detail["type"]) for detail in error["details"]] == [(["body"], "json_invalid")], error


async def test_a_login_body_that_is_not_utf8_is_a_422(client: httpx.AsyncClient) -> None:
    assert_not_json(await client.post("/v1/sessions", content=b"\x89'", headers=JSON))


async def test_notification_preferences_that_are_not_utf8_are_a_422(client: httpx.AsyncClient) -> None:
    email = new_email("prefs")
    assert (await sign_up(client, email)).status_code == 201
    answer = await client.put("/v1/me/notification-preferences", content=b"K\x8eU\xaf\xce\x05",
                              headers={**JSON, **bearer(await token_for(client, email))})
    assert_not_json(answer)


@pytest.mark.parametrize("body", [b"\xff", b'{"email": "a\xe9@example.com"}'])
async def test_every_route_that_takes_a_body_answers_a_non_utf8_body_with_a_422(
        app: FastAPI, client: httpx.AsyncClient, body: bytes) -> None:
    email = new_email("utf8")
    assert (await sign_up(client, email)).status_code == 201
    user = bearer(await token_for(client, email))
    routes = [(method.upper(), path) for path, operations in app.openapi()["paths"].items()
              for method, operation in operations.items() if "requestBody" in operation]
    assert routes
    for method, path in routes:
        headers = {**JSON, "Idempotency-Key": new_key(),
                   **(bearer(ADMIN_KEY) if path.startswith("/admin") else user)}
        answer = await client.request(method, re.sub(r"\{[^}]+\}", "x", path), content=body, headers=headers)
        assert answer.status_code == 422, (method, path, answer.text)
        assert_not_json(answer)
