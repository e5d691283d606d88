"""Promise: every secret setting (every `SecretStr` field, found by type, not by a list) can come from
`SEAWALL_X` or from the file named by `SEAWALL_X_FILE` (Docker/Kubernetes secrets, one trailing
newline stripped); both set, or a file that cannot be read, is one line naming the variable and never
the content; and a secret is never repeated in a settings error, a repr, or the CLI's message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from seawall.config import (
    SettingError,
    Settings,
    WebhookSettings,
    describe_invalid_settings,
    is_secret_field,
    redact_secrets,
    reveal,
)

MARKER = "s3cr3t-Marker-7f1e"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("SEAWALL_"):
            monkeypatch.delenv(name)
    return monkeypatch


def secret_fields(settings_class: type[Settings] | type[WebhookSettings]) -> list[str]:
    return [name for name, field in settings_class.model_fields.items() if is_secret_field(field)]


def test_the_secret_settings_are_found_by_type_and_include_every_key_password_token_and_url() -> None:
    found = set(secret_fields(Settings))
    assert {"secret_key", "admin_api_key", "operator_keys", "smtp_password", "sms_auth_token", "stripe_api_key",
            "payments_fallback_api_key", "database_url", "database_replica_url", "redis_url", "broker_url"} <= found
    words = ("key", "secret", "token", "password", "_url")
    not_secrets = {"redis_key_prefix"}  # named like a secret, holds none (rate_limit_*: a limit per ...)
    plain = [name for name, field in Settings.model_fields.items()
             if any(word in name for word in words) and name not in found and name not in not_secrets
             and not name.startswith("rate_limit_")
             and field.annotation not in (int, float, bool, int | None, float | None)]
    assert not plain, f"settings named like secrets but not SecretStr: {plain}"
    assert all(isinstance(getattr(Settings(), name), SecretStr | None) for name in found)


@pytest.mark.parametrize("field", secret_fields(Settings))
def test_every_secret_setting_reads_its_file(field: str, clean_environment: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    value = "postgresql+asyncpg://user:" + MARKER + "@127.0.0.1/x" if field.endswith("_url") else MARKER
    if field == "operator_keys":
        value = "ci:read:" + "a" * 64
    if field == "legacy_auth_keys":  # `key-id:secret`, a secret of 32 characters or more
        value = "k1:" + MARKER + "x" * 32
    path = tmp_path / "secret"
    path.write_text(value + "\n")  # as `echo ... > file` and Kubernetes secrets made from literals write it
    clean_environment.setenv(f"SEAWALL_{field.upper()}_FILE", str(path))
    if field == "database_replica_url":  # a replica only with a PostgreSQL primary
        clean_environment.setenv("SEAWALL_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/seawall")
    if field == "legacy_auth_keys":  # keys only with the bridge's upstream
        clean_environment.setenv("SEAWALL_LEGACY_UPSTREAM", "http://127.0.0.1:9")
    assert reveal(getattr(Settings(), field)) == value


def test_only_one_trailing_newline_is_stripped_and_crlf_counts_as_one(clean_environment: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    path = tmp_path / "secret"
    clean_environment.setenv("SEAWALL_SECRET_KEY_FILE", str(path))
    for content, expected in [(MARKER, MARKER), (MARKER + "\n", MARKER), (MARKER + "\n\n", MARKER + "\n"),
                              (MARKER + "\r\n", MARKER), (" " + MARKER + " \n", " " + MARKER + " ")]:
        path.write_bytes(content.encode())
        assert reveal(Settings().secret_key) == expected, repr(content)


def test_the_environment_value_still_works(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("SEAWALL_STRIPE_API_KEY", MARKER)
    assert reveal(Settings().stripe_api_key) == MARKER


def test_nested_webhook_settings_use_the_same_rule(clean_environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """WebhookSettings has no secret field today; the rule is the base class's, so any it gains is covered."""
    class WithSecret(WebhookSettings):
        signing_secret: SecretStr | None = None

    path = tmp_path / "secret"
    path.write_text(MARKER + "\n")
    clean_environment.setenv("SEAWALL_WEBHOOKS_SIGNING_SECRET_FILE", str(path))
    assert reveal(WithSecret().signing_secret) == MARKER


def test_both_variables_set_is_a_setting_error_naming_both(clean_environment: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(MARKER)
    clean_environment.setenv("SEAWALL_SMTP_PASSWORD", MARKER)
    clean_environment.setenv("SEAWALL_SMTP_PASSWORD_FILE", str(path))
    with pytest.raises(SettingError) as raised:
        Settings()
    assert "SEAWALL_SMTP_PASSWORD and SEAWALL_SMTP_PASSWORD_FILE" in str(raised.value)
    assert MARKER not in str(raised.value)


@pytest.mark.parametrize("kind", ["missing", "directory", "unreadable", "not-utf8"])
def test_an_unreadable_file_names_the_variable_never_the_content(kind: str, clean_environment: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "secret"
    if kind == "directory":
        path.mkdir()
    elif kind == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads every file")
        path.write_text(MARKER)
        path.chmod(0)
    elif kind == "not-utf8":
        path.write_bytes(MARKER.encode() + b"\xff\xfe")
    clean_environment.setenv("SEAWALL_SECRET_KEY_FILE", str(path))
    with pytest.raises(SettingError) as raised:
        Settings()
    assert raised.value.variable == "SEAWALL_SECRET_KEY_FILE"
    assert MARKER not in str(raised.value)


def test_constructor_values_win_and_leave_the_file_unread(clean_environment: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    clean_environment.setenv("SEAWALL_SECRET_KEY_FILE", str(tmp_path / "absent"))
    assert reveal(Settings(secret_key="given").secret_key) == "given"


def test_a_secret_is_never_in_a_repr_or_a_validation_message(clean_environment: pytest.MonkeyPatch) -> None:
    settings = Settings(database_url=f"postgresql+asyncpg://app:{MARKER}@db/x", redis_url=f"redis://:{MARKER}@r/0",
                        broker_url=f"amqp://app:{MARKER}@mq/", smtp_password=MARKER, admin_api_key=MARKER)
    assert MARKER not in repr(settings) and MARKER not in str(settings)
    with pytest.raises(ValidationError) as raised:
        Settings(operator_keys=f"ci:read:{MARKER}")
    [line] = describe_invalid_settings(raised.value)
    assert line.startswith("SEAWALL_OPERATOR_KEYS: ") and MARKER not in line
    assert MARKER not in redact_secrets(f"could not connect to redis://:{MARKER}@r/0 ({MARKER})", settings)


def run_seawall(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SEAWALL_")}
    env.update(environment)
    return subprocess.run([sys.executable, "-m", "seawall", *args], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)


def test_the_cli_prints_one_line_naming_both_variables_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(MARKER)
    result = run_seawall({"SEAWALL_VAR_DIR": str(tmp_path), "SEAWALL_SECRET_KEY": MARKER,
                          "SEAWALL_SECRET_KEY_FILE": str(path)}, "doctor")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "seawall: SEAWALL_SECRET_KEY and SEAWALL_SECRET_KEY_FILE are both set: set one (the value, or the file "
        "that holds it)"]
    assert MARKER not in result.stdout + result.stderr
