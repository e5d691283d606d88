"""The whole path: a client → Seawall (the bridge middleware) → the real legacy app process, whose
route verifies `Seawall-User` with `verify_seawall_user`; a client's own `Seawall-User` (either
spelling) never reaches legacy. Needs the bridge (`seawall.legacy.bridge`, issue 16's bridge branch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.accounts.wire import assert_error, bearer
from tests.integration.legacy.auth_rig import NEW_KEY, auth_keys, bridge_settings, legacy, legacy_accepts, seawall_user
from tests.support.apps import StartApp, asgi_client
from tests.support.legacy_app.process import LegacyApp
from tests.unit.legacy.test_identity_lookup import UnreachableDatabase

__all__ = ["legacy"]  # the fixture

pytest.importorskip("seawall.legacy.bridge", reason="the bridge middleware is not on this branch")

FORGED = "v1,new,1796068800,usr_admin,AAAA"


async def test_a_forwarded_request_carries_the_verified_user_and_never_the_clients_header(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    legacy_accepts(legacy, NEW_KEY)
    app = await started_app(**bridge_settings(legacy, var_dir, legacy_auth_keys=auth_keys(NEW_KEY)))
    async with asgi_client(app) as client:
        user_id, _email, token = await seawall_user(client)
        signed_in = await client.get("/legacy/whoami?x=1", headers={**bearer(token), "Seawall-User": FORGED,
                                                                   "Seawall_User": FORGED})
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json() == {"user_id": user_id}

        anonymous = await client.post("/legacy/whoami", headers={"Seawall-User": FORGED, "Seawall_User": FORGED})
        assert anonymous.status_code == 401 and "no Seawall-User" in anonymous.json()["refused"]
        bad_token = await client.get("/legacy/whoami", headers=bearer("not-a-real-token"))
        assert bad_token.status_code == 401  # legacy's answer: the bridge adds no header and no 401 of its own
        assert "no Seawall-User" in bad_token.json()["refused"]

    seen = [request for request in legacy.requests() if request["path"] == "/legacy/whoami"]
    assert len(seen) == 3
    for request in seen:
        values = [value for name, value in request["headers"] if name.lower() in ("seawall-user", "seawall_user")]
        assert FORGED not in values and len(values) <= 1


async def test_a_database_outage_while_signing_is_a_503_in_the_error_shape(
        started_app: StartApp, legacy: LegacyApp, var_dir: Path) -> None:
    app = await started_app(**bridge_settings(legacy, var_dir, legacy_auth_keys=auth_keys(NEW_KEY)))
    async with asgi_client(app) as client:
        _user_id, _email, token = await seawall_user(client)
        app.state.runtime.legacy.identity.database = UnreachableDatabase()
        app.state.runtime.legacy.identity.session_cache.evict(user_ids=[_user_id])
        down = await client.get("/legacy/whoami", headers=bearer(token))
        assert_error(down, 503, "unavailable")
        assert down.headers["retry-after"] == "1"
        assert (await client.get("/legacy/whoami")).status_code == 401  # anonymous: forwarded as before
