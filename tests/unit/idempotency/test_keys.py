"""Key validation and request fingerprints: pure functions, no I/O."""

from __future__ import annotations

import pytest

from seawall.idempotency import service
from seawall.idempotency.errors import IdempotencyKeyError


def test_key_is_required_where_the_route_requires_it() -> None:
    for missing in (None, ""):
        with pytest.raises(IdempotencyKeyError):
            service.validate_key(missing, required=True)
        assert service.validate_key(missing, required=False) is None


def test_key_length_limit_is_255() -> None:
    assert service.validate_key("k" * 255, required=True) == "k" * 255
    with pytest.raises(IdempotencyKeyError):
        service.validate_key("k" * 256, required=True)


@pytest.mark.parametrize("key", ["a\tb", "a\x00b", "a\x7fb", "caf\u00e9", "line\nbreak"])
def test_key_must_be_printable_ascii(key: str) -> None:
    with pytest.raises(IdempotencyKeyError):
        service.validate_key(key, required=True)


def test_printable_ascii_keys_pass_unchanged() -> None:
    key = "".join(chr(code) for code in range(0x20, 0x7F))
    assert service.validate_key(key, required=True) == key


SECRET = b"server-secret-one"


def test_fingerprint_ignores_key_order_but_not_values_method_or_path() -> None:
    def fp(method: str, path: str, body: dict[str, object]) -> str:
        return service.fingerprint(method=method, path=path, body=body, secret_key=SECRET)

    base = fp("POST", "/v1/signups", {"a": 1, "b": "x"})
    assert base == fp("post", "/v1/signups", {"b": "x", "a": 1})
    assert base != fp("POST", "/v1/signups", {"a": 2, "b": "x"})
    assert base != fp("PUT", "/v1/signups", {"a": 1, "b": "x"})
    assert base != fp("POST", "/v1/password-resets", {"a": 1, "b": "x"})


def test_fingerprint_is_keyed_by_the_server_secret() -> None:
    """Bodies hold passwords: without the secret, a stored fingerprint must not confirm a guess."""
    body = {"email": "a@example.com", "password": "correct horse battery staple"}
    one = service.fingerprint(method="POST", path="/v1/signups", body=body, secret_key=SECRET)
    again = service.fingerprint(method="POST", path="/v1/signups", body=body, secret_key=SECRET)
    other = service.fingerprint(method="POST", path="/v1/signups", body=body, secret_key=b"another-secret")
    assert one == again
    assert one != other
