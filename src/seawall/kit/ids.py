"""Public identifiers: a short type prefix and 128 random bits, e.g. `usr_3f2c...`."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
