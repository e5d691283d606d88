"""Fault injection for the sandbox's provider APIs, seedable so a test can replay the same faults.

A `FaultConfig` (JSON, all fields optional; an empty object means "no faults"):

    {
      "seed": 7,                     RNG seed; the same seed and request sequence → the same faults
      "error_500_rate": 0.0,         fraction of requests answered 500 api_error, NOT processed
      "error_503_rate": 0.0,         fraction answered 503 api_error, NOT processed
      "error_429_rate": 0.0,         fraction answered 429 rate_limit with Retry-After, NOT processed
      "retry_after_seconds": 1,      the Retry-After of injected 429s
      "hang_rate": 0.0,              fraction that hang, NOT processed, until the client gives up
      "hang_seconds": 3600,          ... or this long, then the connection is dropped
      "lost_response_rate": 0.0,     fraction PROCESSED (and recorded, and saved for idempotent
                                     replay) whose response is then cut short: the headers go out
                                     with a Content-Length, half the body follows, the connection
                                     closes — the client sees a protocol error
      "timeout_after_processing_rate": 0.0,
                                     fraction PROCESSED (recorded, saved for replay) whose answer
                                     is then held back until the client gives up (or hang_seconds
                                     pass, then the connection drops) — the client sees a timeout
      "latency_ms": 0,               added to every affected request before it is handled ...
      "latency_jitter_ms": 0,        ... plus a uniform random 0..jitter
      "methods": null,               e.g. ["POST"]: only these methods are affected (null: all)
      "outage_seconds": 0            starts an outage when applied: for this long every request
                                     (any method) fails fast with 503 and Retry-After, NOT processed
    }

The rates are probabilities and together at most 1: each affected request draws one number that
picks at most one of 500 / 503 / 429 / hang / lost response / timeout after processing, and one for its latency jitter.

Set it from the environment for `seawall sandbox` — `SEAWALL_SANDBOX_FAULTS='{"error_500_rate": 0.1}'`
or one variable per field, `SEAWALL_SANDBOX_FAULTS__ERROR_500_RATE=0.1` (see `server.SandboxSettings`) —
and at runtime with `POST /_sandbox/faults` (the body replaces the whole configuration) and
`GET /_sandbox/faults`, or in process with `SandboxServer.set_faults(...)`.

Faults touch the provider APIs only (`/v1/...`), never `/_sandbox/...`. The middleware also keeps the
request statistics: outcomes by kind, requests in flight and the most ever in flight at once.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.kit.ids import new_id

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class FaultKind(StrEnum):
    ERROR_500 = "error_500"
    ERROR_503 = "error_503"
    ERROR_429 = "error_429"
    HANG = "hang"
    LOST_RESPONSE = "lost_response"
    TIMEOUT_AFTER_PROCESSING = "timeout_after_processing"
    OUTAGE = "outage"


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = None
    error_500_rate: Probability = 0.0
    error_503_rate: Probability = 0.0
    error_429_rate: Probability = 0.0
    retry_after_seconds: int = Field(default=1, ge=0)
    hang_rate: Probability = 0.0
    hang_seconds: float = Field(default=3600.0, gt=0)
    lost_response_rate: Probability = 0.0
    timeout_after_processing_rate: Probability = 0.0
    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0)
    methods: list[str] | None = None
    outage_seconds: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _rates_fit_in_one(self) -> FaultConfig:
        total = sum(rate for _kind, rate in self.weighted_kinds())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {total:.3f}; at most 1 is possible")
        return self

    def weighted_kinds(self) -> list[tuple[FaultKind, float]]:
        return [
            (FaultKind.ERROR_500, self.error_500_rate),
            (FaultKind.ERROR_503, self.error_503_rate),
            (FaultKind.ERROR_429, self.error_429_rate),
            (FaultKind.HANG, self.hang_rate),
            (FaultKind.LOST_RESPONSE, self.lost_response_rate),
            (FaultKind.TIMEOUT_AFTER_PROCESSING, self.timeout_after_processing_rate),
        ]


@dataclass(frozen=True)
class FaultDecision:
    kind: FaultKind | None
    latency_seconds: float = 0.0


class _DrawnConfig(Protocol):
    @property
    def seed(self) -> int | None: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def latency_jitter_ms(self) -> float: ...
    @property
    def outage_seconds(self) -> float: ...
    def weighted_kinds(self) -> Any: ...


ConfigT = TypeVar("ConfigT", bound=_DrawnConfig)


class RandomFaults(Generic[ConfigT]):
    """The seeded draw both injectors share: which weighted fault kind (if any) and how much latency,
    an outage window started by `configure`, and the release of hanging requests on stop."""

    def __init__(self, config: ConfigT, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._released = asyncio.Event()
        self.configure(config)

    @property
    def config(self) -> ConfigT:
        return self._config

    def configure(self, config: ConfigT) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self._outage_until = self._clock() + config.outage_seconds if config.outage_seconds else 0.0

    def outage_remaining(self) -> float:
        return max(0.0, self._outage_until - self._clock())

    def draw(self) -> tuple[Any, float]:
        """(the fault kind or None, the latency in seconds) for the next request or transaction."""
        config = self._config
        pick, jitter = self._rng.random(), self._rng.random()
        latency = (config.latency_ms + jitter * config.latency_jitter_ms) / 1000.0
        threshold = 0.0
        for kind, rate in config.weighted_kinds():
            threshold += rate
            if pick < threshold:
                return kind, latency
        return None, latency

    def release_hangs(self) -> None:
        """End every request hanging now (the sandbox is stopping); later ones hang again."""
        released, self._released = self._released, asyncio.Event()
        released.set()

    async def wait_released(self) -> None:
        await self._released.wait()


class FaultInjector(RandomFaults[FaultConfig]):
    """Decides, request by request, which fault (if any) to inject."""

    def __init__(self, config: FaultConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config or FaultConfig(), clock=clock)

    def decide(self, method: str) -> FaultDecision:
        if self.outage_remaining() > 0:
            return FaultDecision(FaultKind.OUTAGE)
        config = self.config
        if config.methods is not None and method.upper() not in {m.upper() for m in config.methods}:
            return FaultDecision(None)
        kind, latency = self.draw()
        return FaultDecision(kind, latency)


@dataclass
class RequestStats:
    """Requests to the provider APIs by outcome, and how many were in flight at once."""

    outcomes: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, outcome: str) -> None:
        self.in_flight -= 1
        self.outcomes[outcome] += 1

    def reset(self) -> None:
        self.outcomes.clear()
        self.max_in_flight = self.in_flight

    def snapshot(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes), "in_flight": self.in_flight, "max_in_flight": self.max_in_flight}


class FaultMiddleware:
    """ASGI middleware in front of the provider APIs: injects faults and keeps `RequestStats`."""

    def __init__(self, app: ASGIApp, *, injector: FaultInjector, stats: RequestStats,
                 prefix: str = "/v1/") -> None:
        self.app = app
        self.injector = injector
        self.stats = stats
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        self.stats.enter()
        outcome = "cancelled"
        try:
            outcome = await self._handle(scope, receive, send)
        finally:
            self.stats.leave(outcome)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> str:
        decision = self.injector.decide(scope["method"])
        config = self.injector.config
        if decision.kind is FaultKind.OUTAGE:
            retry_after = max(1, math.ceil(self.injector.outage_remaining()))
            await _send_error(send, 503, "api_error", "The sandbox is in an injected outage.",
                              headers={"Retry-After": str(retry_after)})
            return FaultKind.OUTAGE.value
        if decision.latency_seconds > 0:
            await asyncio.sleep(decision.latency_seconds)
        match decision.kind:
            case FaultKind.ERROR_500:
                await _send_error(send, 500, "api_error", "An unknown error occurred (sandbox: injected 500).")
            case FaultKind.ERROR_503:
                await _send_error(send, 503, "api_error", "The service is unavailable (sandbox: injected 503).")
            case FaultKind.ERROR_429:
                await _send_error(
                    send, 429, "invalid_request_error",
                    "Request rate limit exceeded (sandbox: injected 429). Retry after a while.",
                    code="rate_limit", headers={"Retry-After": str(config.retry_after_seconds)},
                )
            case FaultKind.HANG:
                await self._hang(receive, send, config.hang_seconds)
            case FaultKind.LOST_RESPONSE:
                await self._lose_response(scope, receive, send)
            case FaultKind.TIMEOUT_AFTER_PROCESSING:
                await self.app(scope, receive, _discard)
                await self._hang(receive, send, config.hang_seconds)
            case None:
                return await self._pass_through(scope, receive, send)
        return str(decision.kind)

    async def _pass_through(self, scope: Scope, receive: Receive, send: Send) -> str:
        outcome = "ok"

        async def observe(message: Message) -> None:
            nonlocal outcome
            if message["type"] == "http.response.start":
                outcome = _outcome_of(message)
            await send(message)

        await self.app(scope, receive, observe)
        return outcome

    async def _hang(self, receive: Receive, send: Send, seconds: float) -> None:
        """Hold the request until the client disconnects, the sandbox stops, or `seconds` pass."""

        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = [asyncio.ensure_future(w) for w in
                   (client_gone(), self.injector.wait_released(), asyncio.sleep(seconds))]
        try:
            done, _pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if waiters[0] not in done:
            await _drop_connection(send)

    async def _lose_response(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Process the request in full, then send only part of the answer and drop the connection."""
        start: Message | None = None
        body = b""

        async def capture(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")

        await self.app(scope, receive, capture)
        assert start is not None
        await send(start)
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        # Returning with the response incomplete makes the server close the connection.


async def _discard(_message: Message) -> None:
    """Swallow the answer of a request that was processed (its effects stay, its answer never leaves)."""


def _outcome_of(start: Message) -> str:
    headers = {name.lower(): value for name, value in start.get("headers", [])}
    status = int(start["status"])
    if headers.get(b"idempotent-replayed") == b"true":
        return "replayed"
    if status < 300:
        return "ok"
    if status == 402:
        return "card_declined"
    if status == 401:
        return "unauthorized"
    return "rejected" if status < 500 else "server_error"


async def _send_error(send: Send, status: int, error_type: str, message: str, *, code: str | None = None,
                      headers: dict[str, str] | None = None) -> None:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        error["code"] = code
    body = json.dumps({"error": error}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"request-id", new_id("req").encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _drop_connection(send: Send) -> None:
    """Start an answer that never completes; the server then closes the connection."""
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")]})
