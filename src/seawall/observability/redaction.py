"""Scrub secrets from a log event before it is rendered: the `redact_secrets` structlog processor.

Two rules, applied to every value of the event (nested dicts, lists and tuples too):

1. **By name.** A value under a sensitive key (`is_sensitive_name`: password, secret, token,
   authorization, cookie, api key, signing key, card, CVC...) becomes `[redacted]` whatever it is,
   as does the second item of a `(name, value)` pair with a sensitive name (a list of headers).
2. **By shape.** Every string (the event itself, a stdlib record's message, a formatted traceback,
   `str(exc)`, the `repr` of any other object) is searched for secrets in the open (`scrub_text`):
   - `Bearer <token>` / `Basic <credentials>` (an Authorization header's value);
   - prefixed keys: `whsec_...` (webhook signing secrets), `sk_live_`/`sk_test_`/`rk_live_`/`rk_test_`
     (Stripe secret and restricted keys), `swop_...` (Seawall operator keys);
   - `name=value` / `name: value` / `"name": "value"` where the name is sensitive (a repr, a query string,
     a JSON text), and pydantic's `input_value=...` (a validation error quoting its input);
   - the password of a URL's userinfo (`scheme://user:password@host`);
   - card numbers: 13-19 digits (spaces or dashes allowed between them) starting with 2-6 (every major
     network's IIN range) that pass the Luhn check — ids and timestamps rarely do both;
   - opaque tokens: a run of 32-86 base64url characters with upper case, lower case and a digit
     (`secrets.token_urlsafe(24..64)`: session and reset tokens, the bodies of operator keys).
     Hex digests, request ids (`token_hex`) and ids (`usr_<hex>`) have no upper case and stay.

It runs after `format_exc_info`, so a traceback's text is scrubbed like any string. What matches is
replaced, never the whole line: the event stays readable. Cost: a string of up to 64 characters is
searched once per distinct value (most repeat: events, routes, methods, addresses), a longer one once
per line; `request_id` (checked against `web.middleware.REQUEST_ID` on the way in, unique per request)
and the keys the chain adds are not searched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from structlog.typing import EventDict, WrappedLogger

REDACTED = "[redacted]"

# Key names whose value is a secret wherever it appears (matched in the lower-cased name).
SENSITIVE_SUBSTRINGS = (
    "password", "passwd", "passphrase", "secret", "token", "authorization", "cookie", "credential",
    "apikey", "api_key", "api-key", "signingkey", "signing_key", "privatekey", "private_key",
    "accesskey", "access_key", "operatorkey", "operator_key",
)
# ... and short words that are sensitive only as a whole part of the name (`card_number`, not `discard`).
SENSITIVE_PARTS = frozenset({"card", "pan", "cvc", "cvv", "cvc2", "cvv2", "pin", "otp", "dsn"})
# Keys the chain adds, and `request_id` (of the `REQUEST_ID` shape, unique per request, on every request
# line): never secret, not worth a scan.
_CHAIN_KEYS = frozenset({"timestamp", "level", "logger", "trace_id", "span_id", "request_id"})

# Each alternative starts on a fixed word or character class, so a string without a suspect shape fails
# fast at every position (no alternative starts with an open-ended run that would be retried at each one).
_SECRET_SHAPES = re.compile(
    r"(?P<url>(?P<url_head>://[^\s:/@]*:)[^\s@/]+(?=@))"
    r"|(?P<scheme>\b(?:[Bb]earer|[Bb]asic|BEARER|BASIC))\s+[A-Za-z0-9._~+/=-]{6,}"
    r"|(?P<prefixed>\b(?:whsec|swop|sk_live|sk_test|rk_live|rk_test)_[A-Za-z0-9_+/=-]+)"
    r"|(?P<name>(?i:password|passwd|secret|token|api[_-]?key|authorization|cookie|cvc|cvv)[A-Za-z0-9_-]*)"
    r"(?P<sep>['\"]?\s*[:=]\s*)(?:(?i:bearer|basic|token|digest)\s+)?(?:'[^']*'|\"[^\"]*\"|[^\s,;&'\")}\]]+)"
    r"|(?P<pydantic>input_value=.*?(?=, input_type=))"
    r"|(?P<card>(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9]))"
    r"|(?P<opaque>(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,86}(?![A-Za-z0-9_-]))"
)


def passes_luhn(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes (ISO/IEC 7812-1 annex B)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _without_cards(text: str) -> str:
    """`text` (a run of digits, spaces and dashes) with each card number in it redacted: the earliest,
    longest 13-19 digit stretch starting with 2-6 that passes the Luhn check, then the same in the rest,
    so a card next to other digits (`4242 4242 4242 4242 12/30`, `retry 2 4242...`) is still found. A
    stretch starts and ends where digits do (a space or dash beside it), never inside a run of digits."""
    positions = [index for index, char in enumerate(text) if char.isdigit()]
    digits = "".join(text[index] for index in positions)

    def bounded(first: int, last: int) -> bool:
        return ((first == 0 or not text[first - 1].isdigit())
                and (last == len(text) - 1 or not text[last + 1].isdigit()))

    for start in range(len(digits) - 12):
        if digits[start] not in "23456":
            continue
        for length in range(min(19, len(digits) - start), 12, -1):
            first, last = positions[start], positions[start + length - 1]
            if bounded(first, last) and passes_luhn(digits[start:start + length]):
                return text[:first] + REDACTED + _without_cards(text[last + 1:])
    return text


def _is_opaque_token(text: str) -> bool:
    return (any(c.isupper() for c in text) and any(c.islower() for c in text)
            and any(c.isdigit() for c in text))


def _replace(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("url") is not None:
        return match.group("url_head") + "***"
    if match.group("scheme") is not None:
        return f"{match.group('scheme')} {REDACTED}"
    if match.group("name") is not None:
        return match.group("name") + match.group("sep") + REDACTED
    if match.group("pydantic") is not None:
        return f"input_value={REDACTED}"
    if match.group("card") is not None:
        return _without_cards(text)
    if match.group("opaque") is not None:
        return REDACTED if _is_opaque_token(text) else text
    return REDACTED  # a prefixed key


def scrub_text(text: str) -> str:
    """`text` with every secret of a known shape (module docstring) replaced; `text` itself when none."""
    if len(text) <= SHORT_TEXT:
        return _scrub_short(text)
    if _SECRET_SHAPES.search(text) is None:
        return text
    return _SECRET_SHAPES.sub(_replace, text)


SHORT_TEXT = 64  # strings up to this long are scrubbed once per value (most repeat: events, routes, methods)


@lru_cache(maxsize=4096)
def _scrub_short(text: str) -> str:
    return text if _SECRET_SHAPES.search(text) is None else _SECRET_SHAPES.sub(_replace, text)


@lru_cache(maxsize=1024)
def is_sensitive_name(name: str) -> bool:
    """Whether a value under the key `name` is a secret whatever it holds (`password`, `X-Api-Key`,
    `reset_token`, `card_number`, `cvc`; not `discarded`, `keys` or `idempotency_key`)."""
    lowered = name.lower()
    if any(word in lowered for word in SENSITIVE_SUBSTRINGS):
        return True
    return any(part in SENSITIVE_PARTS for part in re.split(r"[^a-z0-9]+", lowered))


def scrub(value: Any) -> Any:
    """`value` with secrets replaced (rules 1 and 2 of the module docstring); containers are copied,
    never changed in place. Anything but str, bytes, numbers, None and containers is scrubbed as its
    `repr` (what the JSON renderer would print)."""
    if isinstance(value, str):
        return scrub_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {key: REDACTED if isinstance(key, str) and is_sensitive_name(key) else scrub(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and isinstance(value[0], (str, bytes)) and _is_sensitive_label(value[0]):
            items = [scrub(value[0]), REDACTED]  # a (name, value) pair: a header, a form field
        else:
            items = [scrub(item) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, (bytes, bytearray)):
        return scrub_text(bytes(value).decode("latin-1"))
    return scrub_text(repr(value))


def _is_sensitive_label(label: str | bytes) -> bool:
    name = label.decode("latin-1") if isinstance(label, bytes) else label
    return len(name) <= 64 and is_sensitive_name(name)


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: every value of the event scrubbed (module docstring), keys kept."""
    for key, value in event_dict.items():
        if key in _CHAIN_KEYS:
            continue
        if is_sensitive_name(key):
            event_dict[key] = REDACTED
        elif type(value) is str:
            event_dict[key] = _scrub_short(value) if len(value) <= SHORT_TEXT else scrub_text(value)
        elif not (value is None or type(value) in _PLAIN):
            event_dict[key] = scrub(value)
    return event_dict


_PLAIN = frozenset({int, float, bool})
