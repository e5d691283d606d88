"""Notification templates: every one renders, HTML escapes user data, and a missing variable is an error."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.notifications.errors import RenderingError
from seawall.notifications.rendering import NOTIFICATIONS, RenderedMessage, render

PAYMENT = {"payment_id": "pay_123", "amount": "20.00 USD", "description": "Pro plan"}
CONTEXTS: dict[str, dict[str, Any]] = {
    "welcome": {"email": "ada@example.com", "plan": "pro"},
    "payment_receipt": {"email": "ada@example.com", **PAYMENT},
    "payment_failed": {"email": "ada@example.com", **PAYMENT, "failure_message": "Your card was declined."},
    "refund_issued": {"email": "ada@example.com", **PAYMENT, "refund_id": "rf_9", "refund_amount": "5.00 USD"},
    "password_reset": {"email": "ada@example.com", "token": "tok_secret_abc", "expires_at": "2030-01-01T00:30:00+00:00"},
}
SCRIPT = "<script>alert(1)</script>"


def test_the_contexts_cover_every_notification() -> None:
    assert set(CONTEXTS) == set(NOTIFICATIONS)


@pytest.mark.parametrize("name", NOTIFICATIONS)
def test_every_notification_renders_a_subject_a_text_and_an_html_body(name: str) -> None:
    rendered = render(name, CONTEXTS[name])

    assert isinstance(rendered, RenderedMessage)
    assert rendered.subject and "\n" not in rendered.subject and rendered.subject == rendered.subject.strip()
    assert "ada@example.com" in rendered.text and "ada@example.com" in rendered.html
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>") and "</html>" in rendered.html
    assert "{{" not in rendered.text + rendered.html + rendered.subject


def test_the_content_carries_the_values_each_notification_is_about() -> None:
    assert "pro" in render("welcome", CONTEXTS["welcome"]).text
    receipt = render("payment_receipt", CONTEXTS["payment_receipt"])
    assert "20.00 USD" in receipt.subject and "pay_123" in receipt.text and "Pro plan" in receipt.html
    failed = render("payment_failed", CONTEXTS["payment_failed"])
    assert "Your card was declined." in failed.text and "Your card was declined." in failed.html
    refund = render("refund_issued", CONTEXTS["refund_issued"])
    assert "5.00 USD" in refund.subject and "rf_9" in refund.text
    reset = render("password_reset", CONTEXTS["password_reset"])
    assert "tok_secret_abc" in reset.text and "tok_secret_abc" in reset.html


def test_an_empty_failure_message_is_left_out() -> None:
    rendered = render("payment_failed", {**CONTEXTS["payment_failed"], "failure_message": ""})
    assert "issuer said" not in rendered.text and "issuer said" not in rendered.html


@pytest.mark.parametrize("name", NOTIFICATIONS)
def test_user_data_is_escaped_in_html_and_kept_as_typed_in_text(name: str) -> None:
    context = {key: f"{value}{SCRIPT}" if key in ("email", "description", "plan", "failure_message") else value
               for key, value in CONTEXTS[name].items()}

    rendered = render(name, context)

    assert SCRIPT not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert SCRIPT in rendered.text


def test_markup_in_a_subject_value_stays_plain_text_on_one_line() -> None:
    rendered = render("payment_receipt", {**CONTEXTS["payment_receipt"], "amount": "1.00 USD\r\nBcc: x@evil.test"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


@pytest.mark.parametrize("name", NOTIFICATIONS)
def test_a_missing_variable_raises(name: str) -> None:
    for missing in CONTEXTS[name]:  # even those used only under `{% if %}`
        context = {key: value for key, value in CONTEXTS[name].items() if key != missing}
        with pytest.raises(RenderingError, match=missing):
            render(name, context)


def test_an_unknown_notification_raises() -> None:
    with pytest.raises(RenderingError, match="no notification template"):
        render("newsletter", {"email": "ada@example.com"})
