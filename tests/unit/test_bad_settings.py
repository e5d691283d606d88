"""Describing invalid settings: one line per variable, by its environment name; a secret's value is
never repeated back."""

from __future__ import annotations

from pathlib import Path
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


UPSTREAM = {"legacy_upstream": "http://127.0.0.1:9"}


@pytest.mark.parametrize(("values", "variable", "says"), [
    # Half of the legacy session pair: the other half named.
    ({**UPSTREAM, "legacy_session_cookie": "sid"}, "SEAWALL_LEGACY_SESSION_INTROSPECTION_PATH",
     "SEAWALL_LEGACY_SESSION_COOKIE"),
    ({**UPSTREAM, "legacy_session_introspection_path": "/internal/session"},
     "SEAWALL_LEGACY_SESSION_INTROSPECTION_PATH", "needs SEAWALL_LEGACY_SESSION_COOKIE"),
    # A legacy setting without the upstream (no bridge): the setting named, and the upstream.
    ({"legacy_session_cookie": "sid", "legacy_session_introspection_path": "/internal/session"},
     "SEAWALL_LEGACY_SESSION_COOKIE", "SEAWALL_LEGACY_UPSTREAM"),
    ({"legacy_session_cookie": "sid"}, "SEAWALL_LEGACY_SESSION_COOKIE", "SEAWALL_LEGACY_UPSTREAM"),
    ({"legacy_auth_keys": "k1:" + "s" * 32}, "SEAWALL_LEGACY_AUTH_KEYS", "SEAWALL_LEGACY_UPSTREAM"),
    ({"legacy_max_connections": 10, "legacy_max_keepalive_connections": 11, **UPSTREAM},
     "SEAWALL_LEGACY_MAX_KEEPALIVE_CONNECTIONS", "SEAWALL_LEGACY_MAX_CONNECTIONS (10)"),
    ({"legacy_max_keepalive_connections": 101}, "SEAWALL_LEGACY_MAX_KEEPALIVE_CONNECTIONS",
     "SEAWALL_LEGACY_MAX_CONNECTIONS (100)"),
])
def test_a_half_configured_legacy_bridge_is_one_line_naming_the_variable(
    values: dict[str, Any], variable: str, says: str,
) -> None:
    [line] = describe_invalid_settings(invalid(Settings, **values))
    assert line.startswith(f"{variable}: ") and says in line, line
    assert "s" * 32 not in line  # the keys are a secret


def test_a_legacy_routes_table_without_the_upstream_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "routes.toml"
    table.write_text('[[route]]\npath = "/v1/signups"\nmode = "seawall"\n')
    [line] = describe_invalid_settings(invalid(Settings, legacy_routes=table))
    assert line.startswith("SEAWALL_LEGACY_ROUTES: ") and "SEAWALL_LEGACY_UPSTREAM" in line, line
    assert Settings(legacy_routes=table, **UPSTREAM).legacy_routes == table


def test_a_whole_legacy_bridge_configuration_is_accepted() -> None:
    settings = Settings(**UPSTREAM, legacy_session_cookie="sid", legacy_session_introspection_path="/internal/session",
                        legacy_auth_keys="k1:" + "s" * 32, legacy_max_connections=10,
                        legacy_max_keepalive_connections=10)
    assert (settings.legacy_session_cookie, settings.legacy_session_introspection_path) == ("sid", "/internal/session")
    assert Settings(legacy_session_cookie="", legacy_session_introspection_path="").legacy_session_cookie is None
