"""Adapters to outside services: wire formats only, behind small Protocols.

Payments: `PaymentProvider` (`payments.py`), implemented over Stripe's API by `StripeProvider`
(`stripe.py`); vendor and transport failures become the errors in `errors.py`.
"""

from seawall.providers.errors import (
    CardDeclinedError,
    ProviderError,
    ProviderRejectedError,
    ProviderUnavailableError,
)
from seawall.providers.payments import (
    SEAWALL_PAYMENT_ID_KEY,
    PaymentFailure,
    PaymentIntentResult,
    PaymentProvider,
    RefundResult,
)
from seawall.providers.stripe import StripeProvider

__all__ = [
    "SEAWALL_PAYMENT_ID_KEY",
    "CardDeclinedError",
    "PaymentFailure",
    "PaymentIntentResult",
    "PaymentProvider",
    "ProviderError",
    "ProviderRejectedError",
    "ProviderUnavailableError",
    "RefundResult",
    "StripeProvider",
]
