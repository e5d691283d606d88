"""The fake Twilio: the Messages resource subset Seawall uses, with Twilio's shapes and codes.

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json          To, From, Body (form-encoded) → 201
    GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json    the message → 200

Auth: HTTP Basic `AccountSid:AuthToken`, and the SID must be the one in the path; otherwise 401
with Twilio's code 20003. By default any `AC...` SID with a non-empty token is accepted; pass
`accounts` (SID → token) to accept only those.

Validation, with Twilio's codes (all 400): missing `To` 21604, `From` 21603, `Body` 21602; a `To`
that is not E.164 (`+` then 8 to 15 digits) 21211; a `From` that is neither E.164 nor an
alphanumeric sender id 21212; a body over 1600 characters 21617. Twilio's magic test numbers
answer as Twilio does: To `+15005550001` → 21211, `+15005550009` → 21614 (not a mobile number),
`+15005550004` → 21610 (the recipient unsubscribed).

Idempotency — an extension of ours (real Twilio has none): a POST with `Idempotency-Key` saves its
answer (status and body) per (AccountSid, key) once it is executed; a retry with the same key and
parameters gets it back with `Idempotent-Replayed: true` and sends nothing; the same key with other
parameters is 422. Refusals before execution (auth, validation, injected faults) save nothing.

Faults: the same `faults.FaultConfig` and `FaultMiddleware` as the fake Stripe, with their own
injector and statistics (`SmsState`), on paths under `/2010-04-01/`. A lost response is executed
and saved, so the retry with the same key is a replay.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl
from uuid import uuid4

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from seawall.sandbox.faults import FaultInjector, FaultMiddleware, RequestStats

API_VERSION = "2010-04-01"
SMS_PATH_PREFIX = f"/{API_VERSION}/"
MAX_BODY_CHARS = 1600
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MAGIC_NUMBERS: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550009": (21614, "'To' number {to} is not a mobile number"),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
}


def new_sid(prefix: str) -> str:
    return f"{prefix}{uuid4().hex}"


def twilio_error(status: int, code: int | None, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}" if code is not None else None}
    return JSONResponse(body, status_code=status, headers={"Twilio-Request-Id": new_sid("RQ"), **(headers or {})})


@dataclass
class SmsRecord:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    created: datetime
    idempotency_key: str | None
    status: str = "queued"

    def to_twilio(self) -> dict[str, Any]:
        created = format_datetime(self.created)
        return {
            "sid": self.sid, "account_sid": self.account_sid, "api_version": API_VERSION,
            "to": self.to, "from": self.from_, "body": self.body, "status": self.status,
            "num_segments": str(1 if len(self.body) <= 160 else -(-len(self.body) // 153)),
            "num_media": "0", "direction": "outbound-api", "messaging_service_sid": None,
            "date_created": created, "date_updated": created, "date_sent": None,
            "price": None, "price_unit": "USD", "error_code": None, "error_message": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json",
        }


@dataclass(frozen=True)
class _StoredAnswer:
    fingerprint: tuple[tuple[str, str], ...]
    status_code: int
    body: dict[str, Any]


@dataclass
class SmsLedger:
    """Every message the fake accepted; tests read it to see what Seawall sent."""

    messages: dict[str, SmsRecord] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], _StoredAnswer] = field(default_factory=dict)

    def messages_to(self, number: str) -> list[SmsRecord]:
        return [m for m in self.messages.values() if m.to == number]

    def with_idempotency_key(self, key: str) -> list[SmsRecord]:
        return [m for m in self.messages.values() if m.idempotency_key == key]

    def reset(self) -> None:
        self.messages.clear()
        self.idempotency.clear()


@dataclass
class SmsState:
    """The fake's records, and its own fault injection and request statistics."""

    ledger: SmsLedger = field(default_factory=SmsLedger)
    faults: FaultInjector = field(default_factory=FaultInjector)
    requests: RequestStats = field(default_factory=RequestStats)

    def reset(self) -> None:
        self.ledger.reset()
        self.requests.reset()


