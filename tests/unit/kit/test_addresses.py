"""The one address policy (`kit.addresses`): one spelling per mailbox, and only addresses every relay takes."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from seawall.kit.addresses import EmailAddress, normalize_email_address


@pytest.mark.parametrize(("given", "kept"), [
    ("victim@example.com", "victim@example.com"),
    ("VICTIM@EXAMPLE.COM", "victim@example.com"),
    ("  Victim@Example.com\t", "victim@example.com"),
    ("o'neil&co@example.com", "o'neil&co@example.com"),
    ("user@Bücher.de", "user@xn--bcher-kva.de"),
    ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
    ("user@例え.jp", "user@xn--r8jz45g.jp"),
])
def test_every_spelling_of_a_mailbox_is_kept_as_one(given: str, kept: str) -> None:
    assert normalize_email_address(given) == kept


@pytest.mark.parametrize("given", [
    "A <victim@example.com>",  # a display name
    "<victim@example.com>",
    '"quoted local"@example.com',
    "user@[192.0.2.1]",  # a domain literal
    "jörg.müller@example.com",  # SMTPUTF8 needed
    "victim@example.test",  # special use (RFC 6761)
    "victim@localhost",
    "a\x00b@example.com",
    "no-at-sign",
    "",
    "x" * 300 + "@example.com",
    "x" * 65 + "@example.com",  # over RFC 5321's 64 before the @
    "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 60 + ".com",  # over 254 characters
])
def test_what_is_not_an_accepted_address_is_a_value_error(given: str) -> None:
    with pytest.raises(ValueError):
        normalize_email_address(given)


def test_the_wire_type_normalizes_and_reports_a_field_error() -> None:
    adapter = TypeAdapter(EmailAddress)
    assert adapter.validate_python("User@Bücher.de") == "user@xn--bcher-kva.de"
    with pytest.raises(ValidationError):
        adapter.validate_python("B <victim@example.com>")
    assert adapter.json_schema()["format"] == "email"
