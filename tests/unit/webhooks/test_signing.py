"""Promise: webhooks are signed per Standard Webhooks, checked by the `standardwebhooks` package
(an implementation independent of ours)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from seawall.webhooks import signing


def test_secrets_are_whsec_base64_of_enough_random_bytes() -> None:
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert 24 <= len(key) <= 64
    assert signing.generate_secret() != secret


def test_the_signature_verifies_with_the_reference_library() -> None:
    secret = signing.generate_secret()
    body = signing.event_body(event_type="payment.succeeded", occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                              data={"payment_id": "pay_1", "amount": 1999, "note": "caf\u00e9"})
    now = int(time.time())
    headers = signing.signed_headers(secret, message_id="msg_abc", timestamp=now, body=body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == str(now)
    assert headers["webhook-signature"].startswith("v1,")
    payload = Webhook(secret).verify(body, headers)
    assert payload == {"type": "payment.succeeded", "timestamp": "2026-01-02T03:04:05Z",
                       "data": {"payment_id": "pay_1", "amount": 1999, "note": "caf\u00e9"}}
    assert json.loads(body) == payload and b" " not in body  # minified


def test_a_tampered_body_or_another_secret_does_not_verify() -> None:
    secret = signing.generate_secret()
    body = b'{"type":"refund.created","timestamp":"2026-01-01T00:00:00Z","data":{}}'
    headers = signing.signed_headers(secret, message_id="msg_x", timestamp=int(time.time()), body=body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"refund", b"refunx"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "msg_y"})


def test_the_signed_content_is_id_dot_timestamp_dot_body() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1674087231, tz=UTC), '{"a":1}')
    assert signing.sign(secret, message_id="msg_1", timestamp=1674087231, body=b'{"a":1}') == expected


@pytest.mark.parametrize("bad", ["", "whsec_", "sk_abc", "whsec_not base64!"])
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        signing.secret_key(bad)
