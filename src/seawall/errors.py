"""Seawall's one error tree, mapped to one JSON shape at the HTTP edge.

Every error Seawall raises on purpose is a `SeawallError`. The generic classes live here; each
domain keeps its own subclasses in `seawall/<domain>/errors.py` (second column). The third column
is the HTTP status and `error_type` of the answer; the errors marked "inside workers" never reach
HTTP as such (their 500 is only the inherited default). A unit test checks every subclass is drawn.

    SeawallError                                              500 internal_error
    ├── SchemaNotCurrentError                                 503 schema_not_current
    ├── MigrationFailedError                                  500 migration_failed            migrate: one CLI line
    ├── BadRequestError                                       400 bad_request
    │   ├── InvalidResetTokenError             accounts       400 invalid_reset_token
    │   ├── IdempotencyKeyError                idempotency    400 idempotency_key_invalid
    │   ├── UnknownPlanError                   payments       400 unknown_plan
    │   ├── InvalidSignatureError              payments       400 invalid_signature
    │   └── UnknownEventTypeError              webhooks       400 unknown_event_type
    ├── UnauthorizedError                                     401 unauthorized
    │   ├── InvalidCredentialsError            accounts       401 invalid_credentials
    │   └── InvalidSessionError                accounts       401 invalid_session
    ├── ForbiddenError                                        403 forbidden
    │   ├── InvalidCurrentPasswordError        accounts       403 invalid_current_password
    │   └── SeawallSessionRequiredError        accounts       403 seawall_session_required
    ├── NotFoundError                                         404 not_found
    │   ├── PaymentNotFoundError               payments       404 payment_not_found
    │   ├── WebhookEndpointNotFoundError       webhooks       404 webhook_endpoint_not_found
    │   └── WebhookDeliveryNotFoundError       webhooks       404 webhook_delivery_not_found
    ├── ConflictError                                         409 conflict
    │   ├── IllegalTransitionError                            409 illegal_transition
    │   │   └── IllegalWebhookTransitionError  webhooks       409 illegal_webhook_transition
    │   ├── EmailTakenError                    accounts       409 email_taken
    │   ├── IdempotencyInFlightError           idempotency    409 idempotency_in_flight
    │   └── WebhookEndpointDisabledError       webhooks       409 webhook_endpoint_disabled
    ├── PayloadTooLargeError                                  413 payload_too_large
    ├── UnprocessableError                                    422 unprocessable
    │   ├── PlanPaymentNotDueError             accounts       422 plan_payment_not_due
    │   ├── IdempotencyMismatchError           idempotency    422 idempotency_key_reused
    │   ├── RefundNotAllowedError              payments       422 refund_not_allowed
    │   ├── WebhookUrlNotAllowedError          webhooks       422 webhook_url_not_allowed
    │   └── WebhookEndpointLimitError          webhooks       422 webhook_endpoint_limit
    ├── TooManyRequestsError                                  429 rate_limited
    ├── ServiceUnavailableError                               503 unavailable
    │   ├── DatabaseUnreachableError                          503 unavailable                 at startup: one CLI line
    │   └── CallRejectedError                  resilience     503 call_rejected               the call was not sent
    │       ├── CircuitOpenError               resilience     503 circuit_open
    │       └── BulkheadFullError              resilience     503 bulkhead_full
    ├── RenderingError                         notifications  500 rendering_error             inside workers
    ├── ProviderError                          providers      500 provider_error              inside workers
    │   ├── CardDeclinedError                  providers      500 card_declined
    │   ├── ProviderRejectedError              providers      500 provider_rejected
    │   └── ProviderUnavailableError           providers      500 provider_unavailable
    └── JobError                               jobs           500 job_error                   inside workers
        ├── RetryableJobError                  jobs           500 job_retryable
        │   └── DeferJobError                  jobs           500 job_deferred
        ├── PermanentJobError                  jobs           500 job_permanent
        ├── LeaseLostError                     jobs           500 job_lease_lost
        └── UnknownJobKindError                jobs           500 job_kind_unknown

Outside the tree, translated at the edge: `kit.pagination.InvalidCursorError` (kit knows nothing
of Seawall) → 400 bad_request; request validation → 422 validation_error; database busy or
unreachable → 503 unavailable; anything else → 500 internal_error (logged).

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


class MigrationFailedError(SeawallError):
    """A migration script failed while `seawall migrate` ran it (its transaction rolled back): the CLI
    prints `migration REV failed: <first line of the cause>` and exits 1."""

    error_type = "migration_failed"


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


class TooManyRequestsError(SeawallError):
    """A quota is spent; `retry_after` (whole seconds) becomes the `Retry-After` header."""

    status_code = 429
    error_type = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServiceUnavailableError(SeawallError):
    status_code = 503
    error_type = "unavailable"


class DatabaseUnreachableError(ServiceUnavailableError):
    """A process's first contact with the database failed (refused, unknown host, no such database,
    authentication): the CLI prints its message as one line and exits 1, instead of a traceback."""
