"""The sandbox ASGI app: fake providers under their real paths, and `/_sandbox/...` to steer and inspect.

    /v1/...                                 the fake Stripe (`payments.py`), behind fault injection
    /2010-04-01/...                         the fake Twilio (`sms.py`), behind its own fault injection
    GET  /_sandbox/faults                   the payments fault configuration and the outage time left
    POST /_sandbox/faults                   replace it (JSON `FaultConfig`, see `faults.py`)
    GET  /_sandbox/payments/intents         intents recorded, `?seawall_payment_id=` to filter; each in
                                            Stripe's shape plus `sandbox_succeeded_at` (epoch seconds
                                            when the charge was captured, or null)
    GET  /_sandbox/payments/refunds         refunds recorded, `?payment_intent=` to filter
    POST /_sandbox/payments/idempotency/forget
                                            prune every saved idempotency key, as Stripe may after
                                            24 hours; answers how many were forgotten
    GET  /_sandbox/stats                    payments requests by outcome, in flight, most ever in flight
    GET  /_sandbox/sms/faults               the SMS fault configuration (POST: replace, `FaultConfig`)
    GET  /_sandbox/sms/messages             texts recorded, `?to=` to filter, and the SMS request stats
    GET  /_sandbox/smtp/faults              the SMTP sink's fault configuration (POST: replace,
                                            `smtp.SmtpFaultConfig`)
    GET  /_sandbox/smtp/messages            mail the sink accepted, `?message_id=` / `?to=` to filter,
                                            with deliveries per Message-ID and the duplicates
    POST /_sandbox/payments/intents/{id}/dashboard_refund, .../dispute
                                            what a person does in Stripe's dashboard (`dashboard.py`)
    GET  /_sandbox/stripe/webhooks          the Stripe webhook sender (POST: configure; .../release);
                                            see `stripe_webhooks.py`
    POST /_sandbox/reset                    forget records and statistics (faults stay)

The SMTP sink itself listens on its own port (`smtp.SmtpSink`, started by `server.py`); it shares
its `Mailbox` and fault injector with this app through `SandboxState`.

`/_sandbox` needs no key: the sandbox binds to loopback and holds nothing real.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from seawall.sandbox.dashboard import dashboard_router
from seawall.sandbox.faults import FaultConfig, FaultInjector, FaultMiddleware, RequestStats
from seawall.sandbox.payments import IntentRecord, PaymentsLedger, payments_router
from seawall.sandbox.sms import SmsState, install_sms
from seawall.sandbox.smtp import Mailbox, SmtpFaultConfig, SmtpFaultInjector
from seawall.sandbox.stripe_webhooks import StripeWebhookSender
from seawall.sandbox.wire import StripeAPIError, error_response, handle_stripe_error, invalid_request


@dataclass
class SandboxState:
    """What the sandbox holds and has seen; tests read it in process."""

    payments: PaymentsLedger = field(default_factory=PaymentsLedger)
    requests: RequestStats = field(default_factory=RequestStats)
    faults: FaultInjector = field(default_factory=FaultInjector)
    sms: SmsState = field(default_factory=SmsState)
    mail: Mailbox = field(default_factory=Mailbox)
    mail_faults: SmtpFaultInjector = field(default_factory=SmtpFaultInjector)
    stripe_webhooks: StripeWebhookSender = field(default_factory=StripeWebhookSender)

    def __post_init__(self) -> None:
        self.payments.on_event = self.stripe_webhooks.publish

    def intents_for(self, seawall_payment_id: str) -> list[IntentRecord]:
        return self.payments.intents_for(seawall_payment_id)

    @property
    def max_in_flight(self) -> int:
        return self.requests.max_in_flight

    def reset(self) -> None:
        self.payments.reset()
        self.requests.reset()
        self.sms.reset()
        self.mail.reset()
        self.stripe_webhooks.reset()


def as_fault_config(faults: FaultConfig | Mapping[str, Any] | None) -> FaultConfig:
    if faults is None:
        return FaultConfig()
    return faults if isinstance(faults, FaultConfig) else FaultConfig.model_validate(dict(faults))


def create_sandbox_app(
    *,
    state: SandboxState | None = None,
    faults: FaultConfig | Mapping[str, Any] | None = None,
    api_keys: Collection[str] | None = None,
    sms_accounts: Mapping[str, str] | None = None,
) -> FastAPI:
    """The sandbox app. `api_keys`: accept only these secret keys (default: any `sk_...`);
    `sms_accounts`: only these Twilio account SIDs → auth tokens (default: any `AC...` with a token)."""
    state = state or SandboxState()
    if faults is not None:
        state.faults.configure(as_fault_config(faults))
    app = FastAPI(title="Seawall sandbox", docs_url=None, redoc_url=None)
    app.state.sandbox = state
    app.include_router(payments_router(state.payments, api_keys=api_keys))
    app.include_router(_admin_router(state))
    app.include_router(dashboard_router(state.payments, state.stripe_webhooks))
    app.add_exception_handler(StripeAPIError, handle_stripe_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(FaultMiddleware, injector=state.faults, stats=state.requests)
    install_sms(app, state.sms, accounts=sms_accounts)
    return app


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith("/v1/"):
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
    first = exc.errors()[0] if exc.errors() else {}
    param = str(first.get("loc", ["", ""])[-1])
    return error_response(invalid_request(f"Invalid {param}: {first.get('msg', 'invalid value')}", param=param))


def _injector_view(injector: FaultInjector | SmtpFaultInjector) -> dict[str, Any]:
    return {"faults": injector.config.model_dump(), "outage_remaining_seconds": round(injector.outage_remaining(), 3)}


def _admin_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return _injector_view(state.faults)

    @router.post("/faults")
    async def set_faults(config: FaultConfig) -> dict[str, Any]:
        state.faults.configure(config)
        return _injector_view(state.faults)

    @router.get("/payments/intents")
    async def list_intents(seawall_payment_id: str | None = None) -> dict[str, Any]:
        intents = (state.payments.intents_for(seawall_payment_id) if seawall_payment_id is not None
                   else list(state.payments.intents.values()))
        return {"object": "list", "count": len(intents),
                "data": [{**i.to_stripe(), "sandbox_succeeded_at": i.succeeded_at} for i in intents]}

    @router.get("/payments/refunds")
    async def list_refunds(payment_intent: str | None = None) -> dict[str, Any]:
        refunds = (state.payments.refunds_for(payment_intent) if payment_intent is not None
                   else list(state.payments.refunds.values()))
        return {"object": "list", "count": len(refunds), "data": [r.to_stripe() for r in refunds]}

    @router.post("/payments/idempotency/forget")
    async def forget_idempotency_keys() -> dict[str, Any]:
        return {"forgotten": state.payments.forget_idempotency_keys()}

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return {**state.requests.snapshot(), "intents": len(state.payments.intents),
                "refunds": len(state.payments.refunds)}

    @router.get("/sms/faults")
    async def get_sms_faults() -> dict[str, Any]:
        return _injector_view(state.sms.faults)

    @router.post("/sms/faults")
    async def set_sms_faults(config: FaultConfig) -> dict[str, Any]:
        state.sms.faults.configure(config)
        return _injector_view(state.sms.faults)

    @router.get("/sms/messages")
    async def list_sms(to: str | None = None) -> dict[str, Any]:
        ledger = state.sms.ledger
        messages = ledger.messages_to(to) if to is not None else list(ledger.messages.values())
        return {"object": "list", "count": len(messages), "data": [m.to_twilio() for m in messages],
                "requests": state.sms.requests.snapshot()}

    @router.get("/smtp/faults")
    async def get_smtp_faults() -> dict[str, Any]:
        return _injector_view(state.mail_faults)

    @router.post("/smtp/faults")
    async def set_smtp_faults(config: SmtpFaultConfig) -> dict[str, Any]:
        state.mail_faults.configure(config)
        return _injector_view(state.mail_faults)

    @router.get("/smtp/messages")
    async def list_mail(message_id: str | None = None, to: str | None = None) -> dict[str, Any]:
        messages = state.mail.messages
        if message_id is not None:
            messages = [m for m in messages if m.message_id == message_id]
        if to is not None:
            messages = [m for m in messages if to.lower() in (r.lower() for r in m.rcpt_tos)]
        return {"object": "list", "count": len(messages), "data": [m.summary() for m in messages],
                "deliveries_by_message_id": dict(state.mail.deliveries_by_message_id),
                "duplicates": state.mail.duplicates(), "outcomes": dict(state.mail.outcomes)}

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    return router
