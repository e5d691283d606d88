"""Standard Webhooks signing (symmetric, `v1`): secrets, the signed content, the headers.

    secret             whsec_<base64 of 32 random bytes>  (the spec asks for 24 to 64 bytes)
    webhook-id         the delivery id, msg_...; the same on every attempt
    webhook-timestamp  integer Unix seconds of this attempt
    webhook-signature  v1,<base64 HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}")>

Hand-written: it is a few lines of `hmac`, and the `standardwebhooks` package serves the tests as an
independent verifier instead of checking the code against itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    signed = message_id.encode("ascii") + b"." + str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id=message_id, timestamp=timestamp, body=body),
    }


def event_body(*, event_type: str, occurred_at: datetime, data: Any) -> bytes:
    """The minified JSON body `{"type", "timestamp", "data"}`; `timestamp` is when the event happened."""
    moment = occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    document = {"type": event_type, "timestamp": moment, "data": data}
    return json.dumps(document, separators=(",", ":")).encode("ascii")  # ASCII: no encoding surprises
