"""Promise: the redaction processor replaces every secret Seawall can meet — by the key it is logged
under, and by its shape inside any string (a message, `str(exc)`, a formatted traceback, a repr) —
and leaves ids, request ids, digests, timestamps and ordinary words alone."""

from __future__ import annotations

import pytest

from seawall.kit.tokens import new_token
from seawall.observability.redaction import REDACTED, is_sensitive_name, passes_luhn, redact_secrets, scrub_text
from seawall.operator_keys import new_operator_key

SESSION_TOKEN = new_token()  # what sessions and password resets hand out
OPERATOR_KEY = new_operator_key()


SECRETS = {
    "session token": SESSION_TOKEN, "operator key": OPERATOR_KEY,
    "webhook secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La",
    "sandbox webhook secret": "whsec_sandbox_wrong_secret", "stripe live key": "sk_live_marker_5d6e7f",
    "stripe test key": "sk_test_51HxYzAbC", "restricted key": "rk_live_0123abcd", "visa": "4242424242424242",
    "visa spaced": "4242 4242 4242 4242", "mastercard dashed": "5555-5555-5555-4444", "amex": "378282246310005",
    "discover": "6011111111111117",
}


@pytest.mark.parametrize("secret", list(SECRETS.values()), ids=list(SECRETS))
def test_a_secret_of_a_known_shape_is_replaced_wherever_it_stands_in_a_string(secret: str) -> None:
    for text in (secret, f"charge failed for {secret}.", f"ValueError('{secret}')", f"x={secret!r}\n  at line 3"):
        scrubbed = scrub_text(text)
        assert secret not in scrubbed and REDACTED in scrubbed, scrubbed


@pytest.mark.parametrize(("text", "kept"), [
    ("Authorization: Bearer abcdef123456", "Authorization: "),
    ("sent Bearer abcdef123456 upstream", "sent Bearer "),
    ("authorization=Basic dXNlcjpwYXNzd29yZA==", "authorization="),
    ("{'password': 'Pw-marker-1', 'email': 'a@b.example'}", "'email': 'a@b.example'"),
    ('{"new_password": "Pw-marker-1", "token": "t-marker-2"}', '"new_password": '),
    ("User(password='Pw-marker-1', name='ann')", "name='ann'"),
    ("GET /v1/hook?token=Pw-marker-1&page=2", "&page=2"),
    ("postgresql+asyncpg://seawall:Pw-marker-1@db:5432/seawall", "postgresql+asyncpg://seawall:***@db:5432/seawall"),
    ("1 validation error for PaymentIn\ncard\n  Extra inputs are not permitted [type=extra_forbidden, "
     "input_value={'number': 'Pw-marker-1'}, input_type=dict]", "type=extra_forbidden"),
])
def test_named_and_embedded_credentials_are_replaced_and_the_rest_of_the_text_kept(text: str, kept: str) -> None:
    scrubbed = scrub_text(text)
    assert "Pw-marker" not in scrubbed and "abcdef123456" not in scrubbed and "dXNlcjpw" not in scrubbed, scrubbed
    assert kept in scrubbed


@pytest.mark.parametrize("text", [
    "usr_3f2c9a0b1d4e4f5a8b7c6d5e4f3a2b1c",  # an id: prefix + uuid4 hex
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # a SHA-256 hex digest
    "4f3a2b1c9d8e7f6a5b4c3d2e",  # a request id (token_hex(12))
    "2026-11-30T10:18:53.886080Z", "1764497933123", "4242424242424241",  # a timestamp; fails Luhn
    "test_request_secrets_never_reach_logs_or_error_answers", "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    "http://127.0.0.1:8000/v1/payments/pay_1", "tokens remaining: none", "Basic",
])
def test_ids_digests_timestamps_and_words_are_left_alone(text: str) -> None:
    assert scrub_text(text) == text


def test_luhn() -> None:
    assert passes_luhn("4242424242424242") and passes_luhn("79927398713")
    assert not passes_luhn("4242424242424241")


@pytest.mark.parametrize("name", ["password", "new_password", "X-Api-Key", "api_key", "reset_token", "authorization",
                                  "Cookie", "set-cookie", "signing_secret", "card", "card_number", "cvc", "accessToken",
                                  "operator_key", "stripe_webhook_secrets"])
def test_sensitive_names(name: str) -> None:
    assert is_sensitive_name(name)


@pytest.mark.parametrize("name", ["event", "discarded", "keys", "idempotency_key", "request_id", "status", "route",
                                  "client_ip", "attempt", "number"])
def test_ordinary_names(name: str) -> None:
    assert not is_sensitive_name(name)


class Opaque:
    def __repr__(self) -> str:
        return f"Opaque(token={SESSION_TOKEN})"


def test_the_processor_scrubs_every_value_recursively_and_never_changes_the_callers_objects() -> None:
    body = {"amount": 100, "card": {"number": "4242424242424242", "cvc": "123"}, "email": "a@b.example"}
    headers = [(b"authorization", b"Bearer " + SESSION_TOKEN.encode()), (b"cookie", b"s=1"), (b"accept", b"*/*")]
    event = {"event": f"login with {OPERATOR_KEY}", "password": "Pw-marker-1", "body": body, "headers": headers,
             "detail": Opaque(), "attempt": 3, "ok": True, "nothing": None, "ratio": 0.5, "client_ip": "192.0.2.1"}
    scrubbed = redact_secrets(None, "info", dict(event))
    assert scrubbed["event"] == f"login with {REDACTED}" and scrubbed["password"] == REDACTED
    assert scrubbed["body"] == {"amount": 100, "card": REDACTED, "email": "a@b.example"}
    assert scrubbed["headers"] == [("authorization", REDACTED), ("cookie", REDACTED), ("accept", "*/*")]
    assert scrubbed["detail"] == f"Opaque(token={REDACTED})"
    assert (scrubbed["attempt"], scrubbed["ok"], scrubbed["nothing"], scrubbed["ratio"]) == (3, True, None, 0.5)
    assert scrubbed["client_ip"] == "192.0.2.1"
    assert body["card"] == {"number": "4242424242424242", "cvc": "123"}  # the caller's dict is untouched


@pytest.mark.parametrize(("text", "kept"), [
    ("card 4242 4242 4242 4242 12/30", "card [redacted] 12/30"),  # the expiry right after the number
    ("retry 2 4242424242424242", "retry 2 [redacted]"),  # a digit before it
    ("pan 4242424242424242 1", "pan [redacted] 1"),  # a digit after it
    ("5555555555554444 and 4000056655665556", "[redacted] and [redacted]"),
])
def test_a_card_number_next_to_other_digits_is_still_found(text: str, kept: str) -> None:
    assert scrub_text(text) == kept


def test_a_credential_of_another_authorization_scheme_is_replaced() -> None:
    assert scrub_text("Authorization: Token abcdef123456") == "Authorization: [redacted]"
