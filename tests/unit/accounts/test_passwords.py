"""Argon2id with at least OWASP's minimum parameters; unknown users cost the same and never verify."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from seawall.accounts.passwords import Passwords
from seawall.config import Settings

HASH_FORMAT = re.compile(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+")


@pytest.fixture
def default_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("SEAWALL_ARGON2_TIME_COST", "SEAWALL_ARGON2_MEMORY_KIB", "SEAWALL_ARGON2_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    return Settings()


async def test_default_hash_is_argon2id_with_owasp_minimum_parameters(default_settings: Settings) -> None:
    password_hash = await Passwords(default_settings).hash("correct horse battery staple")
    match = HASH_FORMAT.fullmatch(password_hash)
    assert match, password_hash
    memory_kib, time_cost, parallelism = (int(group) for group in match.groups())
    assert memory_kib >= 19_456 and time_cost >= 2 and parallelism >= 1


@pytest.mark.parametrize(
    "weaker", [{"argon2_memory_kib": 19_455}, {"argon2_time_cost": 1}, {"argon2_parallelism": 0}]
)
def test_settings_refuse_parameters_below_the_minimum(weaker: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        Settings(**weaker)  # type: ignore[arg-type]


async def test_verify_accepts_only_the_exact_password(default_settings: Settings) -> None:
    passwords = Passwords(default_settings)
    password = "p" * 127 + "!"
    password_hash = await passwords.hash(password)
    assert await passwords.verify(password_hash, password)
    assert not await passwords.verify(password_hash, password[:-1] + "?")
    assert not await passwords.verify(password_hash, password[:72])


async def test_unknown_user_never_verifies(default_settings: Settings) -> None:
    passwords = Passwords(default_settings)
    assert not await passwords.verify(None, "seawall-dummy-password-for-constant-work")
    assert not await passwords.verify(None, "anything at all here")


async def test_weaker_hashes_are_flagged_for_rehash(default_settings: Settings) -> None:
    passwords = Passwords(default_settings)
    stronger = Passwords(default_settings.model_copy(update={"argon2_time_cost": 3}))
    assert stronger.needs_rehash(await passwords.hash("some long password"))
    assert not passwords.needs_rehash(await passwords.hash("some long password"))
