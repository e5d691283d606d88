"""Stripe's webhook wire format: the `Stripe-Signature` check and the event envelope.

The signature, as Stripe documents it ("Check the webhook signatures", "Verify manually"):

    Stripe-Signature: t=1492774577,v1=5257a869...,v1=6ffbb59b...,v0=...

- the elements are separated by `,`, each is `<scheme>=<value>`; `t` is the Unix time (seconds) at
  which Stripe signed, `v1` an HMAC-SHA256 signature in lower-case hex; other schemes (`v0`) are
  ignored;
- the signed payload is `f"{t}.{raw_body}"` — the exact bytes received, before any JSON parsing;
- the key is the endpoint's signing secret (`whsec_...`), used as given (its UTF-8 bytes);
- a request passes when ANY `v1` equals the expected signature (compared in constant time): during
  a secret rotation Stripe signs with the old and the new secret at once, and Seawall may hold
  several secrets, so every (secret, v1) pair is tried;
- the timestamp must be within `tolerance_seconds` of now, either side (Stripe's libraries default
  to 300 s), which bounds replays of a captured request.

`verify_signature` raises `SignatureVerificationError` (outside Seawall's error tree, like any wire
format error; the payments domain maps it to 400 `invalid_signature`). `parse_event` reads the
envelope `{"id": "evt_...", "object": "event", "type": "...", "created": <unix>, "data": {"object":
{...}}}` and raises `EventFormatError` when the verified body is not such an object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "Stripe-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_SIGNATURES = 16  # v1 entries considered in one header; a header with more is refused


class SignatureVerificationError(ValueError):
    """The `Stripe-Signature` header is missing, malformed, stale, or matches no secret."""


class EventFormatError(ValueError):
    """A verified body that is not a Stripe event envelope."""


def compute_signature(*, timestamp: int, payload: bytes, secret: str) -> str:
    """HMAC-SHA256 of `f"{timestamp}.{payload}"` under `secret`, lower-case hex."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(*, timestamp: int, payload: bytes, secrets: Sequence[str]) -> str:
    """The header Stripe would send: `t=<timestamp>,v1=<sig under secrets[0]>,v1=...`."""
    signatures = ",".join(f"{SIGNATURE_SCHEME}={compute_signature(timestamp=timestamp, payload=payload, secret=s)}"
                          for s in secrets)
    return f"t={timestamp},{signatures}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for element in header.split(","):
        scheme, separator, value = element.strip().partition("=")
        if not separator:
            continue
        if scheme == "t":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise SignatureVerificationError("the Stripe-Signature timestamp is not a Unix time")
            timestamp = int(value)
        elif scheme == SIGNATURE_SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureVerificationError("the Stripe-Signature header has no timestamp")
    if not signatures:
        raise SignatureVerificationError(f"the Stripe-Signature header has no {SIGNATURE_SCHEME} signature")
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureVerificationError("the Stripe-Signature header has too many signatures")
    return timestamp, signatures


def verify_signature(payload: bytes, header: str | None, secrets: Sequence[str], *, now: float,
                     tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS) -> int:
    """Check `header` against `payload` (the raw body) and every secret; the signed timestamp.

    Raises `SignatureVerificationError` when the header is absent or malformed, its timestamp is
    more than `tolerance_seconds` away from `now` (Unix seconds), or no `v1` matches any secret.
    """
    if not secrets:
        raise SignatureVerificationError("no signing secret is configured")
    if not header:
        raise SignatureVerificationError(f"the {SIGNATURE_HEADER} header is missing")
    timestamp, signatures = _parse_header(header)
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureVerificationError("the Stripe-Signature timestamp is outside the tolerance")
    expected = [compute_signature(timestamp=timestamp, payload=payload, secret=secret).encode("ascii")
                for secret in secrets]
    matched = False
    for given in signatures:
        given_bytes = given.encode("utf-8", "replace")
        for candidate in expected:  # every pair is compared: the time taken says nothing of which matched
            matched |= hmac.compare_digest(candidate, given_bytes)
    if not matched:
        raise SignatureVerificationError("no signature matches the payload and a configured secret")
    return timestamp


@dataclass(frozen=True, slots=True)
class StripeEvent:
    """A verified event: `id` (`evt_...`), `type` (e.g. `charge.refunded`), `created` (Unix
    seconds) and `data.object` (the resource as it stood when the event happened)."""

    id: str
    type: str
    created: int
    object: Mapping[str, Any]


def parse_event(payload: bytes) -> StripeEvent:
    """The envelope of a verified body; `EventFormatError` when it is not one."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise EventFormatError("the body is not JSON") from None
    if not isinstance(body, dict) or body.get("object") != "event":
        raise EventFormatError("the body is not a Stripe event object")
    event_id, event_type, created = body.get("id"), body.get("type"), body.get("created")
    data = body.get("data")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255 and isinstance(event_type, str)
            and 0 < len(event_type) <= 100 and isinstance(created, int) and not isinstance(created, bool)
            and isinstance(data, dict) and isinstance(data.get("object"), dict)
            and "\x00" not in event_id + event_type):
        raise EventFormatError("the event lacks id, type, created or data.object")
    return StripeEvent(id=event_id, type=event_type, created=created, object=data["object"])
