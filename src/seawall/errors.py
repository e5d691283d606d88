"""Seawall's one error tree, mapped to one JSON shape at the HTTP edge.

    SeawallError                      500 internal_error
    ├── SchemaNotCurrentError         503 schema_not_current
    ├── BadRequestError               400 bad_request
    │   └── IdempotencyKeyError       400 idempotency_key_invalid
    ├── UnauthorizedError             401 unauthorized
    ├── ForbiddenError                403 forbidden
    ├── NotFoundError                 404 not_found
    ├── ConflictError                 409 conflict
    │   └── IdempotencyInFlightError  409 idempotency_in_flight
    ├── PayloadTooLargeError          413 payload_too_large
    ├── UnprocessableError            422 unprocessable
    │   └── IdempotencyMismatchError  422 idempotency_key_reused
    ├── ServiceUnavailableError       503 unavailable
    ├── accounts.errors.*             (subclasses of the above)
    └── jobs.errors.JobError          (raised inside workers; never reaches HTTP)

The wire shape is `{"error": {"type": str, "message": str, "details"?: any}}`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SeawallError(Exception):
    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class SchemaNotCurrentError(SeawallError):
    status_code = 503
    error_type = "schema_not_current"


class BadRequestError(SeawallError):
    status_code = 400
    error_type = "bad_request"


class UnauthorizedError(SeawallError):
    status_code = 401
    error_type = "unauthorized"


class ForbiddenError(SeawallError):
    status_code = 403
    error_type = "forbidden"


class NotFoundError(SeawallError):
    status_code = 404
    error_type = "not_found"


class ConflictError(SeawallError):
    status_code = 409
    error_type = "conflict"


class IllegalTransitionError(ConflictError):
    """A status change its state machine's table does not allow (see `kit.transitions`)."""

    error_type = "illegal_transition"


class PayloadTooLargeError(SeawallError):
    status_code = 413
    error_type = "payload_too_large"


class UnprocessableError(SeawallError):
    status_code = 422
    error_type = "unprocessable"


class ServiceUnavailableError(SeawallError):
    status_code = 503
    error_type = "unavailable"
