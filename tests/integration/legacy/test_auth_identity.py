"""Seawall → legacy: a Seawall session becomes a `Seawall-User` header (`ForwardedIdentity.headers`,
what the bridge adds to each forwarded request) that the real legacy app process verifies with
`verify_seawall_user`; rotation; no header without a live session; a stale header refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from seawall.kit.clock import FakeClock, SystemClock
from seawall.legacy.identity import ForwardedIdentity
from tests.integration.legacy.auth_rig import (
    NEW_KEY,
    OLD_KEY,
    auth_keys,
    bridge_settings,
    legacy,
    legacy_accepts,
    seawall_user,
)
from tests.support.apps import StartApp, asgi_client
from tests.support.legacy_app.process import LegacyApp

__all__ = ["legacy"]  # the fixture


def scope(token: str | None, *, method: str = "GET", path: str = "/legacy/whoami",
          query: bytes = b"") -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token is not None else []
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query,
            "headers": headers}


def at_legacy(legacy: LegacyApp, identity: list[tuple[bytes, bytes]], *, request_id: str, method: str = "GET",
              target: str = "/legacy/whoami") -> httpx.Response:
    headers = [(name.decode(), value.decode()) for name, value in identity] + [("X-Request-Id", request_id)]
    return httpx.request(method, f"{legacy.url}{target}", headers=headers, timeout=5.0)


async def start(started_app: StartApp, legacy: LegacyApp, var_dir: Path, keys: str) -> FastAPI:
    return await started_app(**bridge_settings(legacy, var_dir, legacy_auth_keys=auth_keys(keys)))


def identity_of(app: FastAPI) -> ForwardedIdentity:
    identity = app.state.runtime.legacy.identity
    assert identity is not None
    return identity  # type: ignore[no-any-return]


async def test_the_legacy_app_verifies_the_header_of_a_seawall_session(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    legacy_accepts(legacy, NEW_KEY)
    app = await start(started_app, legacy, var_dir, NEW_KEY)
    async with asgi_client(app) as client:
        user_id, _email, token = await seawall_user(client)
    identity = identity_of(app)

    signed = await identity.headers(scope(token, method="POST", query=b"a=1&b=%2F"), "req-one")
    assert [name for name, _ in signed] == [b"seawall-user"]
    answer = at_legacy(legacy, signed, request_id="req-one", method="POST", target="/legacy/whoami?a=1&b=%2F")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"user_id": user_id}
    # Bound to its request: the same header on another request id, method or query is refused.
    assert "signature" in at_legacy(legacy, signed, request_id="req-two", method="POST",
                                    target="/legacy/whoami?a=1&b=%2F").json()["refused"]
    assert at_legacy(legacy, signed, request_id="req-one", target="/legacy/whoami?a=1&b=%2F").status_code == 401
    assert at_legacy(legacy, signed, request_id="req-one", method="POST",
                     target="/legacy/whoami?a=2&b=%2F").status_code == 401


async def test_no_header_without_a_live_seawall_session(started_app: StartApp, legacy: LegacyApp,
                                                        var_dir: Path) -> None:
    app = await start(started_app, legacy, var_dir, NEW_KEY)
    async with asgi_client(app) as client:
        _user_id, _email, token = await seawall_user(client)
        identity = identity_of(app)
        assert await identity.headers(scope(None), "r") == []
        assert await identity.headers(scope("not-a-real-token"), "r") == []
        assert await identity.headers({**scope(None), "headers": [(b"authorization", b"Basic dTpw")]}, "r") == []
        assert await identity.headers(scope(token), "r") != []
        assert (await client.delete("/v1/sessions/current", headers={"Authorization": f"Bearer {token}"})
                ).status_code == 204
        assert await identity.headers(scope(token), "r") == []  # logged out: the cache forgot it at once


async def test_rotation_legacy_knows_old_and_new_while_seawall_signs_with_new(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    app = await start(started_app, legacy, var_dir, f"{NEW_KEY},{OLD_KEY}")
    async with asgi_client(app) as client:
        user_id, _email, token = await seawall_user(client)
    identity = identity_of(app)
    assert identity.key.key_id == "new"

    legacy_accepts(legacy, OLD_KEY)  # step 1 skipped: the legacy app knows the old key only
    refused = at_legacy(legacy, await identity.headers(scope(token), "r1"), request_id="r1")
    assert refused.status_code == 401 and "unknown key id 'new'" in refused.json()["refused"]

    legacy_accepts(legacy, f"{OLD_KEY},{NEW_KEY}")  # step 1: both
    accepted = at_legacy(legacy, await identity.headers(scope(token), "r2"), request_id="r2")
    assert accepted.status_code == 200 and accepted.json() == {"user_id": user_id}


async def test_a_header_older_than_the_tolerance_is_refused(started_app: StartApp, legacy: LegacyApp,
                                                            var_dir: Path) -> None:
    legacy_accepts(legacy, NEW_KEY)
    app = await start(started_app, legacy, var_dir, NEW_KEY)
    async with asgi_client(app) as client:
        _user_id, _email, token = await seawall_user(client)
    live = identity_of(app)
    late = FakeClock(SystemClock().now() - timedelta(seconds=301))  # signed 301 s ago
    stale = ForwardedIdentity(live.key, prefix=live.prefix, database=live.database, clock=late,
                              session_cache=live.session_cache, timing=live.timing)
    refused = at_legacy(legacy, await stale.headers(scope(token), "r"), request_id="r")
    assert refused.status_code == 401 and "window" in refused.json()["refused"]
    late.advance(21)  # 280 s ago: inside, with room for a slow machine between signing and checking
    assert at_legacy(legacy, await stale.headers(scope(token), "r"), request_id="r").status_code == 200


async def test_forged_headers_are_refused_by_the_legacy_app(legacy: LegacyApp) -> None:
    legacy_accepts(legacy, NEW_KEY)
    for value in ["usr_admin", "v1,new,1796068800,usr_admin,AAAA", ""]:
        answer = httpx.get(f"{legacy.url}/legacy/whoami", headers={"Seawall-User": value}, timeout=5.0)
        assert answer.status_code == 401, value
