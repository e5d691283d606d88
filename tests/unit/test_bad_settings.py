"""Describing invalid settings: one line per variable, by its environment name; a secret's value is
never repeated back."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from seawall.config import Settings, WebhookSettings, describe_invalid_settings


def invalid(settings_class: type[Any], **values: Any) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        settings_class(**values)
    return raised.value


def test_each_invalid_setting_is_one_line_named_by_its_variable() -> None:
    lines = describe_invalid_settings(invalid(Settings, port="eighty", worker_concurrency="many"))
    assert len(lines) == 2
    assert lines[0].startswith("SEAWALL_PORT: ") and lines[0].endswith("(got 'eighty')")
    assert lines[1].startswith("SEAWALL_WORKER_CONCURRENCY: ")


def test_nested_settings_are_named_with_their_own_prefix() -> None:
    [line] = describe_invalid_settings(invalid(WebhookSettings, timeout_seconds="soon"))
    assert line.startswith("SEAWALL_WEBHOOKS_TIMEOUT_SECONDS: ")


def test_a_secret_setting_is_named_but_its_value_is_not_repeated() -> None:
    [line] = describe_invalid_settings(invalid(Settings, stripe_api_key=4242424242))
    assert line.startswith("SEAWALL_STRIPE_API_KEY: ") and "4242424242" not in line
