"""Keyset (cursor) pagination on (created_at, id), newest first: the cursor is opaque base64."""

from __future__ import annotations

import base64
from datetime import datetime

from seawall.errors import BadRequestError


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, prefix: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(created_at)
        if parsed.tzinfo is None or not row_id.startswith(prefix):
            raise ValueError(raw)
        return parsed, row_id
    except ValueError:
        raise BadRequestError("cursor is not valid", details={"cursor": cursor}) from None
