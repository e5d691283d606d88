"""The signed `Seawall-User` header Seawall adds to forwarded requests, so the legacy app can trust
Seawall's authentication (docs/legacy-bridge.md, "Auth bridging", has the algorithm for any language
and a worked example a unit test checks).

One header, five comma-separated fields (none can hold a comma: ids are `[A-Za-z0-9_.-]`, the
timestamp digits, the signature base64url):

    Seawall-User: v1,<key id>,<unix seconds>,<user id>,<signature>

`signature` = base64url without padding of HMAC-SHA256 (RFC 2104) keyed with the key's secret, over
the UTF-8 bytes of the lines `v1`, key id, timestamp, user id, METHOD, target, request id, joined by
"\\n" (no trailing newline). The target is the request target as the upstream receives it: the
upstream's path prefix, the raw path (percent-encoding kept) and `?query` when there is one; the
request id is the `X-Request-Id` the upstream receives. Binding method, target and request id means
a captured header cannot be replayed on another request, and the timestamp bounds its life (300 s
either side by default).

Contract:
- `ForwardedIdentity.headers(scope, request_id)`: the header for a request carrying a valid Seawall
  bearer token (looked up like `accounts.auth`: the process's session cache, else the database),
  signed with the first `SEAWALL_LEGACY_AUTH_KEYS` key; `[]` without a token, or with one that is
  unknown, revoked, expired or idle too long (the legacy app decides; the bridge never answers 401),
  and `[]` when a field is not printable ASCII. The database busy or unreachable:
  `ServiceUnavailableError` (503 `unavailable`; the caller answers it in the one error shape).
- `RESERVED_HEADERS`: the names the bridge strips from every client request: `seawall-user`, and its
  underscore spelling, which WSGI/CGI servers map to the same `HTTP_SEAWALL_USER` variable.
- `verify_seawall_user(...)`: the check for Python legacy apps; `SeawallUserRefused` says why not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.types import Scope

from seawall.accounts import service
from seawall.accounts.errors import InvalidSessionError
from seawall.accounts.service import SessionTiming
from seawall.accounts.session_cache import SessionCache
from seawall.config import Settings
from seawall.db import Database
from seawall.errors import ServiceUnavailableError
from seawall.kit.clock import Clock
from seawall.kit.tokens import token_digest
from seawall.legacy.keys import SigningKey, parse_signing_keys
from seawall.legacy.upstream import parse_upstream

HEADER = "seawall-user"
VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
# Headers a client may never send through the bridge (stripped from every forwarded request).
RESERVED_HEADERS: frozenset[bytes] = frozenset({b"seawall-user", b"seawall_user"})


class SeawallUserRefused(ValueError):  # noqa: N818 - read as "the Seawall-User header is refused"
    """The `Seawall-User` header is missing, malformed, signed with an unknown key, outside the
    timestamp window, or its signature does not match; the message says which (never a secret)."""


def signing_message(*, key_id: str, timestamp: int, user_id: str, method: str, target: str,
                    request_id: str) -> bytes:
    """The bytes the HMAC covers: the seven fields joined by "\\n", UTF-8."""
    return "\n".join((VERSION, key_id, str(timestamp), user_id, method.upper(), target, request_id)).encode("utf-8")


def _signature(secret: bytes, message: bytes) -> str:
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def sign_seawall_user(key: SigningKey, *, timestamp: int, user_id: str, method: str, target: str,
                      request_id: str) -> str:
    """The header's value. `ValueError` when a field is not printable ASCII (request targets are ASCII,
    RFC 9112 §3.2) or the user id holds a comma: such a request gets no header."""
    fields = (user_id, method, target, request_id)
    if "," in user_id or not all(field.isascii() and field.isprintable() for field in fields):
        raise ValueError("a field is not printable ASCII, or the user id holds a comma")
    message = signing_message(key_id=key.key_id, timestamp=timestamp, user_id=user_id, method=method,
                              target=target, request_id=request_id)
    return f"{VERSION},{key.key_id},{timestamp},{user_id},{_signature(key.secret, message)}"


def _header_values(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [value for name, value in items if name.lower().replace("_", "-") == HEADER]


def verify_seawall_user(headers: Mapping[str, str] | Iterable[tuple[str, str]],
                        keys: Mapping[str, str | bytes] | Iterable[SigningKey] | str, *, now: datetime | float,
                        tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS, method: str, target: str,
                        request_id: str) -> str:
    """The user id a valid `Seawall-User` header names; `SeawallUserRefused` otherwise.

    - `headers`: the request's headers (a mapping, or (name, value) pairs; names compared without
      case). Two or more `Seawall-User` headers are refused (a client slipped one past a proxy).
    - `keys`: the keys this app accepts, in one of three forms: a mapping {key id: secret (str or
      bytes)}, an iterable of `SigningKey`s, or the `SEAWALL_LEGACY_AUTH_KEYS` text (`id:secret,...`);
      the header's key id picks one, so during a rotation list both the old and the new. Any other
      form: `TypeError`; an empty id or secret, or malformed text: `ValueError` (checked before the
      header is read; neither message holds a secret). No key at all: every header is refused.
    - `now`: the current time (an aware datetime, or unix seconds); the header's timestamp must lie
      within `tolerance_seconds` of it, either side.
    - `method`, `target` (path + `?query` exactly as received, prefix included), `request_id` (the
      `X-Request-Id` received): the request the header must have been signed for.
    The signature is compared in constant time (`hmac.compare_digest`).
    """
    known = _known_keys(keys)
    values = _header_values(headers)
    if not values:
        raise SeawallUserRefused("no Seawall-User header")
    if len(values) > 1:
        raise SeawallUserRefused("more than one Seawall-User header")
    fields = values[0].strip().split(",")
    if len(fields) != 5 or fields[0] != VERSION:
        raise SeawallUserRefused("the Seawall-User header is not v1,<key id>,<timestamp>,<user id>,<signature>")
    _version, key_id, raw_timestamp, user_id, signature = fields
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 12 or not user_id:
        raise SeawallUserRefused("the Seawall-User header's timestamp or user id is malformed")
    key = known.get(key_id)
    if key is None:
        raise SeawallUserRefused(f"the Seawall-User header names an unknown key id {key_id!r}")
    timestamp = int(raw_timestamp)
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - timestamp) > tolerance_seconds:
        raise SeawallUserRefused("the Seawall-User header's timestamp is outside the accepted window")
    expected = _signature(key.secret, signing_message(key_id=key_id, timestamp=timestamp, user_id=user_id,
                                                      method=method, target=target, request_id=request_id))
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise SeawallUserRefused("the Seawall-User header's signature does not match this request")
    return user_id


def _known_keys(keys: object) -> dict[str, SigningKey]:
    """`verify_seawall_user`'s `keys` by key id (its three accepted forms); TypeError/ValueError else."""
    if isinstance(keys, str):
        found = parse_signing_keys(keys)  # ValueError names the entry, never the secret
    elif isinstance(keys, Mapping):
        found = []
        for key_id, secret in keys.items():
            if not isinstance(key_id, str) or not isinstance(secret, (str, bytes)):
                raise TypeError("keys: a mapping must map key ids (str) to secrets (str or bytes), got "
                                f"{type(key_id).__name__} -> {type(secret).__name__}")
            if not key_id or not secret:
                raise ValueError("keys: a mapping holds an empty key id or secret")
            found.append(SigningKey(key_id=key_id, secret=secret.encode("utf-8") if isinstance(secret, str)
                                    else bytes(secret)))
    elif isinstance(keys, (bytes, bytearray)) or not isinstance(keys, Iterable):
        raise TypeError("keys: expected a mapping {key id: secret}, SigningKey objects, or the "
                        f"SEAWALL_LEGACY_AUTH_KEYS text, got {type(keys).__name__}")
    else:
        found = list(keys)
        for key in found:
            if not isinstance(key, SigningKey):
                raise TypeError("keys: an iterable must hold SigningKey objects (or pass a mapping "
                                f"{{key id: secret}}), got a {type(key).__name__}")
    return {key.key_id: key for key in found}


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class ForwardedIdentity:
    """Signs `Seawall-User` for forwarded requests with the first configured key."""

    def __init__(self, key: SigningKey, *, prefix: str, database: Database, clock: Clock,
                 session_cache: SessionCache, timing: SessionTiming) -> None:
        self.key = key
        self.prefix = prefix  # the upstream's path prefix: part of the target the upstream receives
        self.database = database
        self.clock = clock
        self.session_cache = session_cache
        self.timing = timing

    @classmethod
    def build(cls, settings: Settings, *, database: Database, clock: Clock,
              session_cache: SessionCache) -> ForwardedIdentity | None:
        """None without `SEAWALL_LEGACY_AUTH_KEYS` (or without an upstream)."""
        if settings.legacy_auth_keys is None or settings.legacy_upstream is None:
            return None
        keys = parse_signing_keys(settings.legacy_auth_keys.get_secret_value())
        timing = SessionTiming(ttl=timedelta(hours=settings.session_ttl_hours),
                               idle=timedelta(minutes=settings.session_idle_minutes))
        return cls(keys[0], prefix=parse_upstream(settings.legacy_upstream).prefix, database=database,
                   clock=clock, session_cache=session_cache, timing=timing)

    async def user_id(self, scope: Scope) -> str | None:
        """The Seawall user of the request's bearer token, or None (no token, or not a live session)."""
        token = _bearer_token(scope)
        if token is None:
            return None
        digest = token_digest(token)
        principal = self.session_cache.get(digest, now=self.clock.now())
        if principal is None:
            lookup = self.session_cache.begin_lookup()
            try:
                principal = await service.resolve_session(self.database, clock=self.clock, timing=self.timing,
                                                          token=token)
            except InvalidSessionError:
                return None
            except (DBAPIError, SQLAlchemyTimeoutError) as exc:  # busy or unreachable: transient, as at the edge
                raise ServiceUnavailableError("the session could not be looked up: the database is unavailable"
                                              ) from exc
            self.session_cache.put(digest, principal, lookup=lookup)
        return principal.user.id

    def target(self, scope: Scope) -> str:
        """The request target as the upstream receives it (prefix, raw path, `?query`)."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        return self.prefix + raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")

    async def headers(self, scope: Scope, request_id: str) -> list[tuple[bytes, bytes]]:
        """The headers to add for this request's Seawall user ([] without a valid Seawall session)."""
        user_id = await self.user_id(scope)
        if user_id is None:
            return []
        timestamp = int(self.clock.now().timestamp())
        try:
            value = sign_seawall_user(self.key, timestamp=timestamp, user_id=user_id, method=scope["method"],
                                      target=self.target(scope), request_id=request_id)
        except ValueError:
            return []
        return [(HEADER.encode("ascii"), value.encode("latin-1"))]
