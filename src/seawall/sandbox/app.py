"""The sandbox ASGI app: fake providers under their real paths, and `/_sandbox/...` to steer and inspect.

    /v1/...                                 the fake Stripe (`payments.py`), behind fault injection
    GET  /_sandbox/faults                   the fault configuration and the outage time left
    POST /_sandbox/faults                   replace it (JSON `FaultConfig`, see `faults.py`)
    GET  /_sandbox/payments/intents         intents recorded, `?seawall_payment_id=` to filter
    GET  /_sandbox/payments/refunds         refunds recorded, `?payment_intent=` to filter
    GET  /_sandbox/stats                    requests by outcome, in flight, most ever in flight
    POST /_sandbox/reset                    forget records and statistics (faults stay)

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

from seawall.sandbox.faults import FaultConfig, FaultInjector, FaultMiddleware, RequestStats
from seawall.sandbox.payments import IntentRecord, PaymentsLedger, payments_router
from seawall.sandbox.wire import StripeAPIError, error_response, handle_stripe_error, invalid_request


@dataclass
class SandboxState:
    """What the sandbox holds and has seen; tests read it in process."""

    payments: PaymentsLedger = field(default_factory=PaymentsLedger)
    requests: RequestStats = field(default_factory=RequestStats)
    faults: FaultInjector = field(default_factory=FaultInjector)

    def intents_for(self, seawall_payment_id: str) -> list[IntentRecord]:
        return self.payments.intents_for(seawall_payment_id)

    @property
    def max_in_flight(self) -> int:
        return self.requests.max_in_flight

    def reset(self) -> None:
        self.payments.reset()
        self.requests.reset()


def as_fault_config(faults: FaultConfig | Mapping[str, Any] | None) -> FaultConfig:
    if faults is None:
        return FaultConfig()
    return faults if isinstance(faults, FaultConfig) else FaultConfig.model_validate(dict(faults))


def create_sandbox_app(
    *,
    state: SandboxState | None = None,
    faults: FaultConfig | Mapping[str, Any] | None = None,
    api_keys: Collection[str] | None = None,
) -> FastAPI:
    """The sandbox app. `api_keys`: accept only these secret keys (default: any `sk_...`)."""
    state = state or SandboxState()
    if faults is not None:
        state.faults.configure(as_fault_config(faults))
    app = FastAPI(title="Seawall sandbox", docs_url=None, redoc_url=None)
    app.state.sandbox = state
    app.include_router(payments_router(state.payments, api_keys=api_keys))
    app.include_router(_admin_router(state))
    app.add_exception_handler(StripeAPIError, handle_stripe_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(FaultMiddleware, injector=state.faults, stats=state.requests)
    return app


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith("/v1/"):
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
    first = exc.errors()[0] if exc.errors() else {}
    param = str(first.get("loc", ["", ""])[-1])
    return error_response(invalid_request(f"Invalid {param}: {first.get('msg', 'invalid value')}", param=param))


def _faults_view(state: SandboxState) -> dict[str, Any]:
    return {"faults": state.faults.config.model_dump(),
            "outage_remaining_seconds": round(state.faults.outage_remaining(), 3)}


def _admin_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return _faults_view(state)

    @router.post("/faults")
    async def set_faults(config: FaultConfig) -> dict[str, Any]:
        state.faults.configure(config)
        return _faults_view(state)

    @router.get("/payments/intents")
    async def list_intents(seawall_payment_id: str | None = None) -> dict[str, Any]:
        intents = (state.payments.intents_for(seawall_payment_id) if seawall_payment_id is not None
                   else list(state.payments.intents.values()))
        return {"object": "list", "count": len(intents), "data": [i.to_stripe() for i in intents]}

    @router.get("/payments/refunds")
    async def list_refunds(payment_intent: str | None = None) -> dict[str, Any]:
        refunds = (state.payments.refunds_for(payment_intent) if payment_intent is not None
                   else list(state.payments.refunds.values()))
        return {"object": "list", "count": len(refunds), "data": [r.to_stripe() for r in refunds]}

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return {**state.requests.snapshot(), "intents": len(state.payments.intents),
                "refunds": len(state.payments.refunds)}

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

    return router
