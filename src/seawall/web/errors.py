"""Map every error to the one JSON shape: `{"error": {"type", "message", "details"?}}`.

`ErrorBody` is that shape as a pydantic model, for the OpenAPI schema only (answers are built by the
handlers below and by the pure ASGI middleware, which do not go through it). `error_responses(401,
404)` is what a route passes to `responses=` to declare the error statuses it can answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from seawall.errors import SeawallError, ServiceUnavailableError, TooManyRequestsError, UnauthorizedError
from seawall.kit.pagination import InvalidCursorError
from seawall.web.middleware import LOG_CONTEXT

log = structlog.get_logger("seawall.web")
MAX_VALIDATION_DETAILS = 20

HTTP_ERROR_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    502: "bad_gateway",
    504: "gateway_timeout",
}

# What each declared status means, across routes (the `type` values a client can meet).
ERROR_DESCRIPTIONS = {
    400: "Bad request: `bad_request`, `idempotency_key_invalid` (missing or malformed Idempotency-Key), "
         "or a domain error such as `unknown_plan`, `invalid_reset_token`",
    401: "Unauthorized: `unauthorized`, `invalid_session`, `invalid_credentials`",
    403: "Forbidden: `forbidden` (e.g. an operator key of scope `read` on a route that changes something), "
         "`invalid_current_password` (a password change whose current password is wrong), "
         "`seawall_session_required` (a legacy session cookie on a route acting on the Seawall session)",
    404: "Not found: `not_found` or a domain's `*_not_found` (also every admin route while "
         "no operator key is configured: neither `SEAWALL_OPERATOR_KEYS` nor `SEAWALL_ADMIN_API_KEY`)",
    409: "Conflict: `idempotency_in_flight` (a request with this Idempotency-Key is still running; retry "
         "later) or a state conflict such as `email_taken`",
    413: "Payload too large: `payload_too_large` (over `SEAWALL_MAX_BODY_BYTES`)",
    415: "Unsupported media type: `unsupported_media_type`",
    422: "Unprocessable: `validation_error` (details list each problem), `idempotency_key_reused` (the key "
         "was used with a different request), or a business rule such as `refund_not_allowed`",
    429: "Rate limited: `rate_limited` (details name the policy); `Retry-After` says when to try again",
    502: "Bad gateway: `bad_gateway` (a forwarded route: the legacy upstream could not be reached or "
         "broke the exchange; docs/legacy-bridge.md)",
    503: "Unavailable, retry shortly (`Retry-After`): `overloaded` (this server has its maximum of requests "
         "in flight; retry, ideally with backoff), `unavailable` (database busy or unreachable, or rate "
         "limiting unavailable), `schema_not_current`, or `upstream_unavailable` (a forwarded route: the "
         "legacy upstream's breaker is open or its concurrency cap reached)",
    504: "Gateway timeout: `gateway_timeout` (a forwarded route: the legacy upstream did not answer in time)",
}


class ErrorDetail(BaseModel):
    type: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"type": str, "message": str, "details"?: any}}`."""

    error: ErrorDetail


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries declaring these error statuses in the one error shape.

    Raises `ValueError` for a status with no entry in `ERROR_DESCRIPTIONS` (declare a new one there).
    """
    unknown = [code for code in status_codes if code not in ERROR_DESCRIPTIONS]
    if unknown:
        raise ValueError(f"no error description for status {unknown}")
    return {code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in status_codes}


def error_response(status_code: int, error_type: str, message: str, details: Any = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status_code, headers=headers)


async def _seawall_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SeawallError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after)}
    elif isinstance(exc, ServiceUnavailableError):  # transient, like the database's 503s: retry shortly
        headers = {"Retry-After": "1"}
    if exc.status_code >= 500:
        log.error("request.failed", error_type=exc.error_type, message=exc.message)
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)


async def _invalid_cursor(_request: Request, exc: Exception) -> JSONResponse:
    """A list's `cursor` that no page handed out (kit's error, outside the tree): 400 `bad_request`."""
    assert isinstance(exc, InvalidCursorError)
    return error_response(400, "bad_request", "cursor is not valid", {"cursor": exc.cursor})


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the input back: it may hold a password.
    # At most MAX_VALIDATION_DETAILS problems: 6,000 unknown keys in a 60 kB body must not make a 600 kB answer.
    details = [
        {"loc": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in itertools.islice(exc.errors(), MAX_VALIDATION_DETAILS)
    ]
    return error_response(422, "validation_error", "the request is not valid", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, error_type, str(exc.detail), headers=exc.headers)


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """Lock timeouts, dropped connections, a full pool: transient, so 503 with Retry-After, not 500."""
    log.warning("request.database_unavailable", error=type(exc).__name__, detail=next(iter(str(exc).splitlines()), ""))
    return error_response(503, "unavailable", "the database is busy or unreachable; retry shortly",
                          headers={"Retry-After": "1"})


# SQLSTATE classes of a server that cannot take the statement now, whatever the statement: 08 connection
# exception, 53 insufficient resources (53300 too_many_connections), 57P operator intervention (shutdown,
# starting up). https://www.postgresql.org/docs/current/errcodes-appendix.html
TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P")


def is_transient(exc: DBAPIError) -> bool:
    """Whether `exc` says the database could not serve now (retry shortly), not that the statement is wrong."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    return exc.connection_invalidated or sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A driver error on a connection the pool has just dropped as broken (`connection_invalidated`: the
    server restarted or ended the session), or one whose SQLSTATE says the server cannot serve now (too
    many clients, shutting down), is transient like the others: 503. Anything else is a bug: 500."""
    if isinstance(exc, DBAPIError) and is_transient(exc):
        return await _database_unavailable(request, exc)
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """500. Raised past every middleware, the error reaches this handler after the request id's binding
    has ended: bind it again for the line, and echo it (the request id middleware can no longer)."""
    bound: dict[str, str] = request.scope.get(LOG_CONTEXT, {})
    echo = "request_id" in bound and "request_id" not in structlog.contextvars.get_contextvars()
    with structlog.contextvars.bound_contextvars(**bound):
        log.exception("request.unexpected_error", error=repr(exc))
    return error_response(500, "internal_error", "an internal error occurred; it has been logged",
                          headers={"X-Request-ID": bound["request_id"]} if echo else None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SeawallError, _seawall_error)
    app.add_exception_handler(InvalidCursorError, _invalid_cursor)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(InterfaceError, _database_unavailable)
    app.add_exception_handler(SQLAlchemyTimeoutError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    # Opening a connection to a server that is down or restarting: asyncpg raises the socket's own error
    # (ConnectionRefusedError) or a connect timeout, not a DBAPIError (seen in `seawall chaos` while
    # PostgreSQL restarted). Transient like the others: 503 with Retry-After, never a 500.
    app.add_exception_handler(ConnectionError, _database_unavailable)
    app.add_exception_handler(TimeoutError, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)
