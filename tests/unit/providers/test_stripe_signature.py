"""Promise: a Stripe event passes only when signed as Stripe documents it — `t=<unix>,v1=<hex>...`,
HMAC-SHA256 of `f"{t}.{raw_body}"` under an endpoint secret, any one `v1` under any configured secret
(rotation), the timestamp within the tolerance — and the signatures are checked against an
implementation that is not ours (the sandbox's signer, and hashlib written out here)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from seawall.providers.stripe_events import (
    EventFormatError,
    SignatureVerificationError,
    parse_event,
    signature_header,
    verify_signature,
)
from seawall.sandbox.stripe_webhooks import sign

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
NOW = 1_767_000_000
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "created": NOW,
                   "data": {"object": {"id": "pi_1"}}}).encode()


def by_hand(timestamp: int, body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def test_a_header_signed_as_stripe_documents_passes() -> None:
    header = f"t={NOW},v1={by_hand(NOW, BODY, SECRET)},v0=ignored"
    assert verify_signature(BODY, header, [SECRET], now=NOW) == NOW
    assert verify_signature(BODY, sign(BODY, [SECRET], timestamp=NOW), [SECRET], now=NOW) == NOW
    assert signature_header(timestamp=NOW, payload=BODY, secrets=[SECRET]) == sign(BODY, [SECRET], timestamp=NOW)


def test_during_a_rotation_any_v1_under_any_configured_secret_passes() -> None:
    both = sign(BODY, [OLD_SECRET, SECRET], timestamp=NOW)  # Stripe signs with both while rotating
    assert verify_signature(BODY, both, [SECRET], now=NOW) == NOW
    assert verify_signature(BODY, both, [OLD_SECRET], now=NOW) == NOW
    only_old = sign(BODY, [OLD_SECRET], timestamp=NOW)
    assert verify_signature(BODY, only_old, [SECRET, OLD_SECRET], now=NOW) == NOW  # we hold both
    with pytest.raises(SignatureVerificationError, match="no signature matches"):
        verify_signature(BODY, only_old, [SECRET], now=NOW)


@pytest.mark.parametrize(("header", "reason"), [
    (None, "missing"),
    ("", "missing"),
    ("garbage", "no timestamp"),
    (f"v1={'0' * 64}", "no timestamp"),
    (f"t={NOW}", "no v1 signature"),
    (f"t={NOW},v0={'0' * 64}", "no v1 signature"),
    (f"t=soon,v1={'0' * 64}", "not a Unix time"),
    (f"t=-{NOW},v1={'0' * 64}", "not a Unix time"),
    (f"t={NOW},v1={'0' * 64}", "no signature matches"),
    (f"t={NOW}," + ",".join(f"v1={i:064x}" for i in range(17)), "too many"),
])
def test_a_missing_or_malformed_header_is_refused(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureVerificationError, match=reason):
        verify_signature(BODY, header, [SECRET], now=NOW)


def test_a_wrong_secret_or_a_tampered_body_is_refused() -> None:
    with pytest.raises(SignatureVerificationError):
        verify_signature(BODY, sign(BODY, ["whsec_someone_else"], timestamp=NOW), [SECRET], now=NOW)
    tampered = BODY.replace(b"pi_1", b"pi_2")
    with pytest.raises(SignatureVerificationError):
        verify_signature(tampered, sign(BODY, [SECRET], timestamp=NOW), [SECRET], now=NOW)
    with pytest.raises(SignatureVerificationError):  # the timestamp is signed too
        verify_signature(BODY, sign(BODY, [SECRET], timestamp=NOW).replace(f"t={NOW}", f"t={NOW + 1}"),
                         [SECRET], now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_a_timestamp_outside_the_tolerance_is_refused(skew: int) -> None:
    header = sign(BODY, [SECRET], timestamp=NOW - skew)
    with pytest.raises(SignatureVerificationError, match="tolerance"):
        verify_signature(BODY, header, [SECRET], now=NOW)
    assert verify_signature(BODY, header, [SECRET], now=NOW, tolerance_seconds=abs(skew)) == NOW - skew


def test_the_edges_of_the_tolerance_pass() -> None:
    for skew in (300, -300, 0):
        assert verify_signature(BODY, sign(BODY, [SECRET], timestamp=NOW - skew), [SECRET], now=NOW)


def test_no_configured_secret_verifies_nothing() -> None:
    with pytest.raises(SignatureVerificationError, match="no signing secret"):
        verify_signature(BODY, sign(BODY, [SECRET], timestamp=NOW), [], now=NOW)


def test_the_envelope_is_read_and_anything_else_is_refused() -> None:
    event = parse_event(BODY)
    assert (event.id, event.type, event.created, event.object["id"]) == ("evt_1", "payment_intent.succeeded",
                                                                          NOW, "pi_1")
    for body in (b"not json", b"[]", b'{"object": "event"}', b"\xff\xfe",
                 json.dumps({"id": "evt\u0000", "object": "event", "type": "x", "created": 1,
                             "data": {"object": {}}}).encode(),
                 json.dumps({"id": "evt_1", "object": "event", "type": "x", "created": True,
                             "data": {"object": {}}}).encode(),
                 json.dumps({"id": "evt_1", "object": "charge", "type": "x", "created": 1,
                             "data": {"object": {}}}).encode()):
        with pytest.raises(EventFormatError):
            parse_event(body)
