"""The mail drop directory, the development mail transport: each message is written to
`<mail drop directory>/<Message-ID>.eml` (`Settings.resolved_mail_drop_dir`), for a person or a test to read.
(Not the jobs table, which is Seawall's transactional outbox.)

Writes are atomic (temp file, fsync, rename) and keyed by the stable Message-ID, so a message sent
twice leaves one file: the redelivery is deduplicated by construction.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from email.message import EmailMessage
from pathlib import Path


def message_filename(message_id: str) -> str:
    return message_id.strip("<>").replace("/", "_") + ".eml"


def _write_atomically(directory: Path, message: EmailMessage) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / message_filename(str(message["Message-ID"]))
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".partial")  # never matches *.eml
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(message.as_bytes())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_path, target)
    except BaseException:
        Path(temp_path).unlink(missing_ok=True)
        raise
    return target


async def drop_message(directory: Path, message: EmailMessage) -> Path:
    """Write `message` to `directory` as `<Message-ID>.eml` (atomically; the same id replaces it); its path."""
    return await asyncio.to_thread(_write_atomically, directory, message)
