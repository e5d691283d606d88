"""What a person does in Stripe's dashboard, as sandbox controls, and the webhook sender's steering.

    POST /_sandbox/payments/intents/{id}/dashboard_refund   {"amount": 300} (default: what is left) —
                                                            a refund with no Seawall metadata; the
                                                            `charge.refunded` event follows
    POST /_sandbox/payments/intents/{id}/dispute            {"reason": "fraudulent", "fee": 1500} —
                                                            the cardholder disputes the whole charge;
                                                            the amount and the fee are withdrawn (one
                                                            balance transaction); `charge.dispute.created`
    GET  /_sandbox/stripe/webhooks                          the sender's configuration, events, attempts
    POST /_sandbox/stripe/webhooks                          replace the configuration (`WebhookConfig`)
    POST /_sandbox/stripe/webhooks/release                  deliver held events ({"order": "reverse"})

Errors are Stripe's shape (`invalid_request_error`), as the API's.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from seawall.kit.ids import new_id
from seawall.sandbox.payments import PaymentsLedger, refund_intent
from seawall.sandbox.stripe_webhooks import ReleaseOrder, StripeWebhookSender, WebhookConfig
from seawall.sandbox.wire import decode_form, invalid_request, stripe_json

DISPUTE_FEE = 1500  # Stripe's US dispute fee, in cents


class DashboardRefund(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int | None = Field(default=None, ge=1)


class DashboardDispute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = "fraudulent"
    fee: int = Field(default=DISPUTE_FEE, ge=0)


def open_dispute(ledger: PaymentsLedger, intent_id: str, *, reason: str, fee: int) -> dict[str, Any]:
    """A dispute of the whole captured charge, its funds withdrawn at once; the Dispute object."""
    intent = ledger.intents.get(intent_id)
    if intent is None or intent.status != "succeeded":
        raise invalid_request(f"No succeeded payment_intent: '{intent_id}'", code="resource_missing",
                              param="payment_intent", status_code=404)
    if any(d["payment_intent"] == intent_id for d in ledger.disputes.values()):
        raise invalid_request(f"The charge of {intent_id} is already disputed.", code="charge_disputed")
    now, amount = int(time.time()), intent.amount_received
    dispute_id = new_id("dp")
    dispute = {
        "id": dispute_id, "object": "dispute", "amount": amount, "currency": intent.currency,
        "charge": intent.latest_charge, "payment_intent": intent.id, "created": now, "livemode": False,
        "reason": reason, "status": "needs_response", "is_charge_refundable": False, "metadata": {},
        "balance_transactions": [{
            "id": new_id("txn"), "object": "balance_transaction", "amount": -amount, "fee": fee,
            "net": -(amount + fee), "currency": intent.currency, "type": "adjustment", "created": now,
            "description": f"Chargeback withdrawal for {intent.latest_charge}", "source": dispute_id,
            "fee_details": [{"amount": fee, "currency": intent.currency, "description": "Dispute fee",
                             "type": "stripe_fee"}],
        }],
    }
    ledger.disputes[dispute_id] = dispute
    ledger.emit("charge.dispute.created", dispute)
    return dispute


def dashboard_router(ledger: PaymentsLedger, sender: StripeWebhookSender) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @router.post("/payments/intents/{intent_id}/dashboard_refund")
    async def dashboard_refund(intent_id: str, body: DashboardRefund | None = None) -> Any:
        form = f"payment_intent={intent_id}" + (f"&amount={body.amount}" if body and body.amount else "")
        status_code, refund = refund_intent(ledger, decode_form(form.encode()))
        return stripe_json(status_code, refund)

    @router.post("/payments/intents/{intent_id}/dispute")
    async def dispute(intent_id: str, body: DashboardDispute | None = None) -> Any:
        options = body or DashboardDispute()
        return stripe_json(200, open_dispute(ledger, intent_id, reason=options.reason, fee=options.fee))

    @router.get("/stripe/webhooks")
    async def webhooks() -> dict[str, Any]:
        return sender.snapshot()

    @router.post("/stripe/webhooks")
    async def configure_webhooks(config: WebhookConfig) -> dict[str, Any]:
        sender.configure(config)
        return {"config": config.model_dump()}

    @router.post("/stripe/webhooks/release")
    async def release(order: ReleaseOrder | None = None) -> dict[str, Any]:
        return {"released": sender.release((order or ReleaseOrder()).order)}

    return router
