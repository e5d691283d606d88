"""The fake Stripe's webhook sender: signed events to one endpoint, with delivery faults.

After an intent succeeds or is declined, a refund is made (through the API or the dashboard control
`POST /_sandbox/payments/intents/{id}/dashboard_refund`) or a dispute is opened
(`POST /_sandbox/payments/intents/{id}/dispute`), the fake Stripe builds an event in Stripe's shape

    {"id": "evt_...", "object": "event", "api_version": "2022-08-01", "created": <unix>,
     "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
     "type": "payment_intent.succeeded", "data": {"object": {...the resource...}}}

(`payment_intent.succeeded`, `payment_intent.payment_failed`, `charge.refunded`, `refund.created`,
`charge.dispute.created`) as the configured `api_version` shapes them — before 2022-11-15 the charge
of `charge.refunded` lists its `refunds`, later it does not; from 2024-10-28 `refund.created` is sent
for every refund, before only for refunds without a charge (so never here) — and POSTs it to the
configured URL, signed as Stripe signs (`Stripe-Signature: t=<unix>,v1=<hex>` per secret:
HMAC-SHA256 of `f"{t}.{body}"`). With no URL set nothing is built or kept (the demo and the
benchmarks make many payments). A delivery that
is not answered 2xx is retried (`max_attempts`, `retry_interval_seconds`), as Stripe retries.

Configuration (`POST /_sandbox/stripe/webhooks`, or `SandboxServer.set_stripe_webhooks(...)`, or
`SEAWALL_SANDBOX_STRIPE_WEBHOOK_URL` / `SEAWALL_SANDBOX_STRIPE_WEBHOOK_SECRETS` for `seawall sandbox`):

    {"url": "http://127.0.0.1:8000/v1/providers/stripe/events", "secrets": ["whsec_..."],
     "api_version": "2022-08-01",  the endpoint's API version: which events, in which shape (above)
     "hold": false,                held: events queue up until `POST /_sandbox/stripe/webhooks/release`
                                   ({"order": "reverse"} delivers them newest first: out of order)
     "max_attempts": 3, "retry_interval_seconds": 0.2,
     "faults": {"seed": 1,
                "duplicate_rate": 0.0,      fraction of events delivered twice (the same event id)
                "bad_signature_rate": 0.0,  fraction whose FIRST attempt is signed with a wrong secret
                                            (retries are signed correctly, as after a rotation)
                "delay_ms": 0, "delay_jitter_ms": 0}}   each delivery waits this long first: with
                                            jitter, events overtake each other
`GET /_sandbox/stripe/webhooks` shows the configuration, the events and every delivery attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from seawall.kit.ids import new_id

API_VERSION = "2022-08-01"  # the default endpoint version: refunds listed on the charge, no refund.created
CHARGE_REFUNDS_DROPPED = "2022-11-15"  # from this version the charge no longer lists its refunds
REFUND_EVENTS_FOR_ALL = "2024-10-28"  # from this version refund.created/updated are sent for every refund
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class WebhookFaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = None
    duplicate_rate: Probability = 0.0
    bad_signature_rate: Probability = 0.0
    delay_ms: float = Field(default=0.0, ge=0)
    delay_jitter_ms: float = Field(default=0.0, ge=0)


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    secrets: list[str] = Field(default_factory=list)
    api_version: str = API_VERSION
    hold: bool = False
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_interval_seconds: float = Field(default=0.2, ge=0, le=60)
    faults: WebhookFaults = Field(default_factory=WebhookFaults)


class ReleaseOrder(BaseModel):
    order: Literal["sent", "reverse"] = "sent"


@dataclass
class DeliveryAttempt:
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None  # None: no answer (connection error)
    bad_signature: bool
    at: float = field(default_factory=time.time)


def sign(body: bytes, secrets: list[str], *, timestamp: int) -> str:
    """`Stripe-Signature` for `body`: `t=<timestamp>` and one `v1` per secret."""
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"]
    parts += [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets]
    return ",".join(parts)


class StripeWebhookSender:
    """Builds, records and delivers events; runs its deliveries as tasks of the running event loop."""

    def __init__(self, config: WebhookConfig | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.attempts: list[DeliveryAttempt] = []
        self._held: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self.configure(config or WebhookConfig())

    @property
    def config(self) -> WebhookConfig:
        return self._config

    def configure(self, config: WebhookConfig) -> None:
        self._config = config
        self._rng = random.Random(config.faults.seed)

    def publish(self, event_type: str, resource: dict[str, Any]) -> dict[str, Any] | None:
        """Record an event about `resource` and send it (or hold it); the event, or None when no URL
        is set or the configured API version sends no such event."""
        version = self._config.api_version
        if not self._config.url:
            return None
        if event_type.startswith("refund.") and version < REFUND_EVENTS_FOR_ALL:
            return None
        if resource.get("object") == "charge" and version >= CHARGE_REFUNDS_DROPPED:
            resource = {key: value for key, value in resource.items() if key != "refunds"}
        event = {
            "id": new_id("evt"), "object": "event", "api_version": version, "created": int(time.time()),
            "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": event_type, "data": {"object": resource},
        }
        self.events.append(event)
        if self._config.hold:
            self._held.append(event)
        else:
            self._spawn(self._deliver_with_faults(event))
        return event

    def release(self, order: Literal["sent", "reverse"] = "sent") -> int:
        """Deliver the held events one after another, in `order`; how many."""
        held, self._held = self._held, []
        if order == "reverse":
            held.reverse()

        async def deliver_in_order() -> None:
            for event in held:
                await self._deliver_with_faults(event)

        self._spawn(deliver_in_order())
        return len(held)

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until no delivery is under way."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    def deliveries_of(self, event_id: str) -> list[DeliveryAttempt]:
        return [a for a in self.attempts if a.event_id == event_id]

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def snapshot(self) -> dict[str, Any]:
        return {"config": self._config.model_dump(), "held": len(self._held), "events": self.events,
                "attempts": [asdict(a) for a in self.attempts]}

    def reset(self) -> None:
        self.events.clear()
        self.attempts.clear()
        self._held.clear()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work, name="sandbox-stripe-webhook")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_with_faults(self, event: dict[str, Any]) -> None:
        faults = self._config.faults
        copies = 2 if self._rng.random() < faults.duplicate_rate else 1
        bad_first = self._rng.random() < faults.bad_signature_rate
        delay = (faults.delay_ms + self._rng.random() * faults.delay_jitter_ms) / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)
        for _copy in range(copies):
            await self._deliver(event, bad_first=bad_first)
            bad_first = False

    async def _deliver(self, event: dict[str, Any], *, bad_first: bool) -> None:
        config = self._config
        if not config.url:
            return
        body = json.dumps(event, separators=(",", ":")).encode()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        for attempt in range(1, config.max_attempts + 1):
            bad = bad_first and attempt == 1
            secrets = ["whsec_sandbox_wrong_secret"] if bad else config.secrets
            headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+sandbox)",
                       "Stripe-Signature": sign(body, secrets, timestamp=int(time.time()))}
            status: int | None = None
            try:
                status = (await self._client.post(config.url, content=body, headers=headers)).status_code
            except httpx.HTTPError:
                status = None
            self.attempts.append(DeliveryAttempt(event["id"], event["type"], attempt, status, bad))
            if status is not None and 200 <= status < 300:
                return
            if attempt < config.max_attempts:
                await asyncio.sleep(config.retry_interval_seconds)
