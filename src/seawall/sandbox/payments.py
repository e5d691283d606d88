"""The fake Stripe: the PaymentIntents and Refunds subset Seawall uses, with Stripe's semantics.

Endpoints (all need `Authorization: Bearer sk_...`):

    POST /v1/payment_intents            amount, currency, payment_method, confirm, description, metadata[k]
    GET  /v1/payment_intents/search     query=metadata['seawall_payment_id']:'pay_...'
    GET  /v1/payment_intents/{id}
    POST /v1/refunds                    payment_intent, amount (default: what is left), reason, metadata[k]
    GET  /v1/refunds                    payment_intent, limit (1-100, default 10), starting_after,
                                        ending_before: newest first, `has_more` (Stripe's list shape)
    GET  /v1/refunds/{id}

Test payment methods behave like Stripe's: `pm_card_visa` (and mastercard, amex) succeed;
`pm_card_chargeDeclined*` answer 402 `card_error` and leave the intent in `requires_payment_method`
with `last_payment_error` (see `TEST_PAYMENT_METHODS`).

Idempotency as Stripe documents it: a POST's result (status and body) is saved per
(API key, `Idempotency-Key`) once execution begins — successes and card declines alike — and a
retry with the same key and the same parameters gets it back with `Idempotent-Replayed: true`;
the same key with other parameters or another endpoint is a 400 `idempotency_error`. Requests
refused before execution (bad parameters, auth, injected faults) save nothing, so they may be
retried. Stripe may prune a key once it is at least 24 hours old, and a request reusing a pruned key
runs again; the sandbox keeps keys until told to forget them (`PaymentsLedger.forget_idempotency_keys`,
`POST /_sandbox/payments/idempotency/forget`), which is that pruning, on demand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from seawall.kit.ids import new_id
from seawall.sandbox.wire import (
    FormParams,
    StripeAPIError,
    api_key_of,
    boolean_param,
    integer_param,
    invalid_request,
    metadata_param,
    parse_search_query,
    read_form,
    stripe_json,
)

SEAWALL_PAYMENT_ID = "seawall_payment_id"  # the metadata key Seawall tags its intents with
MIN_AMOUNT = 50  # Stripe's minimum charge in the smallest currency unit (50 cents for usd)
MAX_AMOUNT = 99_999_999


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


TEST_PAYMENT_METHODS: dict[str, Decline | None] = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_amex": None,
    "pm_card_chargeDeclined": Decline("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": Decline(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "pm_card_chargeDeclinedFraudulent": Decline("card_declined", "fraudulent", "Your card was declined."),
    "pm_card_chargeDeclinedExpiredCard": Decline("expired_card", "expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": Decline(
        "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "pm_card_chargeDeclinedProcessingError": Decline(
        "processing_error", "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}


@dataclass
class IntentRecord:
    id: str
    amount: int
    currency: str
    status: str
    payment_method: str | None
    description: str | None
    metadata: dict[str, str]
    created: int
    amount_received: int = 0
    latest_charge: str | None = None
    last_payment_error: dict[str, Any] | None = None
    succeeded_at: float | None = None  # time.time() when a confirm captured it (sandbox only, not in Stripe's shape)

    @property
    def seawall_payment_id(self) -> str | None:
        return self.metadata.get(SEAWALL_PAYMENT_ID)

    def to_stripe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_received": self.amount_received,
            "capture_method": "automatic",
            "client_secret": f"{self.id}_secret_{self.id[-8:]}",
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": self.latest_charge,
            "livemode": False,
            "metadata": dict(self.metadata),
            "payment_method": self.payment_method,
            "payment_method_types": ["card"],
            "status": self.status,
        }


@dataclass
class RefundRecord:
    id: str
    amount: int
    currency: str
    payment_intent: str
    charge: str | None
    reason: str | None
    metadata: dict[str, str]
    created: int
    status: str = "succeeded"

    def to_stripe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "metadata": dict(self.metadata),
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "status": self.status,
        }


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: tuple[Any, ...]
    status_code: int
    body: dict[str, Any]
    request_id: str


@dataclass
class PaymentsLedger:
    """Everything the fake Stripe holds; tests read it to see the effects Seawall had."""

    intents: dict[str, IntentRecord] = field(default_factory=dict)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)  # Stripe Dispute objects by id
    # Called with (event type, resource) for each webhook event (`stripe_webhooks.StripeWebhookSender`).
    on_event: Callable[[str, dict[str, Any]], object] | None = None

    def emit(self, event_type: str, resource: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event_type, resource)

    def charge_of(self, intent: IntentRecord) -> dict[str, Any]:
        """The intent's charge in Stripe's shape, with its `refunds` list (API versions before 2022-11-15)."""
        refunds = sorted(self.refunds_for(intent.id), key=lambda r: r.created)
        refunded = self.refunded_amount(intent.id)
        return {
            "id": intent.latest_charge, "object": "charge", "amount": intent.amount,
            "amount_captured": intent.amount_received, "amount_refunded": refunded, "captured": True,
            "created": intent.created, "currency": intent.currency, "metadata": dict(intent.metadata),
            "paid": intent.status == "succeeded", "payment_intent": intent.id,
            "refunded": refunded >= intent.amount_received > 0, "status": "succeeded",
            "refunds": {"object": "list", "data": [r.to_stripe() for r in refunds], "has_more": False,
                        "total_count": len(refunds), "url": f"/v1/charges/{intent.latest_charge}/refunds"},
        }

    def intents_for(self, seawall_payment_id: str) -> list[IntentRecord]:
        return [i for i in self.intents.values() if i.seawall_payment_id == seawall_payment_id]

    def refunds_for(self, payment_intent_id: str) -> list[RefundRecord]:
        return [r for r in self.refunds.values() if r.payment_intent == payment_intent_id]

    def refunded_amount(self, payment_intent_id: str) -> int:
        return sum(r.amount for r in self.refunds_for(payment_intent_id) if r.status == "succeeded")

    def forget_idempotency_keys(self) -> int:
        """Prune every saved idempotency key, as Stripe may once a key is 24 hours old; how many."""
        forgotten = len(self.idempotency)
        self.idempotency.clear()
        return forgotten

    def reset(self) -> None:
        self.intents.clear()
        self.refunds.clear()
        self.idempotency.clear()
        self.disputes.clear()


Operation = Callable[[], tuple[int, dict[str, Any]]]
INTENT_PARAMS = frozenset({"amount", "currency", "payment_method", "confirm", "description", "metadata"})
REFUND_PARAMS = frozenset({"payment_intent", "amount", "reason", "metadata"})
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


def payments_router(ledger: PaymentsLedger, *, api_keys: Collection[str] | None = None) -> APIRouter:
    def authenticated(request: Request) -> str:
        return api_key_of(request, api_keys)

    api_key_dependency = Depends(authenticated)  # (an Annotated alias cannot live in this closure)
    router = APIRouter(prefix="/v1", include_in_schema=False)

    @router.post("/payment_intents")
    async def create_payment_intent(request: Request, api_key: str = api_key_dependency) -> JSONResponse:
        params = await read_form(request, allowed=INTENT_PARAMS)
        return run_idempotently(ledger, request, api_key, params, lambda: create_intent(ledger, params))

    @router.get("/payment_intents/search")
    async def search_payment_intents(_api_key: str = api_key_dependency, query: str | None = None,
                                     limit: int = 10) -> JSONResponse:
        if not query:
            raise invalid_request("Missing required param: query.", code="parameter_missing", param="query")
        clauses = parse_search_query(query)
        documents = [intent.to_stripe() for intent in ledger.intents.values()]
        found = [d for d in documents if all(clause.matches(d) for clause in clauses)]
        found.sort(key=lambda document: document["created"], reverse=True)
        limit = max(1, min(limit, 100))
        return stripe_json(200, {
            "object": "search_result", "url": "/v1/payment_intents/search",
            "data": found[:limit], "has_more": len(found) > limit, "next_page": None,
        })

    @router.get("/payment_intents/{intent_id}")
    async def retrieve_payment_intent(intent_id: str, _api_key: str = api_key_dependency) -> JSONResponse:
        intent = ledger.intents.get(intent_id)
        if intent is None:
            raise invalid_request(f"No such payment_intent: '{intent_id}'", code="resource_missing",
                                  param="intent", status_code=404)
        return stripe_json(200, intent.to_stripe())

    @router.post("/refunds")
    async def create_refund(request: Request, api_key: str = api_key_dependency) -> JSONResponse:
        params = await read_form(request, allowed=REFUND_PARAMS)
        return run_idempotently(ledger, request, api_key, params, lambda: refund_intent(ledger, params))

    @router.get("/refunds")
    async def list_refunds(_api_key: str = api_key_dependency, payment_intent: str | None = None,
                           limit: int = 10, starting_after: str | None = None,
                           ending_before: str | None = None) -> JSONResponse:
        if not 1 <= limit <= 100:
            raise invalid_request("This value must be between 1 and 100.", code="parameter_invalid_integer",
                                  param="limit")
        refunds = [r.to_stripe() for r in reversed(ledger.refunds.values())  # newest first
                   if payment_intent is None or r.payment_intent == payment_intent]
        ids = [refund["id"] for refund in refunds]
        for cursor, param in ((starting_after, "starting_after"), (ending_before, "ending_before")):
            if cursor is not None and cursor not in ledger.refunds:
                raise invalid_request(f"No such refund: '{cursor}'", code="resource_missing", param=param)
        if starting_after is not None:
            refunds = refunds[ids.index(starting_after) + 1:] if starting_after in ids else []
            page, has_more = refunds[:limit], len(refunds) > limit
        elif ending_before is not None:
            refunds = refunds[:ids.index(ending_before)] if ending_before in ids else []
            page, has_more = refunds[-limit:], len(refunds) > limit
        else:
            page, has_more = refunds[:limit], len(refunds) > limit
        return stripe_json(200, {"object": "list", "url": "/v1/refunds", "data": page, "has_more": has_more})

    @router.get("/refunds/{refund_id}")
    async def retrieve_refund(refund_id: str, _api_key: str = api_key_dependency) -> JSONResponse:
        refund = ledger.refunds.get(refund_id)
        if refund is None:
            raise invalid_request(f"No such refund: '{refund_id}'", code="resource_missing", param="id",
                                  status_code=404)
        return stripe_json(200, refund.to_stripe())

    @router.api_route("/{path:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def unrecognized(request: Request, _api_key: str = api_key_dependency) -> JSONResponse:
        raise invalid_request(f"Unrecognized request URL ({request.method}: {request.url.path}).",
                              status_code=404)

    return router


def run_idempotently(ledger: PaymentsLedger, request: Request, api_key: str, params: FormParams,
                     operation: Operation) -> JSONResponse:
    """Stripe's idempotency layer: replay a saved result, refuse a reused key, or run and save.

    `operation` validates, then executes; a `StripeAPIError` it raises saves nothing.
    """
    key = request.headers.get("idempotency-key")
    if key is None:
        status_code, body = operation()
        return stripe_json(status_code, body)
    if len(key) > 255:
        raise invalid_request("Idempotency-Key must be at most 255 characters.", param="Idempotency-Key")
    fingerprint = (request.method, request.url.path, params.fingerprint())
    stored = ledger.idempotency.get((api_key, key))
    if stored is not None:
        if stored.fingerprint != fingerprint:
            raise StripeAPIError(
                400, type="idempotency_error",
                message="Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{key}' if you meant to execute a "
                        "different request.",
            )
        return stripe_json(stored.status_code, stored.body,
                           {"Idempotent-Replayed": "true", "Original-Request": stored.request_id})
    status_code, body = operation()
    request_id = new_id("req")
    ledger.idempotency[(api_key, key)] = StoredResponse(fingerprint, status_code, body, request_id)
    return stripe_json(status_code, body, {"Request-Id": request_id})


def create_intent(ledger: PaymentsLedger, params: FormParams) -> tuple[int, dict[str, Any]]:
    amount = integer_param(params, "amount", required=True)
    assert amount is not None
    if amount < MIN_AMOUNT:
        raise invalid_request(f"Amount must be at least {MIN_AMOUNT} (in the currency's smallest unit).",
                              code="amount_too_small", param="amount")
    if amount > MAX_AMOUNT:
        raise invalid_request(f"Amount must be no more than {MAX_AMOUNT}.", code="amount_too_large",
                              param="amount")
    currency = params.scalars.get("currency", "").lower()
    if not (len(currency) == 3 and currency.isalpha()):
        code = "parameter_missing" if not currency else "parameter_invalid_string"
        raise invalid_request(f"Invalid currency: {currency!r}.", code=code, param="currency")
    confirm = boolean_param(params, "confirm", default=False)
    payment_method = params.scalars.get("payment_method") or None
    if payment_method is not None and payment_method not in TEST_PAYMENT_METHODS:
        raise invalid_request(f"No such PaymentMethod: '{payment_method}'", code="resource_missing",
                              param="payment_method")
    if confirm and payment_method is None:
        raise invalid_request("You cannot confirm this PaymentIntent because it's missing a payment method.",
                              code="payment_intent_unexpected_state", param="payment_method")
    intent = IntentRecord(
        id=new_id("pi"), amount=amount, currency=currency, payment_method=payment_method,
        description=params.scalars.get("description") or None, metadata=metadata_param(params),
        created=int(time.time()), status="requires_confirmation" if payment_method else "requires_payment_method",
    )
    ledger.intents[intent.id] = intent
    if not confirm:
        return 200, intent.to_stripe()
    answer = confirm_intent(intent)
    succeeded = intent.status == "succeeded"
    ledger.emit("payment_intent.succeeded" if succeeded else "payment_intent.payment_failed", intent.to_stripe())
    return answer


def refund_intent(ledger: PaymentsLedger, params: FormParams) -> tuple[int, dict[str, Any]]:
    intent_id = params.scalars.get("payment_intent")
    if not intent_id:
        raise invalid_request("Missing required param: payment_intent.", code="parameter_missing",
                              param="payment_intent")
    intent = ledger.intents.get(intent_id)
    if intent is None:
        raise invalid_request(f"No such payment_intent: '{intent_id}'", code="resource_missing",
                              param="payment_intent")
    if intent.status != "succeeded":
        raise invalid_request(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                              code="charge_not_refundable", param="payment_intent")
    remaining = intent.amount_received - ledger.refunded_amount(intent_id)
    if remaining <= 0:
        raise invalid_request(f"Charge {intent.latest_charge} has already been refunded.",
                              code="charge_already_refunded", param="payment_intent")
    amount = integer_param(params, "amount", required=False)
    amount = remaining if amount is None else amount
    if amount <= 0:
        raise invalid_request("Refund amount must be positive.", code="parameter_invalid_integer", param="amount")
    if amount > remaining:
        raise invalid_request(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                              code="amount_too_large", param="amount")
    reason = params.scalars.get("reason") or None
    if reason is not None and reason not in REFUND_REASONS:
        raise invalid_request(f"Invalid reason: {reason}", code="parameter_invalid_string", param="reason")
    refund = RefundRecord(
        id=new_id("re"), amount=amount, currency=intent.currency, payment_intent=intent.id,
        charge=intent.latest_charge, reason=reason, metadata=metadata_param(params), created=int(time.time()),
    )
    ledger.refunds[refund.id] = refund
    ledger.emit("charge.refunded", ledger.charge_of(intent))
    ledger.emit("refund.created", refund.to_stripe())
    return 200, refund.to_stripe()


def confirm_intent(intent: IntentRecord) -> tuple[int, dict[str, Any]]:
    """Charge the intent's test card: `succeeded`, or a 402 card error with the intent attached."""
    assert intent.payment_method is not None
    decline = TEST_PAYMENT_METHODS[intent.payment_method]
    intent.latest_charge = new_id("ch")
    if decline is None:
        intent.status = "succeeded"
        intent.amount_received = intent.amount
        intent.succeeded_at = time.time()
        return 200, intent.to_stripe()
    intent.status = "requires_payment_method"
    intent.last_payment_error = {
        "type": "card_error", "code": decline.code, "decline_code": decline.decline_code,
        "message": decline.message, "charge": intent.latest_charge,
        "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
    }
    error = StripeAPIError(402, type="card_error", message=decline.message, code=decline.code,
                           decline_code=decline.decline_code, payment_intent=intent.to_stripe())
    error.error["charge"] = intent.latest_charge
    return 402, error.body()
