"""The chaos run's traffic: the demo's well-behaved client (`cli.demo.workload`, `cli.demo.subscribers`)
spread over every API process, kept flowing while processes die.

- `BalancedTransport` sends each request to the next API process in turn, as a load balancer would;
  a request whose process was killed fails with a transport error, and the client's retry (same
  Idempotency-Key) goes to the next one.
- `ChaosClient` is the demo's `ApiClient` with more attempts: an API killed mid-request takes a
  couple of seconds to come back, and the client must outlast every one of them being down at once.
- `drive_traffic`: paid sign-ups with a login, password resets, refunds of some sign-ups' captured
  payments, and webhook subscribers' rounds of payments and refunds, repeated until the disruption
  schedule is over (`until`), bounded in rounds.

Every request that got a 2xx answer is recorded in `Traffic` (payment, refund and user ids): that is
the work the invariants say must be done.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from seawall.cli.demo import workload
from seawall.cli.demo.subscribers import Subscriber, create_subscriber
from seawall.cli.demo.workload import ApiClient, DemoUser, Recorder, bearer
from seawall.payments.plans import PLANS

if TYPE_CHECKING:
    from seawall.sandbox.webhook_receiver import WebhookReceiverServer

CLIENT_ATTEMPTS = 120  # ~ 3 minutes at the 2 s retry cap: longer than any restart, even on a busy machine
MAX_ROUNDS = 500  # subscribers' payment rounds, whatever the schedule


class BalancedTransport(httpx.AsyncBaseTransport):
    """Round-robin over `base_urls` (loopback `http://127.0.0.1:<port>`): each request goes to the next."""

    def __init__(self, base_urls: Sequence[str], *, limits: httpx.Limits) -> None:
        self._targets = itertools.cycle([httpx.URL(url) for url in base_urls])
        self._inner = httpx.AsyncHTTPTransport(limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = next(self._targets)
        request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class ChaosClient(ApiClient):
    """The demo's client with `CLIENT_ATTEMPTS`; a final answer that is a 5xx, or a 401 to a request
    that carried a token, is noted in `unexpected` (the run reports them: under fire the API should
    answer 503 and retry-able, never 500, and never refuse a valid session)."""

    def __init__(self, http: httpx.AsyncClient, recorder: Recorder) -> None:
        super().__init__(http, recorder)
        self.unexpected: list[str] = []

    async def call(self, method: str, url: str, *, route: str, attempts: int = CLIENT_ATTEMPTS,
                   **kwargs: Any) -> httpx.Response:
        response = await super().call(method, url, route=route, attempts=attempts, **kwargs)
        with_token = "Authorization" in kwargs.get("headers", {})
        if response.status_code >= 500 or (response.status_code == 401 and with_token):
            self.unexpected.append(f"{route}: {response.status_code} {response.text[:200]}")
        return response


@dataclass
class Traffic:
    """What the clients were promised (2xx answers), and how the traffic went."""

    users: list[DemoUser] = field(default_factory=list)
    subscribers: list[Subscriber] = field(default_factory=list)
    recorder: Recorder = field(default_factory=Recorder)
    resets_accepted: int = 0  # for emails that have an account
    refund_ids: set[str] = field(default_factory=set)
    refunded_payments: dict[str, str] = field(default_factory=dict)  # payment id → the refund asked for it
    rounds: int = 0
    failed_requests: list[str] = field(default_factory=list)  # gave up after every attempt (not a 2xx)

    @property
    def accepted_signups(self) -> list[DemoUser]:
        return [user for user in self.users if user.signup_status == 202 and user.user_id]

    @property
    def payment_ids(self) -> set[str]:
        return {payment_id for subscriber in self.subscribers for payment_id in subscriber.payment_ids}


@dataclass(frozen=True)
class TrafficShape:
    users: int = 30
    subscribers: int = 2
    payments_per_round: int = 3
    concurrency: int = 8
    declined_share: float = 0.15
    seed: int = 1
    round_pause: float = 0.5  # seconds between the subscribers' rounds: steady load, not a flood


def client(base_urls: Sequence[str], *, concurrency: int, recorder: Recorder) -> tuple[httpx.AsyncClient, ChaosClient]:
    limits = httpx.Limits(max_connections=concurrency * 2, keepalive_expiry=2.0)
    http = httpx.AsyncClient(base_url="http://api.invalid", timeout=30.0,
                             transport=BalancedTransport(base_urls, limits=limits))
    return http, ChaosClient(http, recorder)


async def _guard(traffic: Traffic, what: str, call: Any) -> None:
    """Run one client step; a step that still fails after every retry is counted, not raised."""
    try:
        await call
    except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
        traffic.failed_requests.append(f"{what}: {type(exc).__name__}: {exc}"[:300])


async def set_up_subscribers(api: ChaosClient, receiver: WebhookReceiverServer, traffic: Traffic,
                             count: int) -> None:
    for index in range(count):
        subscriber = await create_subscriber(api, receiver, index)
        if subscriber.endpoint_id is None:
            raise RuntimeError(f"webhook subscriber {index} could not register its endpoint")
        traffic.subscribers.append(subscriber)


async def pay_round(api: ChaosClient, subscriber: Subscriber, *, first: int, count: int) -> None:
    """`count` payments at once (numbers `first`..), every fifth with a card that is declined."""
    async def one(number: int) -> None:
        card = "pm_card_chargeDeclined" if number % 5 == 4 else "pm_card_visa"
        response = await api.call(
            "POST", "/v1/payments", route="POST /v1/payments",
            headers={**bearer(subscriber.user), "Idempotency-Key": f"{subscriber.user.signup_key}-pay-{number}"},
            json={"amount": 1500 + number, "currency": "usd", "payment_method": card, "description": f"order {number}"})
        if response.status_code == 202:
            subscriber.payment_ids.append(str(response.json()["id"]))

    await asyncio.gather(*(one(number) for number in range(first, first + count)))


async def refund_one(api: ChaosClient, subscriber: Subscriber, traffic: Traffic) -> None:
    """Refund a third of the newest captured payment of `subscriber` not asked back yet."""
    response = await api.call("GET", "/v1/payments", route="GET /v1/payments", headers=bearer(subscriber.user),
                              params={"limit": 100})
    if response.status_code != 200:
        return
    for payment in response.json()["data"]:
        if payment["status"] == "succeeded" and payment["id"] not in traffic.refunded_payments:
            await _refund(api, subscriber.user, payment, payment["amount"] // 3, traffic)
            if payment["id"] in traffic.refunded_payments:
                subscriber.refund_ids.append(traffic.refunded_payments[payment["id"]])
            return


async def refund_users(api: ChaosClient, traffic: Traffic) -> None:
    """Users of the asking share (one in five) whose plan payment is captured ask for it back, half or all."""
    for user in [u for u in traffic.accepted_signups if u.token and u.index % 5 == 1]:
        if user.payments and all(p["status"] == "failed" or p["id"] in traffic.refunded_payments
                                 for p in user.payments):
            continue
        await workload.load_payments(api, user)
        for payment in user.payments:
            if payment["status"] == "succeeded" and payment["id"] not in traffic.refunded_payments:
                amount = payment["amount"] if user.index % 2 else payment["amount"] // 2
                await _refund(api, user, payment, amount, traffic)


async def _refund(api: ChaosClient, user: DemoUser, payment: dict[str, Any], amount: int, traffic: Traffic) -> None:
    response = await api.call(
        "POST", f"/v1/payments/{payment['id']}/refunds", route="POST /v1/payments/{id}/refunds",
        headers={**bearer(user), "Idempotency-Key": f"refund-{payment['id']}"}, json={"amount": amount})
    if response.status_code == 202:
        refund_id = str(response.json()["id"])
        traffic.refund_ids.add(refund_id)
        traffic.refunded_payments[payment["id"]] = refund_id


async def drive_traffic(api: ChaosClient, traffic: Traffic, shape: TrafficShape, *, until: asyncio.Event) -> None:
    """Sign-ups (each with a login), resets, then refunds of users' captured payments; meanwhile the
    subscribers pay and refund round after round until `until` is set (at least one round)."""
    rng = random.Random(shape.seed)
    traffic.users = workload.make_users(shape.users, rng=rng, plans=sorted(PLANS), declined_share=shape.declined_share)

    async def user_journey(user: DemoUser) -> None:
        await workload.sign_up(api, user)
        await workload.log_in(api, user)
        if user.index % 5 == 0 and user.signup_status == 202:
            response = await api.call("POST", "/v1/password-resets", route="POST /v1/password-resets",
                                      json={"email": user.email}, headers={"Idempotency-Key": f"{user.signup_key}-r"})
            if response.is_success:
                traffic.resets_accepted += 1

    async def users() -> None:
        await workload.run_concurrently(traffic.users, lambda u: _guard(traffic, f"user {u.index}", user_journey(u)),
                                        concurrency=shape.concurrency)

    async def subscribers() -> None:
        number = 0
        while traffic.rounds < MAX_ROUNDS:
            await asyncio.gather(*(_guard(traffic, f"{s.name} round {traffic.rounds}",
                                          pay_round(api, s, first=number, count=shape.payments_per_round))
                                   for s in traffic.subscribers))
            await asyncio.gather(_guard(traffic, "users' refunds", refund_users(api, traffic)),
                                 *(_guard(traffic, f"{s.name} refund", refund_one(api, s, traffic))
                                   for s in traffic.subscribers))
            number += shape.payments_per_round
            traffic.rounds += 1
            if until.is_set():
                return
            await asyncio.sleep(shape.round_pause)

    await asyncio.gather(users(), subscribers())


def payments_by_subscriber(traffic: Traffic, statuses: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """`cli.demo.subscribers.webhook_findings`' view of each subscriber's payments, from the database's statuses."""
    return {s.name: [{"id": pid, "status": statuses.get(pid, "missing")} for pid in s.payment_ids]
            for s in traffic.subscribers}
