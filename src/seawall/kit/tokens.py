"""Opaque bearer secrets: generated with `secrets`, stored only as their SHA-256 digest.

The tokens carry 256 bits of entropy, so a fast hash is enough (no password stretching needed) and
lookups by digest are exact-match index reads.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))
