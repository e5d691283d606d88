"""The legacy app's side of auth bridging (docs/legacy-bridge.md, "Auth bridging"):

- `GET|POST /legacy/whoami`: trusts Seawall's authentication the documented way, with
  `verify_seawall_user` (method, target = raw path + `?query` as received, `X-Request-Id`); answers
  `{"user_id": ...}`, or 401 `{"refused": "<why>"}`;
- `POST /internal/introspect`: RFC 7662 introspection of a legacy session (form `token=...`): `{"active":
  true, "email": ..., "exp": ...}` or `{"active": false}`; each call counts as the effect
  `session.introspected`;
- control: `POST /_legacy/keys` `{"keys": "id:secret,..."}` (the keys whoami accepts; none: refuses
  all), `POST /_legacy/sessions` `{"email", "ttl_seconds"?}` → `{"cookie": ...}` (a legacy log-in),
  `POST /_legacy/sessions/end` `{"cookie"}` (a legacy log-out).
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seawall.legacy.identity import SeawallUserRefused, verify_seawall_user
from seawall.legacy.keys import SigningKey, parse_signing_keys
from tests.support.legacy_app.state import STATE

ACCEPTED_KEYS: list[SigningKey] = []
SESSIONS: dict[str, tuple[str, float]] = {}  # cookie value -> (email, expires at, unix seconds)


async def whoami(request: Request) -> Response:
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    try:
        user_id = verify_seawall_user(request.headers.items(), ACCEPTED_KEYS, now=time.time(),
                                      method=request.method, target=target,
                                      request_id=request.headers.get("x-request-id", ""))
    except SeawallUserRefused as exc:
        return JSONResponse({"refused": str(exc)}, status_code=401)
    return JSONResponse({"user_id": user_id})


async def introspect(request: Request) -> Response:
    STATE.effects["session.introspected"] += 1
    # RFC 7662 §2.1: application/x-www-form-urlencoded (parsed here: no multipart library needed)
    token = (parse_qs((await request.body()).decode("latin-1")).get("token") or [""])[0]
    found = SESSIONS.get(token)
    if found is None or found[1] <= time.time():
        return JSONResponse({"active": False})
    email, expires_at = found
    return JSONResponse({"active": True, "email": email, "exp": int(expires_at)})


async def set_keys(request: Request) -> Response:
    text = (await request.json()).get("keys") or ""
    ACCEPTED_KEYS[:] = parse_signing_keys(text) if text.strip() else []
    return Response(status_code=204)


async def log_in(request: Request) -> Response:
    body = await request.json()
    cookie = secrets.token_urlsafe(24)
    SESSIONS[cookie] = (str(body["email"]), time.time() + float(body.get("ttl_seconds", 3600)))
    return JSONResponse({"cookie": cookie})


async def log_out(request: Request) -> Response:
    SESSIONS.pop(str((await request.json())["cookie"]), None)
    return Response(status_code=204)


ROUTES: list[Route] = [
    Route("/legacy/whoami", whoami, methods=["GET", "POST"]),
    Route("/internal/introspect", introspect, methods=["POST"]),
    Route("/_legacy/keys", set_keys, methods=["POST"]),
    Route("/_legacy/sessions", log_in, methods=["POST"]),
    Route("/_legacy/sessions/end", log_out, methods=["POST"]),
]