def _authenticate(request: Request, account_sid: str, accounts: Mapping[str, str] | None) -> JSONResponse | None:
    """None when the Basic credentials are good for `account_sid`, else Twilio's 401."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        username, _, token = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        username, token = "", ""
    if accounts is None:
        valid = username.startswith("AC") and bool(token)
    else:
        valid = username in accounts and secrets.compare_digest(accounts[username], token)
    if scheme.lower() != "basic" or not valid or username != account_sid:
        return twilio_error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
    return None


def _validate(params: dict[str, str]) -> JSONResponse | None:
    to, sender, body = params.get("To", ""), params.get("From", ""), params.get("Body", "")
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not sender:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return twilio_error(400, 21602, "Message body is required.")
    if not _E164.match(to):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not (_E164.match(sender) or _ALPHANUMERIC_SENDER.match(sender)):
        return twilio_error(400, 21212, f"Invalid From Number (caller ID): {sender}")
    if len(body) > MAX_BODY_CHARS:
        return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if to in MAGIC_NUMBERS:
        code, message = MAGIC_NUMBERS[to]
        return twilio_error(400, code, message.format(to=to))
    return None


def sms_router(ledger: SmsLedger, *, accounts: Mapping[str, str] | None = None) -> APIRouter:
    router = APIRouter(prefix=f"/{API_VERSION}/Accounts/{{account_sid}}", include_in_schema=False)

    @router.post("/Messages.json")
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        refused = _authenticate(request, account_sid, accounts)
        if refused is not None:
            return refused
        pairs = parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True)
        params = dict(pairs)
        key = request.headers.get("idempotency-key")
        fingerprint = tuple(sorted(pairs))
        if key is not None:
            stored = ledger.idempotency.get((account_sid, key))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return twilio_error(422, None, f"Idempotency-Key '{key}' was first used with other parameters.")
                return JSONResponse(stored.body, status_code=stored.status_code,
                                    headers={"Idempotent-Replayed": "true", "Twilio-Request-Id": new_sid("RQ")})
        invalid = _validate(params)
        if invalid is not None:
            return invalid
        record = SmsRecord(sid=new_sid("SM"), account_sid=account_sid, to=params["To"], from_=params["From"],
                           body=params["Body"], created=datetime.now(UTC), idempotency_key=key)
        ledger.messages[record.sid] = record
        body = record.to_twilio()
        if key is not None:
            ledger.idempotency[(account_sid, key)] = _StoredAnswer(fingerprint, 201, body)
        return JSONResponse(body, status_code=201, headers={"Twilio-Request-Id": new_sid("RQ")})

    @router.get("/Messages/{sid}.json")
    async def fetch_message(account_sid: str, sid: str, request: Request) -> JSONResponse:
        refused = _authenticate(request, account_sid, accounts)
        if refused is not None:
            return refused
        record = ledger.messages.get(sid)
        if record is None or record.account_sid != account_sid:
            return twilio_error(404, 20404, f"The requested resource /{API_VERSION}/Accounts/{account_sid}"
                                            f"/Messages/{sid}.json was not found")
        return JSONResponse(record.to_twilio(), headers={"Twilio-Request-Id": new_sid("RQ")})

    return router


def install_sms(app: FastAPI, state: SmsState, *, accounts: Mapping[str, str] | None = None) -> None:
    """Serve the fake under `/2010-04-01/` of `app`, behind its own fault injection."""
    app.include_router(sms_router(state.ledger, accounts=accounts))
    app.add_middleware(FaultMiddleware, injector=state.faults, stats=state.requests, prefix=SMS_PATH_PREFIX)


def create_sms_app(state: SmsState | None = None, *, accounts: Mapping[str, str] | None = None) -> FastAPI:
    """The fake Twilio alone, as an ASGI app (the sandbox app serves it too, see `app.py`)."""
    state = state or SmsState()
    app = FastAPI(title="Seawall sandbox SMS", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sms = state
    install_sms(app, state, accounts=accounts)
    return app
