"""Webhooks errors (see the tree in `seawall.errors`).

    NotFoundError          webhook_endpoint_not_found, webhook_delivery_not_found
    UnprocessableError     webhook_url_not_allowed (SSRF guard), webhook_endpoint_limit
    ConflictError          webhook_endpoint_disabled
    IllegalTransitionError illegal_webhook_transition
    BadRequestError        unknown_event_type (a publisher's mistake; never from a client)
"""

from __future__ import annotations

from seawall.errors import BadRequestError, ConflictError, IllegalTransitionError, NotFoundError, UnprocessableError


class WebhookEndpointNotFoundError(NotFoundError):
    error_type = "webhook_endpoint_not_found"


class WebhookDeliveryNotFoundError(NotFoundError):
    error_type = "webhook_delivery_not_found"


class WebhookUrlNotAllowedError(UnprocessableError):
    """`reason` names the refused address class; the HTTP message only shows it for IP literals, so
    endpoint creation is no oracle for what internal host names resolve to."""

    error_type = "webhook_url_not_allowed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class WebhookEndpointLimitError(UnprocessableError):
    error_type = "webhook_endpoint_limit"


class WebhookEndpointDisabledError(ConflictError):
    error_type = "webhook_endpoint_disabled"


class IllegalWebhookTransitionError(IllegalTransitionError):
    error_type = "illegal_webhook_transition"


class UnknownEventTypeError(BadRequestError):
    error_type = "unknown_event_type"
