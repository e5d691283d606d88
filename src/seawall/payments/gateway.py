"""The payment routes of one process: each provider adapter behind its own resilience policy.

Built once per process from settings. The primary route is `stripe` (`SEAWALL_STRIPE_API_BASE`);
with `SEAWALL_PAYMENTS_FALLBACK_API_BASE` set, `fallback` is a second Stripe-compatible route used
only for payments the primary certainly did not take.

`PaymentRoute.send_once` is the one rule the charge and refund jobs send by: when an earlier attempt
may have reached the provider, look first and adopt what is found; send only when nothing is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from seawall.config import Settings
from seawall.providers.errors import CardDeclinedError, ProviderRejectedError
from seawall.providers.payments import PaymentProvider
from seawall.providers.stripe import StripeProvider
from seawall.resilience import BreakerState, CallOutcome, ProviderPolicy, policy_from_settings

log = structlog.get_logger("seawall.payments.gateway")

PRIMARY = "stripe"
FALLBACK = "fallback"
T = TypeVar("T")


def classify_payment_error(exc: BaseException) -> CallOutcome:
    """Declines and rejected requests are the provider working; everything else counts against it."""
    if isinstance(exc, CardDeclinedError | ProviderRejectedError):
        return CallOutcome.SUCCESS
    return CallOutcome.FAILURE


@dataclass
class PaymentRoute:
    provider: PaymentProvider
    policy: ProviderPolicy

    async def send_once(self, *, may_exist_at_provider: bool, look_up: Callable[[], Awaitable[T | None]],
                        send: Callable[[], Awaitable[T]], action: str = "send") -> T:
        """What the provider holds for one effect (a charge's intent, a refund), each call through
        this route's policy.

        When an earlier attempt may have reached the provider (a timeout, a lost response, a crash
        between send and record, a replay from the dead-letter queue), `look_up` runs first and a
        found object is returned as it is, whatever its status: it is never sent again, because the
        provider keeps idempotency keys only so long (Stripe prunes them after at least 24 hours)
        and a send with a pruned key acts twice. Only when `look_up` finds nothing is `send` called
        (with the same idempotency key as before). A failed lookup raises (the provider error
        tree, `CallRejectedError`, `TimeoutError`) and nothing is sent. `action` names the send on its
        span (`charge`, `refund`); the lookup's is `lookup`.
        """
        if may_exist_at_provider:
            found = await self.policy.call(look_up, classify=classify_payment_error, action="lookup")
            if found is not None:
                return found
        return await self.policy.call(send, classify=classify_payment_error, action=action)


@dataclass
class PaymentGateway:
    routes: dict[str, PaymentRoute]
    transitions: list[tuple[str, str, str]] = field(default_factory=list)

    def route(self, name: str) -> PaymentRoute:
        return self.routes[name]

    @property
    def fallback(self) -> str | None:
        return FALLBACK if FALLBACK in self.routes else None

    async def aclose(self) -> None:
        for route in self.routes.values():
            close = getattr(route.provider, "aclose", None)
            if close is not None:
                await close()


def build_gateway(settings: Settings, *, provider_factory: Callable[[str, str, str], PaymentProvider] | None = None
                  ) -> PaymentGateway:
    gateway = PaymentGateway(routes={})

    def on_transition(name: str, old: BreakerState, new: BreakerState) -> None:
        gateway.transitions.append((name, old.value, new.value))
        log.warning("breaker.transition", provider=name, old=old.value, new=new.value)

    def make_provider(name: str, base: str, key: str) -> PaymentProvider:
        if provider_factory is not None:
            return provider_factory(name, base, key)
        return StripeProvider(
            api_key=key, api_base=base, name=name,
            connect_timeout=settings.provider_connect_timeout_seconds,
            read_timeout=settings.provider_read_timeout_seconds,
            deadline=settings.provider_total_timeout_seconds,
        )

    configured = [(PRIMARY, settings.stripe_api_base, settings.stripe_api_key.get_secret_value())]
    if settings.payments_fallback_api_base:
        fallback_key = settings.payments_fallback_api_key or settings.stripe_api_key
        configured.append((FALLBACK, settings.payments_fallback_api_base, fallback_key.get_secret_value()))
    for name, base, api_key in configured:
        gateway.routes[name] = PaymentRoute(
            provider=make_provider(name, base, api_key),
            policy=policy_from_settings(name, settings, on_transition=on_transition),
        )
    return gateway
