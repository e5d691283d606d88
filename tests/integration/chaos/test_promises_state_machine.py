"""The promises under any sequence of API calls, worker rounds, crashes and provider faults
(Hypothesis `RuleBasedStateMachine`; a failing sequence is shrunk to a short one and printed).

Rules: paid and free sign-ups, payments (some sent twice with one Idempotency-Key), refunds of any
size, password resets, webhook subscriptions, worker rounds, a crash point armed so the next job to
reach it "dies" there (`SimulatedCrash`: its transaction never commits, its lease is left to expire;
the clock then moves past the lease and another worker takes the job over), the clock moved, and
provider faults (5xx, 429, lost responses) switched on and off at the sandbox. Invariants after every
step and, once the system is quiet (`settle`, also at the end of every sequence), the promises of
`tests/integration/chaos/promises.py`, counted at the sandbox, the SMTP sink and the webhook receiver.

Size: CI-sized by default (10 examples on SQLite, 5 on PostgreSQL, up to 20 steps each; 2-3 s an
example, most of it worker rounds waiting to see the queue idle); `SEAWALL_STATE_MACHINE_EXAMPLES` and
`SEAWALL_STATE_MACHINE_STEPS` make it larger (e.g. 500 and 40 for a long run). Each example runs on a
fresh copy of a migrated database. Password hashing runs far below its production cost here: it is
not what this proves.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from seawall.chaos.crash_points import POINTS, SimulatedCrash, arm, disarm
from tests.integration.accounts.wire import STRONG_PASSWORD, bearer, new_email, new_key
from tests.integration.chaos.promises import Accepted, World, check_always, check_quiet
from tests.support.database_copies import TemplateCopies

EXAMPLES = {"sqlite": 10, "postgres": 5}  # CI-sized; SEAWALL_STATE_MACHINE_EXAMPLES sets both
STEPS = int(os.environ.get("SEAWALL_STATE_MACHINE_STEPS", "20"))
# Mostly cards that pay (so refunds have captures to work on), some that are declined.
CARDS = ["pm_card_visa", "pm_card_visa", "pm_card_visa", "pm_card_chargeDeclined",
         "pm_card_chargeDeclinedInsufficientFunds"]
FAULTS = {
    "error_500": {"error_500_rate": 1.0},
    "error_503": {"error_503_rate": 0.5},
    "error_429": {"error_429_rate": 0.5, "retry_after_seconds": 1},
    "lost_response": {"lost_response_rate": 1.0},  # processed at the provider, then the connection drops
    "timeout_after_processing": {"timeout_after_processing_rate": 0.5},
}
MAIL_FAULTS = {"error_451": {"error_451_rate": 0.5}, "lost_response": {"lost_response_rate": 0.5}}
EVENT_TYPES = ["payment.succeeded", "payment.failed", "refund.created"]
DatabaseFactory = Callable[[Path], tuple[str | None, Callable[[], None]]]


def _swallow_simulated_crashes(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A job task that "died" at a crash point ends with `SimulatedCrash`; nobody awaits it."""
    if isinstance(context.get("exception"), SimulatedCrash):
        return
    loop.default_exception_handler(context)


