"""In-memory test doubles for the outside services behind Seawall's Protocols — a payment provider
(`seawall.providers.payments.PaymentProvider`) and a notification channel
(`seawall.notifications.channels.Channel`) — and small stand-ins for DNS (`FakeResolver`), a
monotonic timer (`FakeTimer`) and password hashing (`PlainPasswords`). No I/O.

The provider and the channel answer from a script and record every call:
- `script(method, *answers)` queues answers for one method, used first in, first out; an answer that
  is an exception instance is raised instead of returned;
- a call with no scripted answer left raises `UnexpectedCall` (an `AssertionError`), so a test that
  scripts nothing proves the code under test made no such call — except `ScriptedChannel.send`, which
  answers `"fake-<n>"` (a provider message id) by default;
- `calls` lists every call in order as `Call(method, arguments)`, arguments by keyword.
`intent(...)` and `refund(...)` build the provider's answers with plausible defaults.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from seawall.notifications.channels import Recipient
from seawall.notifications.rendering import RenderedMessage
from seawall.providers.payments import (
    SEAWALL_PAYMENT_ID_KEY,
    SEAWALL_REFUND_ID_KEY,
    PaymentFailure,
    PaymentIntentResult,
    RefundResult,
)

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


class UnexpectedCall(AssertionError):
    """The code under test called a method the test scripted no (more) answers for."""


@dataclass(frozen=True)
class Call:
    method: str
    arguments: dict[str, Any]


@dataclass
class Script:
    """Answer queues per method and the record of calls."""

    answers: dict[str, deque[Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def add(self, method: str, answers: tuple[Any, ...]) -> None:
        self.answers.setdefault(method, deque()).extend(answers)

    def has_answer(self, method: str) -> bool:
        return bool(self.answers.get(method))

    def answer(self, method: str, arguments: dict[str, Any]) -> Any:
        self.calls.append(Call(method, arguments))
        queue = self.answers.get(method)
        if not queue:
            raise UnexpectedCall(f"unscripted call {method}({arguments})")
        answer = queue.popleft()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]


def intent(status: str = "succeeded", *, id: str = "pi_fake_1", amount: int = 2000, currency: str = "usd",
           payment_id: str | None = None, decline_code: str | None = None,
           message: str | None = None) -> PaymentIntentResult:
    """A payment intent as the provider reports it; a `decline_code` becomes its last failure."""
    failure = None
    if decline_code is not None:
        failure = PaymentFailure(kind="card_error", code="card_declined", decline_code=decline_code, message=message)
    return PaymentIntentResult(
        id=id, status=status, amount=amount, amount_received=amount if status == "succeeded" else 0,
        currency=currency, created=CREATED,
        metadata={SEAWALL_PAYMENT_ID_KEY: payment_id} if payment_id else {}, last_failure=failure,
    )


def refund(status: str = "succeeded", *, id: str = "re_fake_1", amount: int = 2000, currency: str = "usd",
           payment_intent_id: str | None = "pi_fake_1", refund_id: str | None = None) -> RefundResult:
    """A refund as the provider reports it; `refund_id` becomes its `metadata[seawall_refund_id]`."""
    return RefundResult(id=id, status=status, amount=amount, currency=currency,
                        payment_intent_id=payment_intent_id, created=CREATED,
                        metadata={SEAWALL_REFUND_ID_KEY: refund_id} if refund_id else {})


class Scripted:
    """What every scripted fake shares: `script(method, *answers)` queues answers (an exception is
    raised when its turn comes), `calls` records every call, `methods()` their names in order."""

    def __init__(self) -> None:
        self._script = Script()

    def script(self, method: str, *answers: Any) -> None:
        self._script.add(method, answers)

    @property
    def calls(self) -> list[Call]:
        return self._script.calls

    def methods(self) -> list[str]:
        return self._script.methods()


class ScriptedPaymentProvider(Scripted):
    """A `PaymentProvider` whose every method answers from `script(...)`."""

    def __init__(self, name: str = "stripe") -> None:
        super().__init__()
        self.name = name

    async def create_payment_intent(self, *, amount: int, currency: str, payment_method: str, idempotency_key: str,
                                    metadata: Mapping[str, str], description: str | None = None
                                    ) -> PaymentIntentResult:
        answer: PaymentIntentResult = self._script.answer("create_payment_intent", {
            "amount": amount, "currency": currency, "payment_method": payment_method,
            "idempotency_key": idempotency_key, "metadata": dict(metadata), "description": description})
        return answer

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentIntentResult:
        answer: PaymentIntentResult = self._script.answer("retrieve_payment_intent", {"intent_id": intent_id})
        return answer

    async def find_payment_intent(self, *, seawall_payment_id: str) -> PaymentIntentResult | None:
        answer: PaymentIntentResult | None = self._script.answer(
            "find_payment_intent", {"seawall_payment_id": seawall_payment_id})
        return answer

    async def create_refund(self, *, payment_intent_id: str, amount: int | None, idempotency_key: str,
                            metadata: Mapping[str, str]) -> RefundResult:
        answer: RefundResult = self._script.answer("create_refund", {
            "payment_intent_id": payment_intent_id, "amount": amount, "idempotency_key": idempotency_key,
            "metadata": dict(metadata)})
        return answer

    async def find_refund(self, *, payment_intent_id: str, seawall_refund_id: str) -> RefundResult | None:
        answer: RefundResult | None = self._script.answer(
            "find_refund", {"payment_intent_id": payment_intent_id, "seawall_refund_id": seawall_refund_id})
        return answer


class ScriptedChannel(Scripted):
    """A notification `Channel`: reaches every recipient unless `reachable` is False; `send` answers
    from `script("send", ...)`, else with the provider message id `"fake-<n>"`. `sent` records what
    each call was asked to deliver."""

    def __init__(self, name: str = "email", *, reachable: bool = True) -> None:
        super().__init__()
        self.name = name
        self.reachable = reachable
        self.closed = False

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [call.arguments for call in self._script.calls if call.method == "send"]

    def can_reach(self, recipient: Recipient) -> bool:
        return self.reachable

    async def send(self, *, message_id: str, recipient: Recipient, rendered: RenderedMessage,
                   event: dict[str, Any], session: Any, clock: Any) -> str | None:
        if not self._script.has_answer("send"):
            self._script.add("send", (f"fake-{len(self.sent) + 1}",))
        answer: str | None = self._script.answer("send", {
            "message_id": message_id, "recipient": recipient, "rendered": rendered, "event": event})
        return answer

    async def aclose(self) -> None:
        self.closed = True


class FakeResolver:
    """A webhook URL guard's resolver: host name → addresses from `answers` (tests change them to play
    DNS changes); any other name raises `OSError`. `asked` records the names looked up."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers: dict[str, list[str]] = answers if answers is not None else {}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host}: name does not resolve")
        return self.answers[host]


class FakeTimer:
    """A monotonic timer (seconds) that moves only when a test sets `seconds`."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def __call__(self) -> float:
        return self.seconds


class PlainPasswords:
    """Stands in for `seawall.accounts.passwords.Passwords` where nobody logs in: `hash` without argon2."""

    async def hash(self, password: str) -> str:
        return f"plain:{password}"
