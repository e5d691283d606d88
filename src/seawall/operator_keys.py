"""Named operator keys with scopes: the format of `SEAWALL_OPERATOR_KEYS` and the lookup of a bearer key.

A configured entry is `name:scope:digest` — `name` matches `[a-z0-9][a-z0-9_.-]{0,63}`, `scope` is
`read` (GET routes under /admin), `operate` (every /admin route) or `metrics` (`GET /metrics` only:
the key a Prometheus server scrapes with; `read` and `operate` keys may scrape too), `digest` is the lowercase hex
SHA-256 of the key's UTF-8 bytes. Entries are separated by commas or whitespace (a `*_FILE` holds
one per line; lines starting with `#` are comments). Only digests are configured, never keys: a key
has 256 bits of entropy (`new_operator_key`), so a fast hash is enough, as for session tokens.

Several entries may be valid at once; that is how a key is rotated without downtime (add the new
entry, roll it out, hand the key over, remove the old entry). `SEAWALL_ADMIN_API_KEY`, when set,
is one more key named `admin` with scope `operate`.

`parse_operator_keys` raises `ValueError` naming the entry's position and problem, never its digest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

KEY_PREFIX = "swop_"  # makes a leaked key recognisable to secret scanners
ADMIN_KEY_NAME = "admin"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class OperatorScope(StrEnum):
    READ = "read"  # GET (and HEAD) routes under /admin
    OPERATE = "operate"  # every route under /admin, the mutating ones too
    METRICS = "metrics"  # GET /metrics only (a scraper's key); no /admin route

    def allows(self, method: str) -> bool:
        """Whether this scope may call an /admin route with `method` (every scope may scrape /metrics)."""
        if self is OperatorScope.METRICS:
            return False
        return self is OperatorScope.OPERATE or method.upper() in ("GET", "HEAD")


@dataclass(frozen=True)
class OperatorKey:
    """A configured key: its name and scope, and the SHA-256 hex digest of the key."""

    name: str
    scope: OperatorScope
    digest: str

    @property
    def entry(self) -> str:
        return f"{self.name}:{self.scope.value}:{self.digest}"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_operator_key() -> str:
    """A fresh key: `swop_` and 43 urlsafe base64 characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError("a key name is 1-64 of a-z 0-9 _ . - (starting with a letter or digit)")
    return name


def parse_operator_keys(text: str) -> tuple[OperatorKey, ...]:
    """The entries of `text` (see the module docstring); names must be unique."""
    keys: list[OperatorKey] = []
    lines = [line for line in text.splitlines() if not line.strip().startswith("#")]
    entries = [entry for line in lines for entry in re.split(r"[,\s]+", line) if entry]
    for position, entry in enumerate(entries, start=1):
        parts = entry.split(":")
        if len(parts) != 3:
            raise ValueError(f"entry {position} is not name:scope:sha256-hex-digest")
        name, scope, digest = parts
        try:
            validate_name(name)
        except ValueError as exc:
            raise ValueError(f"entry {position}: {exc}") from None
        if scope not in OperatorScope.__members__.values():
            raise ValueError(f"entry {position} ({name}): the scope is read, operate or metrics")
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"entry {position} ({name}): the digest is 64 lowercase hex digits (SHA-256)")
        keys.append(OperatorKey(name=name, scope=OperatorScope(scope), digest=digest))
        _refuse_repeats(keys, position)
    return tuple(keys)


def _refuse_repeats(keys: list[OperatorKey], position: int | str) -> None:
    """`ValueError` when the newest of `keys` repeats a name or a digest (one key, two scopes)."""
    newest, earlier = keys[-1], keys[:-1]
    if any(key.name == newest.name for key in earlier):
        raise ValueError(f"entry {position}: the name {newest.name} is used twice")
    if any(key.digest == newest.digest for key in earlier):
        raise ValueError(f"entry {position} ({newest.name}): the same key is listed twice")


@dataclass(frozen=True)
class OperatorKeyRing:
    """Every key valid now; empty means the operator API is off."""

    keys: tuple[OperatorKey, ...]

    def find(self, presented: str) -> OperatorKey | None:
        """The key whose digest is the presented key's; every entry is compared in constant time."""
        digest = key_digest(presented).encode()
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest.encode()) and found is None:
                found = key
        return found


@lru_cache(maxsize=8)
def key_ring(operator_keys: str | None, admin_api_key: str | None) -> OperatorKeyRing:
    """The ring of `SEAWALL_OPERATOR_KEYS` plus `SEAWALL_ADMIN_API_KEY` (as `admin:operate`).

    Raises `ValueError` when the admin key repeats a name or a key of `operator_keys`."""
    keys = list(parse_operator_keys(operator_keys or ""))
    if admin_api_key:
        keys.append(OperatorKey(name=ADMIN_KEY_NAME, scope=OperatorScope.OPERATE, digest=key_digest(admin_api_key)))
        _refuse_repeats(keys, "SEAWALL_ADMIN_API_KEY")
    return OperatorKeyRing(tuple(keys))
