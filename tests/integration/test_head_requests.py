"""HEAD is served wherever GET is (RFC 9110 §9.3.2): the GET's status and headers, never a body; where no
GET exists, the router's 405 stands (`seawall.web.head`)."""

from __future__ import annotations

import httpx

from tests.integration.accounts.wire import bearer, new_email, sign_up, token_for


def same_headers(head: httpx.Response, get: httpx.Response) -> None:
    for name in ("content-type", "content-length", "cache-control", "content-security-policy"):
        assert head.headers.get(name) == get.headers.get(name), name


async def test_head_answers_as_get_without_a_body(client: httpx.AsyncClient) -> None:
    email = new_email()
    assert (await sign_up(client, email)).status_code == 201
    token = await token_for(client, email)
    for path, headers in [("/livez", {}), ("/v1/me", bearer(token)), ("/openapi.json", {})]:
        get = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)
        assert get.status_code == 200 and get.content, path
        assert head.status_code == 200 and head.content == b"", path
        same_headers(head, get)
        assert int(head.headers["content-length"]) == len(get.content)


async def test_head_on_a_get_route_keeps_its_refusals(client: httpx.AsyncClient) -> None:
    get = await client.get("/v1/me")
    head = await client.head("/v1/me")
    assert get.status_code == head.status_code == 401 and head.content == b""
    same_headers(head, get)


async def test_head_where_no_get_exists_is_405(client: httpx.AsyncClient) -> None:
    head = await client.head("/v1/signups")  # POST only
    assert head.status_code == 405 and head.content == b""
    assert head.headers["allow"] == "POST"
