"""A webhook receiver with fault injection, for tests, the demo and the sandbox.

It checks every delivery with the `standardwebhooks` package (an implementation independent of
Seawall's signing), records it under its `webhook-id` (so duplicates and retries are visible), and
answers as told:

    POST /hooks/{name}                    a webhook for receiver endpoint `name`
    PUT  /_receiver/endpoints/{name}      register or steer it: {"secret": "whsec_...", "respond": {...}}
    GET  /_receiver/deliveries            what arrived (?name=, ?webhook_id=)
    POST /_receiver/reset                 forget deliveries (endpoints and faults stay)

Answers, in order: unknown name → 404; a `Respond` rule in force → its status (e.g. 410 Gone, or
503 with `Retry-After`), for its next `times` deliveries or until changed; a bad or missing
signature → 400; otherwise 200. Random faults (500/503/429 rates, hangs, lost responses, outages)
come from the sandbox's `FaultConfig`, applied to `/hooks/` by `FaultMiddleware`; those requests are
refused before they are recorded, as an overloaded receiver would.

    async with WebhookReceiverServer() as receiver:
        receiver.register("orders", secret)
        receiver.respond("orders", status=503, retry_after=30, times=1)
        url = receiver.url("orders")
        ...
        assert len(receiver.received(webhook_id)) == 1
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Self

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from seawall.sandbox.app import as_fault_config
from seawall.sandbox.embedded import EmbeddedHttpServer
from seawall.sandbox.faults import FaultConfig, FaultInjector, FaultMiddleware, RequestStats


class Respond(BaseModel):
    """Answer `status` (with `Retry-After: retry_after`) to the next `times` deliveries (None: all)."""

    model_config = ConfigDict(extra="forbid")

    status: int = Field(ge=200, le=599)
    retry_after: int | None = Field(default=None, ge=0)
    times: int | None = Field(default=None, ge=1)


class EndpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = None
    respond: Respond | None = None


@dataclass(frozen=True)
class ReceivedWebhook:
    name: str
    webhook_id: str | None
    timestamp: str | None
    signature: str | None
    host: str | None
    body: str
    verified: bool
    error: str | None
    answered: int
    received_at: float  # time.time()

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class ReceiverEndpoint:
    secret: str | None = None
    respond: Respond | None = None
    remaining: int | None = None  # deliveries `respond` still applies to


@dataclass
class ReceiverState:
    endpoints: dict[str, ReceiverEndpoint] = field(default_factory=dict)
    deliveries: list[ReceivedWebhook] = field(default_factory=list)
    requests: RequestStats = field(default_factory=RequestStats)
    faults: FaultInjector = field(default_factory=FaultInjector)

    def configure(self, name: str, config: EndpointConfig) -> None:
        endpoint = self.endpoints.setdefault(name, ReceiverEndpoint())
        if config.secret is not None:
            endpoint.secret = config.secret
        endpoint.respond = config.respond
        endpoint.remaining = config.respond.times if config.respond is not None else None

    def received(self, webhook_id: str | None = None, *, name: str | None = None) -> list[ReceivedWebhook]:
        return [d for d in self.deliveries
                if (webhook_id is None or d.webhook_id == webhook_id) and (name is None or d.name == name)]

    def _rule(self, endpoint: ReceiverEndpoint) -> Respond | None:
        rule = endpoint.respond
        if rule is None:
            return None
        if endpoint.remaining is not None:
            endpoint.remaining -= 1
            if endpoint.remaining <= 0:
                endpoint.respond, endpoint.remaining = None, None
        return rule

    def handle(self, name: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            return 404, {}
        verified, error = _verify(endpoint.secret, body, headers)
        rule = self._rule(endpoint)
        status, extra = (200, {}) if verified else (400, {})
        if rule is not None:
            status = rule.status
            extra = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
        self.deliveries.append(ReceivedWebhook(
            name=name, webhook_id=headers.get("webhook-id"), timestamp=headers.get("webhook-timestamp"),
            signature=headers.get("webhook-signature"), host=headers.get("host"),
            body=body.decode("utf-8", errors="replace"), verified=verified, error=error, answered=status,
            received_at=time.time(),
        ))
        return status, extra


def _verify(secret: str | None, body: bytes, headers: Mapping[str, str]) -> tuple[bool, str | None]:
    if secret is None:
        return False, "no secret registered for this endpoint"
    try:
        Webhook(secret).verify(body, dict(headers))
    except (WebhookVerificationError, ValueError) as exc:
        return False, str(exc) or type(exc).__name__
    return True, None


def create_webhook_receiver_app(*, state: ReceiverState | None = None,
                                faults: FaultConfig | Mapping[str, Any] | None = None) -> FastAPI:
    state = state or ReceiverState()
    if faults is not None:
        state.faults.configure(as_fault_config(faults))
    app = FastAPI(title="Seawall webhook receiver", docs_url=None, redoc_url=None)
    app.state.receiver = state

    @app.post("/hooks/{name}")
    async def receive(name: str, request: Request) -> Response:
        status, headers = state.handle(name, await request.body(), request.headers)
        return Response(content=json.dumps({"received": status < 300}), status_code=status, headers=headers,
                        media_type="application/json")

    steering = APIRouter(prefix="/_receiver", tags=["receiver"])

    @steering.put("/endpoints/{name}")
    async def configure(name: str, config: EndpointConfig) -> dict[str, Any]:
        state.configure(name, config)
        return {"name": name, "respond": config.respond.model_dump() if config.respond else None}

    @steering.get("/deliveries")
    async def deliveries(name: str | None = None, webhook_id: str | None = None) -> dict[str, Any]:
        found = state.received(webhook_id, name=name)
        return {"count": len(found), "data": [asdict(d) for d in found]}

    @steering.post("/reset")
    async def reset() -> dict[str, bool]:
        state.deliveries.clear()
        state.requests.reset()
        return {"reset": True}

    app.include_router(steering)
    app.add_middleware(FaultMiddleware, injector=state.faults, stats=state.requests, prefix="/hooks/")
    return app


class WebhookReceiverServer:
    """The receiver on 127.0.0.1 and a free port, served in this event loop (like `SandboxServer`)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 faults: FaultConfig | Mapping[str, Any] | None = None) -> None:
        self.host = host
        self.state = ReceiverState()
        self.app = create_webhook_receiver_app(state=self.state, faults=faults)
        self._http = EmbeddedHttpServer(self.app, host=host, port=port, name="webhook receiver")

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def register(self, name: str, secret: str | None = None) -> None:
        self.state.configure(name, EndpointConfig(secret=secret))

    def respond(self, name: str, *, status: int, retry_after: int | None = None, times: int | None = None) -> None:
        """Answer `status` (410 Gone, 503 + Retry-After, ...) to the next `times` deliveries to `name`."""
        endpoint = self.state.endpoints.setdefault(name, ReceiverEndpoint())
        endpoint.respond = Respond(status=status, retry_after=retry_after, times=times)
        endpoint.remaining = times

    def respond_normally(self, name: str) -> None:
        endpoint = self.state.endpoints.setdefault(name, ReceiverEndpoint())
        endpoint.respond, endpoint.remaining = None, None

    def set_faults(self, config: FaultConfig | Mapping[str, Any] | None = None, **fields: Any) -> FaultConfig:
        merged = as_fault_config(config).model_dump() | fields
        new_config = FaultConfig.model_validate(merged)
        self.state.faults.configure(new_config)
        return new_config

    def received(self, webhook_id: str | None = None, *, name: str | None = None) -> list[ReceivedWebhook]:
        return self.state.received(webhook_id, name=name)

    async def start(self) -> None:
        await self._http.serve()

    async def stop(self) -> None:
        if self._http.running:
            self.state.faults.release_hangs()
        await self._http.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
