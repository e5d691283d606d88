"""The legacy versions of routes the shadow tests compare with Seawall's.

`POST /v1/signups` (Seawall's `accounts.api.create_signup`, same request and answer shapes): a free
sign-up answers 201 with the user `active`; with `plan` and `payment_method` it answers 202 with the user
`pending_payment` and the plan's payment `pending`. Each one counts its side effects in the legacy app's
state: `account.created`, and `payment.created` for a paid one. An email seen before answers 409 and
counts nothing. Ids and timestamps are the legacy app's own (the shadow routes ignore them). Every answer
carries `X-Legacy-App: accounts`, so a test behind Seawall can tell whose answer it got.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.legacy_app.state import STATE

PLANS = {"starter": (900, "Seawall Starter, monthly"), "pro": (2900, "Seawall Pro, monthly"),
         "business": (9900, "Seawall Business, monthly")}
_EMAILS: set[str] = set()
MARK = {"X-Legacy-App": "accounts"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def create_signup(request: Request) -> Response:
    body = await request.json()
    email = str(body.get("email", "")).strip().lower()
    plan, payment_method = body.get("plan"), body.get("payment_method")
    if email in _EMAILS:
        return JSONResponse({"error": {"type": "conflict", "message": "email taken"}}, status_code=409,
                            headers=MARK)
    _EMAILS.add(email)
    STATE.effects["account.created"] += 1
    now = _now()
    user = {"id": f"usr_{secrets.token_hex(8)}", "email": email,
            "status": "pending_payment" if plan else "active", "plan": plan, "created_at": now}
    if not plan:
        return JSONResponse({"user": user, "payment": None}, status_code=201, headers=MARK)
    STATE.effects["payment.created"] += 1
    amount, description = PLANS[plan]
    payment = {"id": f"pay_{secrets.token_hex(8)}", "amount": amount, "currency": "usd", "status": "pending",
               "description": description, "payment_method": payment_method, "amount_refunded": 0,
               "failure_code": None, "failure_message": None, "dispute_status": None,
               "created_at": now, "updated_at": now}
    return JSONResponse({"user": user, "payment": payment}, status_code=202, headers=MARK)


ROUTES: list[Route] = [Route("/v1/signups", create_signup, methods=["POST"])]
