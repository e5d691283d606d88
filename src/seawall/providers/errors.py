"""Provider errors: vendor answers and transport failures, translated at the adapter boundary.

    SeawallError
    └── ProviderError                 provider, http_status, code, request_id
        ├── CardDeclinedError         the card was refused: a permanent business outcome
        │                             (code, decline_code, payment_intent_id)
        ├── ProviderRejectedError     the provider refused the request and will refuse it again:
        │                             invalid_request_error, idempotency_error, auth (error_kind, param)
        └── ProviderUnavailableError  transient; `outcome` says whether the provider may have acted:
                                        "not_processed"  it certainly did not (safe to fail over)
                                        "unknown"        it may have (retry the same provider with
                                                         the same idempotency key, or look it up)
                                      plus `retry_after` (seconds), `should_retry`, and
                                      `timed_out`: no answer came in time (a read, command or
                                      deadline timeout; the metrics' `timeout` outcome)

Classification follows Stripe's "Advanced error handling" and idempotency docs:

    connect error / connect timeout / pool timeout   not_processed   nothing was sent
    429 (rate limiters run before idempotency)       not_processed   honours Retry-After
    read / write timeout, dropped connection         unknown         the request may have run
    total deadline exceeded                          unknown
    500, 502, 503, 504, 424 and any other 5xx        unknown         Stripe: treat as indeterminate
    409 / idempotency_key_in_use                     unknown         a request with this key runs
    402 card_error                                   CardDeclinedError
    idempotency_error (key reused, other params)     ProviderRejectedError
    other 4xx                                        ProviderRejectedError
    `Stripe-Should-Retry: true` on any other error   unknown         the provider asks for a retry
    `Stripe-Should-Retry: false` on a 5xx            unknown, should_retry=False: retrying the same
                                                     request will not help; reconcile by lookup

Errors never carry the API key: messages are built from the status, the vendor's error `message`
(with `redact` applied) and the exception class name, and transport exceptions (whose request
holds the Authorization header) are not chained. They are raised inside job handlers and never
reach HTTP as such.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from seawall.errors import SeawallError

Outcome = Literal["not_processed", "unknown"]


class ProviderError(SeawallError):
    error_type = "provider_error"

    def __init__(self, message: str, *, provider: str, http_status: int | None = None,
                 code: str | None = None, request_id: str | None = None) -> None:
        details = {"provider": provider, "http_status": http_status, "code": code, "request_id": request_id}
        super().__init__(message, details={k: v for k, v in details.items() if v is not None})
        self.provider = provider
        self.http_status = http_status
        self.code = code
        self.request_id = request_id


class CardDeclinedError(ProviderError):
    error_type = "card_declined"

    def __init__(self, message: str, *, provider: str, code: str | None, decline_code: str | None,
                 payment_intent_id: str | None = None, http_status: int | None = 402,
                 request_id: str | None = None) -> None:
        super().__init__(message, provider=provider, http_status=http_status, code=code, request_id=request_id)
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class ProviderRejectedError(ProviderError):
    error_type = "provider_rejected"

    def __init__(self, message: str, *, provider: str, error_kind: str | None = None, param: str | None = None,
                 http_status: int | None = None, code: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message, provider=provider, http_status=http_status, code=code, request_id=request_id)
        self.error_kind = error_kind  # Stripe's error `type`, e.g. "invalid_request_error"
        self.param = param


class ProviderUnavailableError(ProviderError):
    error_type = "provider_unavailable"

    def __init__(self, message: str, *, provider: str, outcome: Outcome, retry_after: float | None = None,
                 should_retry: bool = True, http_status: int | None = None, code: str | None = None,
                 request_id: str | None = None, timed_out: bool = False) -> None:
        super().__init__(message, provider=provider, http_status=http_status, code=code, request_id=request_id)
        self.outcome: Outcome = outcome
        self.retry_after = retry_after
        self.should_retry = should_retry
        self.timed_out = timed_out

    @property
    def certainly_not_processed(self) -> bool:
        return self.outcome == "not_processed"


# ---- translation ---------------------------------------------------------------------------------

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def translate_transport_error(exc: BaseException, *, provider: str) -> ProviderUnavailableError:
    """A failure with no HTTP answer: `not_processed` only when the request certainly was not sent."""
    if isinstance(exc, _NOT_SENT):
        return ProviderUnavailableError(f"{provider}: request not sent ({type(exc).__name__})",
                                        provider=provider, outcome="not_processed")
    if isinstance(exc, TimeoutError):
        return ProviderUnavailableError(f"{provider}: no answer within the call deadline; outcome unknown",
                                        provider=provider, outcome="unknown", timed_out=True)
    return ProviderUnavailableError(f"{provider}: no complete answer ({type(exc).__name__}); outcome unknown",
                                    provider=provider, outcome="unknown",
                                    timed_out=isinstance(exc, httpx.TimeoutException))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds (delay-seconds or an HTTP-date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _should_retry(headers: Mapping[str, str]) -> bool | None:
    value = headers.get("stripe-should-retry")
    return None if value is None else value.strip().lower() == "true"


def _redacted(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def translate_stripe_error(*, status: int, headers: Mapping[str, str], body: Any, provider: str,
                           redact: Sequence[str] = ()) -> ProviderError:
    """Turn a non-2xx Stripe answer into the error tree (see the table in the module docstring)."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    kind = error.get("type")
    code = error.get("code")
    request_id = headers.get("request-id")
    should_retry = _should_retry(headers)
    retry_after = parse_retry_after(headers.get("retry-after"))
    vendor_message = _redacted(str(error.get("message") or ""), redact)
    summary = f"{provider}: HTTP {status}" + (f" {kind}" if kind else "") + (f" {code}" if code else "")
    detail = f"{summary}: {vendor_message}" if vendor_message else summary

    def unavailable(outcome: Outcome) -> ProviderUnavailableError:
        return ProviderUnavailableError(detail, provider=provider, outcome=outcome, retry_after=retry_after,
                                        should_retry=should_retry is not False, http_status=status, code=code,
                                        request_id=request_id)

    if status == 429:
        return unavailable("not_processed")
    if kind == "card_error":
        intent = error.get("payment_intent")
        return CardDeclinedError(
            detail, provider=provider, code=code, decline_code=error.get("decline_code"),
            payment_intent_id=intent.get("id") if isinstance(intent, dict) else None,
            http_status=status, request_id=request_id,
        )
    if code == "idempotency_key_in_use":
        return unavailable("unknown")
    if kind == "idempotency_error":
        return ProviderRejectedError(detail, provider=provider, error_kind=kind, http_status=status, code=code,
                                     request_id=request_id)
    if status >= 500 or status in (409, 424):
        return unavailable("unknown")
    if should_retry is True or status < 400:
        return unavailable("unknown")
    if status == 401:  # the vendor's message quotes (part of) the key: leave it out
        detail = f"{summary}: the API key was refused"
    return ProviderRejectedError(detail, provider=provider, error_kind=kind, param=error.get("param"),
                                 http_status=status, code=code, request_id=request_id)
