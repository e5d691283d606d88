"""Payments errors (see the tree in `seawall.errors`)."""

from __future__ import annotations

from seawall.errors import BadRequestError, NotFoundError, UnprocessableError


class PaymentNotFoundError(NotFoundError):
    error_type = "payment_not_found"


class RefundNotAllowedError(UnprocessableError):
    error_type = "refund_not_allowed"


class UnknownPlanError(BadRequestError):
    error_type = "unknown_plan"


class InvalidSignatureError(BadRequestError):
    """A provider event whose signature does not verify (missing, malformed, stale or wrong secret)."""

    error_type = "invalid_signature"
