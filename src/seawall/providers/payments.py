"""The payment provider port: what the payments domain may ask of a card processor.

Every call that creates something takes an `idempotency_key`; Seawall passes the payment's (or
refund's) own id, so a retry after an unknown outcome cannot charge twice while the provider keeps
the key (Stripe: at least 24 hours, then keys may be pruned). Past that only a lookup is safe:
intents are tagged with `metadata[SEAWALL_PAYMENT_ID_KEY]` and refunds with
`metadata[SEAWALL_REFUND_ID_KEY]`, so `find_payment_intent` and `find_refund` find what an earlier
attempt left at the provider after a crash, a timeout or a lost response, however long ago.
Failures raise the tree in `seawall.providers.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

SEAWALL_PAYMENT_ID_KEY = "seawall_payment_id"
SEAWALL_REFUND_ID_KEY = "seawall_refund_id"


@dataclass(frozen=True, slots=True)
class PaymentFailure:
    """Why the last attempt to charge an intent failed (Stripe's `last_payment_error`)."""

    kind: str | None  # e.g. "card_error"
    code: str | None  # e.g. "card_declined"
    decline_code: str | None  # e.g. "insufficient_funds"
    message: str | None


@dataclass(frozen=True, slots=True)
class PaymentIntentResult:
    id: str
    status: str  # Stripe's PaymentIntent status, e.g. "succeeded", "requires_payment_method"
    amount: int  # in the currency's smallest unit
    amount_received: int
    currency: str
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    latest_charge: str | None = None
    last_failure: PaymentFailure | None = None
    replayed: bool = False  # the provider answered from its idempotency store

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def seawall_payment_id(self) -> str | None:
        return self.metadata.get(SEAWALL_PAYMENT_ID_KEY)


@dataclass(frozen=True, slots=True)
class RefundResult:
    id: str
    status: str  # Stripe's Refund status: "pending", "requires_action", "succeeded", "failed", "canceled"
    amount: int
    currency: str
    payment_intent_id: str | None
    created: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    replayed: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def seawall_refund_id(self) -> str | None:
        return self.metadata.get(SEAWALL_REFUND_ID_KEY)


class PaymentProvider(Protocol):
    name: str

    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
        description: str | None = None,
    ) -> PaymentIntentResult:
        """Create and confirm an intent. A decline raises `CardDeclinedError`."""
        ...

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentIntentResult: ...

    async def find_payment_intent(self, *, seawall_payment_id: str) -> PaymentIntentResult | None:
        """The intent tagged with this payment id (a succeeded one first, else the newest), or None."""
        ...

    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int | None,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> RefundResult:
        """Refund `amount` (None: all that is left) of a succeeded intent."""
        ...

    async def find_refund(self, *, payment_intent_id: str, seawall_refund_id: str) -> RefundResult | None:
        """The intent's refund tagged with this refund id (a succeeded one first, then one still
        pending, else the newest), or None when the provider holds none: every page of the intent's
        refunds is read, so None proves the refund absent."""
        ...
