"""Idempotency errors (see the tree in `seawall.errors`)."""

from __future__ import annotations

from seawall.errors import BadRequestError, ConflictError, UnprocessableError


class IdempotencyKeyError(BadRequestError):
    """The Idempotency-Key header is missing where required, too long, or not printable ASCII."""

    error_type = "idempotency_key_invalid"


class IdempotencyInFlightError(ConflictError):
    """A request with this key is still being processed."""

    error_type = "idempotency_in_flight"


class IdempotencyMismatchError(UnprocessableError):
    """The key was already used with a different request."""

    error_type = "idempotency_key_reused"
