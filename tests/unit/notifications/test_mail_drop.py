"""The mail drop directory: where development e-mail goes, and its deprecated setting name."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from seawall.config import Settings
from seawall.notifications.mail_drop import drop_message


async def test_a_message_dropped_twice_leaves_one_file_named_by_its_message_id(tmp_path: Path) -> None:
    message = EmailMessage()
    message["Message-ID"] = "<ntf_1@seawall.invalid>"
    message.set_content("hello")
    first = await drop_message(tmp_path, message)
    second = await drop_message(tmp_path, message)
    assert first == second == tmp_path / "ntf_1@seawall.invalid.eml"
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_the_mail_drop_directory_defaults_under_var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEAWALL_MAIL_DROP_DIR", raising=False)
    monkeypatch.delenv("SEAWALL_OUTBOX_DIR", raising=False)
    assert Settings(var_dir=tmp_path).resolved_mail_drop_dir == tmp_path / "outbox"
    assert Settings(var_dir=tmp_path, mail_drop_dir=tmp_path / "mail").resolved_mail_drop_dir == tmp_path / "mail"


def test_the_old_outbox_dir_variable_still_sets_it_and_the_new_one_wins(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEAWALL_MAIL_DROP_DIR", raising=False)
    monkeypatch.setenv("SEAWALL_OUTBOX_DIR", str(tmp_path / "old"))
    assert Settings().resolved_mail_drop_dir == tmp_path / "old"
    monkeypatch.setenv("SEAWALL_MAIL_DROP_DIR", str(tmp_path / "new"))
    assert Settings().resolved_mail_drop_dir == tmp_path / "new"
