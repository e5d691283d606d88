"""Errors the framework raises (routing, parsing) leave in the same one shape as Seawall's own."""

from __future__ import annotations

import httpx

from tests.integration.accounts.wire import assert_error, new_key


async def test_unknown_route_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/no-such-thing"), 404, "not_found")


async def test_wrong_method_is_405_in_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/signups"), 405, "method_not_allowed")


async def test_malformed_json_is_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/signups", content=b'{"email": ', headers={"Idempotency-Key": new_key(), "Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


async def test_body_that_is_not_an_object_is_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/sessions", json=["not", "an", "object"])
    assert_error(response, 422, "validation_error")


async def test_missing_fields_are_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.post("/v1/sessions", json={}), 422, "validation_error")
    assert {tuple(detail["loc"]) for detail in error["details"]} == {("body", "email"), ("body", "password")}
