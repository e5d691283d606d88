"""Stripe's wire format, as far as the sandbox speaks it: auth, form bodies, errors, search queries.

- Auth: `Authorization: Bearer sk_...`; anything else is a 401 with Stripe's error shape.
- Bodies: `application/x-www-form-urlencoded`, with Stripe's bracket syntax for hashes
  (`metadata[order]=42`) and lists (`expand[]=x`). Unknown parameters are refused, as Stripe does.
- Errors: `{"error": {"type", "message", "code"?, "decline_code"?, "param"?, "payment_intent"?}}`
  with Stripe's status codes; every response carries a `Request-Id`.
- Search: the subset of Stripe's search query language Seawall uses — clauses `field:'value'`
  joined by `AND`, where field is `metadata['key']`, `status` or `currency`.

No library implements Stripe's server side; these few rules are written out here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse

from seawall.kit.ids import new_id

ErrorType = str  # "api_error" | "card_error" | "idempotency_error" | "invalid_request_error"


class StripeAPIError(Exception):
    """An error answer in Stripe's shape; raised anywhere under `/v1`, rendered by `error_response`."""

    def __init__(
        self,
        status_code: int,
        *,
        type: ErrorType,
        message: str,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        payment_intent: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = dict(headers or {})
        self.error: dict[str, Any] = {"type": type, "message": message}
        optional = {"code": code, "decline_code": decline_code, "param": param, "payment_intent": payment_intent}
        self.error.update({name: value for name, value in optional.items() if value is not None})

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def invalid_request(message: str, *, code: str | None = None, param: str | None = None,
                    status_code: int = 400) -> StripeAPIError:
    return StripeAPIError(status_code, type="invalid_request_error", message=message, code=code, param=param)


def stripe_json(status_code: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Request-Id": new_id("req"), **(headers or {})})


def error_response(error: StripeAPIError) -> JSONResponse:
    return stripe_json(error.status_code, error.body(), error.headers)


async def handle_stripe_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StripeAPIError)
    return error_response(exc)


def mask_key(key: str) -> str:
    return f"{key[:8]}{'*' * max(len(key) - 12, 4)}{key[-4:] if len(key) > 12 else ''}"


def api_key_of(request: Request, allowed: Collection[str] | None) -> str:
    """The Bearer secret key of the request, or a Stripe-style 401."""
    authorization = request.headers.get("authorization")
    if not authorization:
        raise invalid_request(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            status_code=401,
        )
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith("sk_") or (allowed is not None and key not in allowed):
        raise invalid_request(f"Invalid API Key provided: {mask_key(key)}", status_code=401)
    return key


@dataclass
class FormParams:
    """A decoded form body: scalars, one level of hashes (`a[b]=c`) and lists (`a[]=c`)."""

    pairs: list[tuple[str, str]]
    scalars: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)

    def names(self) -> set[str]:
        return set(self.scalars) | set(self.hashes) | set(self.lists)

    def fingerprint(self) -> tuple[tuple[str, str], ...]:
        """What Stripe's idempotency layer compares: the parameters, regardless of their order."""
        return tuple(sorted(self.pairs))


_BRACKETED = re.compile(r"^(?P<name>[A-Za-z0-9_]+)\[(?P<key>[^\[\]]*)\]$")


def decode_form(body: bytes) -> FormParams:
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise invalid_request("Invalid request body: not UTF-8.") from exc
    params = FormParams(pairs=pairs)
    for name, value in pairs:
        match = _BRACKETED.match(name)
        if match is None:
            params.scalars[name] = value
        elif match["key"] == "":
            params.lists.setdefault(match["name"], []).append(value)
        else:
            params.hashes.setdefault(match["name"], {})[match["key"]] = value
    return params


async def read_form(request: Request, *, allowed: Collection[str]) -> FormParams:
    """Decode a POST body, refusing other content types and parameters the endpoint does not know."""
    content_type = request.headers.get("content-type", "application/x-www-form-urlencoded")
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise invalid_request(
            f"Invalid request: unsupported Content-Type {content_type}. "
            "Stripe's API expects application/x-www-form-urlencoded bodies."
        )
    params = decode_form(await request.body())
    for name in sorted(params.names()):
        if name not in allowed:
            raise invalid_request(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
    return params


def integer_param(params: FormParams, name: str, *, required: bool) -> int | None:
    raw = params.scalars.get(name)
    if raw is None:
        if required:
            raise invalid_request(f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    if not re.fullmatch(r"-?[0-9]+", raw):
        raise invalid_request(f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name)
    return int(raw)


def boolean_param(params: FormParams, name: str, *, default: bool) -> bool:
    raw = params.scalars.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise invalid_request(f"Invalid boolean: {raw}", code="parameter_invalid_boolean", param=name)
    return raw == "true"


def metadata_param(params: FormParams) -> dict[str, str]:
    """Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500."""
    metadata = {key: value for key, value in params.hashes.get("metadata", {}).items() if value != ""}
    if "metadata" in params.scalars and params.scalars["metadata"] != "":
        raise invalid_request("Invalid metadata: must be a hash.", code="parameter_invalid_string", param="metadata")
    if len(metadata) > 50:
        raise invalid_request("Invalid metadata: at most 50 keys.", param="metadata")
    for key, value in metadata.items():
        if len(key) > 40 or len(value) > 500:
            raise invalid_request(
                "Invalid metadata: keys are at most 40 characters and values at most 500.", param=f"metadata[{key}]"
            )
    return metadata


# ---- search queries ----------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"""\s*(?:metadata\[(?P<kq>['"])(?P<key>.+?)(?P=kq)\]|(?P<field>[a-z_]+))"""
    r"""\s*:\s*(?P<vq>['"])(?P<value>(?:\\.|(?!(?P=vq)).)*)(?P=vq)\s*"""
)
_AND = re.compile(r"AND\s", re.IGNORECASE)
SEARCHABLE_FIELDS = frozenset({"status", "currency"})


@dataclass(frozen=True)
class SearchClause:
    field: str  # "metadata" or a top-level field
    key: str | None  # the metadata key
    value: str

    def matches(self, document: Mapping[str, Any]) -> bool:
        if self.field == "metadata":
            return bool(document.get("metadata", {}).get(self.key) == self.value)
        return bool(str(document.get(self.field)) == self.value)


def parse_search_query(query: str) -> list[SearchClause]:
    """`metadata['seawall_payment_id']:'pay_1' AND status:'succeeded'` → clauses (all must match)."""
    clauses: list[SearchClause] = []
    position = 0
    while True:
        match = _CLAUSE.match(query, position)
        if match is None:
            raise invalid_request(f"Invalid query: could not parse '{query[position:]}'.",
                                  code="parameter_invalid_string", param="query")
        field_name = "metadata" if match["key"] is not None else match["field"]
        if field_name != "metadata" and field_name not in SEARCHABLE_FIELDS:
            raise invalid_request(f"Invalid query: the field '{field_name}' is not searchable in the sandbox.",
                                  param="query")
        value = re.sub(r"\\(.)", r"\1", match["value"])
        clauses.append(SearchClause(field=field_name, key=match["key"], value=value))
        position = match.end()
        if position == len(query):
            return clauses
        joiner = _AND.match(query, position)
        if joiner is None:
            raise invalid_request("Invalid query: only AND is supported between clauses in the sandbox.",
                                  param="query")
        position = joiner.end()
