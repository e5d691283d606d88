"""`SEAWALL_LEGACY_AUTH_KEYS`: the keys the `Seawall-User` header is signed with (`identity`).

Entries `key-id:secret`, separated by commas or whitespace; the first entry signs, and its id travels
in the header, so the legacy app looks the key up by id. A rotation: the legacy app learns the new key
(it accepts both), Seawall puts the new entry first, later both drop the old. The id matches
`[A-Za-z0-9_.-]{1,64}`; the secret is at least 32 characters (RFC 2104 §3: a key shorter than the
hash's output weakens it). Imports nothing of Seawall (`config` validates with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    secret: bytes


def parse_signing_keys(text: str) -> list[SigningKey]:
    """The entries in order. `ValueError` names the entry's position and problem, never a secret."""
    keys: list[SigningKey] = []
    for position, entry in enumerate(text.replace(",", " ").split(), start=1):
        key_id, colon, secret = entry.partition(":")
        if not colon or not _KEY_ID.fullmatch(key_id):
            raise ValueError(f"entry {position} is not `key-id:secret` with an id of [A-Za-z0-9_.-]{{1,64}}")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"entry {position}'s secret is shorter than {MIN_SECRET_LENGTH} characters")
        if any(key.key_id == key_id for key in keys):
            raise ValueError(f"entry {position} repeats the key id {key_id!r}")
        keys.append(SigningKey(key_id=key_id, secret=secret.encode("utf-8")))
    if not keys:
        raise ValueError("holds no key")
    return keys