class PromisesMachine(RuleBasedStateMachine):
    """One world per example, on a fresh copy of a migrated database: `database_factory` (set per
    backend) takes the example's var dir and gives (database_url, cleanup)."""

    database_factory: ClassVar[DatabaseFactory]
    tally: ClassVar[Counter[str]]  # what the examples did, over the whole run (printed at the end)

    users = Bundle("users")  # (email, token)
    payments = Bundle("payments")  # (payment id, amount, token)

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_swallow_simulated_crashes)
        self.directory = Path(tempfile.mkdtemp(prefix="seawall-promises-"))
        self.database_url, self.drop_database = type(self).database_factory(self.directory)
        self.accepted = Accepted()
        self.broken = False  # a step failed: the end-of-sequence checks would only repeat it
        self.checked = -1  # `owed` at the last quiet check
        self.crashes: list[str] = []  # the crash points hit since the last quiet check
        self.outcome: dict[str, int] = {}  # the last quiet check's counts
        try:
            self.world = self.run(World.open(var_dir=self.directory, database_url=self.database_url, migrated=True))
        except BaseException:
            self.loop.close()
            self.drop_database()
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    @property
    def owed(self) -> int:
        """How much work the API has accepted so far (payments, refunds, resets, endpoints)."""
        accepted = self.accepted
        return len(accepted.payments) + len(accepted.refunds) + len(accepted.resets) + len(accepted.endpoints)

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        try:
            return self.loop.run_until_complete(coroutine)
        except BaseException:
            self.broken = True
            raise

    def teardown(self) -> None:
        try:
            if not self.broken:
                self.settle()
                self.tally.update(self.outcome)  # what the example's work came to, counted once
                self.tally["examples"] += 1
        finally:
            disarm()
            try:
                self.loop.run_until_complete(self.world.close())
            finally:
                self.loop.close()
                self.drop_database()
                shutil.rmtree(self.directory, ignore_errors=True)

    # -- API calls -------------------------------------------------------------------------------
    @initialize(target=users)
    def first_user(self) -> tuple[str, str]:
        return self.run(self._free_sign_up())

    async def _free_sign_up(self) -> tuple[str, str]:
        email = new_email("promise")
        client = self.world.client
        answer = await client.post("/v1/signups", json={"email": email, "password": STRONG_PASSWORD},
                                   headers={"Idempotency-Key": new_key()})
        assert answer.status_code == 201, answer.text
        login = await client.post("/v1/sessions", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 201, login.text
        return email, str(login.json()["token"])

    @rule(target=users)
    def free_sign_up(self) -> tuple[str, str]:
        return self.run(self._free_sign_up())

    @rule(target=payments, plan=st.sampled_from(["starter", "pro", "business"]), card=st.sampled_from(CARDS))
    def paid_sign_up(self, plan: str, card: str) -> tuple[str, int, str]:
        async def call() -> tuple[str, int, str]:
            answer = await self.world.client.post(
                "/v1/signups", json={"email": new_email("paid"), "password": STRONG_PASSWORD, "plan": plan,
                                     "payment_method": card}, headers={"Idempotency-Key": new_key()})
            assert answer.status_code == 202, answer.text
            payment = answer.json()["payment"]
            self.accepted.payments[payment["id"]] = payment["amount"]
            return str(payment["id"]), int(payment["amount"]), ""  # no token: the user logs in once active
        result: tuple[str, int, str] = self.run(call())
        return result

    @rule(target=payments, user=users, amount=st.integers(100, 5000), card=st.sampled_from(CARDS),
          twice=st.booleans())
    def pay(self, user: tuple[str, str], amount: int, card: str, twice: bool) -> tuple[str, int, str]:
        async def call() -> tuple[str, int, str]:
            key = new_key()
            ids = []
            for _ in range(2 if twice else 1):  # a client retry with the same key is answered, not redone
                answer = await self.world.client.post(
                    "/v1/payments", json={"amount": amount, "currency": "usd", "payment_method": card},
                    headers={**bearer(user[1]), "Idempotency-Key": key})
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["id"])
            assert len(set(ids)) == 1, ids
            self.accepted.payments[ids[0]] = amount
            return ids[0], amount, user[1]
        return self.run(call())

    @rule(payment=payments, percent=st.integers(1, 120))
    def refund(self, payment: tuple[str, int, str], percent: int) -> None:
        payment_id, amount, token = payment
        if not token:
            return  # a paid sign-up's payment: its owner has no session here

        async def call() -> None:
            answer = await self.world.client.post(
                f"/v1/payments/{payment_id}/refunds", json={"amount": max(1, amount * percent // 100)},
                headers={**bearer(token), "Idempotency-Key": new_key()})
            if answer.status_code != 202:  # not captured (yet), or beyond what is left: refused, nothing owed
                assert answer.status_code == 422 and answer.json()["error"]["type"] == "refund_not_allowed", answer.text
            if answer.status_code == 202:
                self.accepted.refunds[answer.json()["id"]] = payment_id
        self.run(call())

    @rule(user=users)
    def password_reset(self, user: tuple[str, str]) -> None:
        async def call() -> None:
            answer = await self.world.client.post("/v1/password-resets", json={"email": user[0]},
                                                  headers={"Idempotency-Key": new_key()})
            assert answer.status_code == 202, answer.text
            self.accepted.resets.add(user[0])
        self.run(call())

    @rule(user=users)
    def subscribe_webhooks(self, user: tuple[str, str]) -> None:
        async def call() -> None:
            name = f"hooks-{uuid.uuid4().hex[:8]}"
            self.world.clock.advance(0.001)  # events before and after it have times apart from its own
            answer = await self.world.client.post(
                "/v1/webhook-endpoints", json={"url": self.world.receiver.url(name), "event_types": EVENT_TYPES},
                headers={**bearer(user[1]), "Idempotency-Key": new_key()})
            assert answer.status_code == 201, answer.text
            body = answer.json()
            self.world.receiver.register(name, body["secret"])
            self.accepted.endpoints[body["id"]] = name
            self.world.clock.advance(0.001)
        self.run(call())

    # -- workers, crashes, time, faults ------------------------------------------------------------
    @rule(concurrency=st.sampled_from([1, 4]), fault=st.sampled_from([None, *sorted(FAULTS)]),
          mail_fault=st.sampled_from([None, *sorted(MAIL_FAULTS)]), crash=st.sampled_from([None, *POINTS]))
    def worker_round(self, concurrency: int, fault: str | None, mail_fault: str | None, crash: str | None) -> None:
        """A worker runs every due job while the provider and the SMTP server misbehave (`fault`,
        `mail_fault`; they recover at the end of the round); with `crash`, the first job to reach
        that point dies there: its lease is left to expire and a later worker takes the job over."""
        if crash is not None:
            def die(point: str) -> None:
                disarm(point)
                self.crashes.append(point)
                raise SimulatedCrash(point)
            arm(crash, die)
        if fault is not None:
            self.world.sandbox.set_faults(**FAULTS[fault], seed=self.world.worker_rounds)
        if mail_fault is not None:
            self.world.sandbox.set_smtp_faults(**MAIL_FAULTS[mail_fault], seed=self.world.worker_rounds)
        try:
            self.run(self.world.run_worker(concurrency=concurrency))
        finally:
            disarm()
            self.world.sandbox.set_faults()
            self.world.sandbox.set_smtp_faults()

    @rule(seconds=st.sampled_from([1.0, 3.5]))
    def advance_clock(self, seconds: float) -> None:
        """3.5 s is past the job lease (3 s): a crashed worker's job can be taken over."""
        self.world.clock.advance(seconds)

    @precondition(lambda self: self.owed != self.checked)
    @rule()
    def settle(self) -> None:
        """Run workers until quiet, then check every promise (when work was accepted since the last time)."""
        self.checked = self.owed
        self.run(self.world.settle())
        self.outcome = self.run(check_quiet(self.world, self.accepted))
        self.tally["quiet checks"] += 1
        self.tally.update(f"crashed at {point}" for point in self.crashes)
        self.crashes.clear()

    # -- invariants at every step --------------------------------------------------------------------
    @invariant()
    def never_charged_twice_refunds_within_captures_ledger_balances(self) -> None:
        self.run(check_always(self.world, self.accepted))


def _settings(backend: str) -> settings:
    examples = int(os.environ.get("SEAWALL_STATE_MACHINE_EXAMPLES", "0") or 0) or EXAMPLES[backend]
    return settings(max_examples=examples, stateful_step_count=STEPS, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per run; each example gets a copy (far faster than migrating each)."""
    from seawall.config import Settings
    from seawall.db import Database

    directory = tmp_path_factory.mktemp("promises-template")
    database = Database(Settings(var_dir=directory))

    async def migrate() -> None:
        await database.migrate()
        await database.dispose()

    asyncio.run(migrate())
    return directory / "seawall.db"


def _database_factory(backend: str, request: pytest.FixtureRequest) -> DatabaseFactory:
    if backend == "postgres":
        copies: TemplateCopies = request.getfixturevalue("postgres_copies")

        def postgres(_var_dir: Path) -> tuple[str | None, Callable[[], None]]:
            url = copies.take()
            return url, lambda: copies.give_back(url)
        return postgres
    source = request.getfixturevalue("sqlite_template")

    def sqlite(var_dir: Path) -> tuple[str | None, Callable[[], None]]:
        for path in source.parent.glob(f"{source.name}*"):  # the file, and its WAL if one was left
            shutil.copyfile(path, var_dir / path.name)
        return None, lambda: None
    return sqlite


@pytest.mark.timeout(900)
@pytest.mark.backends("sqlite", "postgres")
def test_promises_hold_under_any_sequence(backend: str, request: pytest.FixtureRequest) -> None:
    factory = _database_factory(backend, request)
    tally: Counter[str] = Counter()
    machine = type(f"PromisesOn{backend.title()}", (PromisesMachine,),
                   {"database_factory": staticmethod(factory), "tally": tally})
    run_state_machine_as_test(machine, settings=_settings(backend))
    print(f"promises state machine on {backend}: {dict(sorted(tally.items()))}")
