"""The promises checked after a chaos run, as a pure function of what was seen (`History`).

The history holds the clients' 2xx answers (the work that was promised), Seawall's database rows
(payments, refunds, unfinished and dead jobs, notifications, the ledger check) and the providers'
own records (the sandbox's charges and refunds, the SMTP sink's deliveries per Message-ID, the
webhook receiver's findings). `check(history)` returns every violation, each naming the promise
(DESIGN §1) it breaks and the object it concerns:

- `lost_work` (promise 1): a 2xx'd sign-up, payment or refund whose work is neither done nor parked
  in the dead-letter queue with its error; a job left queued or running once the system is quiet;
  a dead job without an error.
- `double_charge` (promise 2): a payment with more than one captured charge at the provider, or
  captured for another amount than its own.
- `lost_payment` (promise 2): the provider captured a charge that Seawall records as not captured
  (failed, or never settled and not dead-lettered), or Seawall records a capture the provider does
  not have.
- `refund_exceeds_capture`: refunds at the provider, or Seawall's refunded amount, above the captured
  amount. `refund_mismatch`: Seawall's refunded amount differs from the provider's (a refund lost or
  made twice), unless a refund of that payment waits in the dead-letter queue.
- `ledger` (`payments.ledger.check_ledger`): an unbalanced transaction or a ledger that disagrees
  with the payments and refunds.
- `undelivered` (promise 2): a receipt, failure notice, refund receipt, reset email (one per accepted
  reset of an account) or other email not recorded or not accepted by
  the SMTP sink, a webhook event that never reached its subscriber, a webhook delivery whose
  signature does not verify. Redeliveries (one Message-ID or webhook-id received twice) are counted
  and reported, not violations: the stable id is what lets the receiver deduplicate them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

CAPTURED = frozenset({"succeeded", "partially_refunded", "refunded"})
SETTLED = CAPTURED | {"failed"}
REFUND_SETTLED = frozenset({"succeeded", "failed"})
IDLE_QUEUES = frozenset({"maintenance"})  # periodic work is always scheduled: it does not keep a run busy


@dataclass(frozen=True)
class PaymentRecord:
    id: str
    user_id: str
    amount: int
    status: str
    amount_refunded: int = 0


@dataclass(frozen=True)
class RefundRecord:
    id: str
    payment_id: str
    amount: int
    status: str


@dataclass(frozen=True)
class JobRecord:
    """A job that did not succeed (queued, running or dead)."""

    id: int
    kind: str
    queue: str
    status: str
    payload: dict[str, Any]
    last_error: str | None = None


@dataclass(frozen=True)
class NotificationRecord:
    id: str
    event_key: str
    channel: str
    status: str


@dataclass(frozen=True)
class ProviderCharge:
    """A PaymentIntent at the provider, by the Seawall payment id in its metadata."""

    intent_id: str
    payment_id: str
    amount: int
    status: str


@dataclass(frozen=True)
class ProviderRefund:
    intent_id: str
    amount: int
    status: str


@dataclass
class History:
    signup_user_ids: set[str] = field(default_factory=set)  # 202 to a paid sign-up
    payment_ids: set[str] = field(default_factory=set)  # 202 to POST /v1/payments
    refund_ids: set[str] = field(default_factory=set)  # 202 to POST /v1/payments/{id}/refunds
    resets: int = 0  # 2xx to POST /v1/password-resets, each for a distinct account's email
    payments: dict[str, PaymentRecord] = field(default_factory=dict)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)
    jobs: list[JobRecord] = field(default_factory=list)
    notifications: list[NotificationRecord] = field(default_factory=list)
    charges: list[ProviderCharge] = field(default_factory=list)
    provider_refunds: list[ProviderRefund] = field(default_factory=list)
    mail_deliveries: Counter[str] = field(default_factory=Counter)  # Message-ID → times the sink accepted it
    ledger_problems: list[str] = field(default_factory=list)
    webhooks: dict[str, Any] = field(default_factory=dict)  # cli.demo.subscribers.webhook_findings


@dataclass(frozen=True)
class Violation:
    promise: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.promise}: {self.subject}: {self.detail}"


def message_id(notification_id: str) -> str:
    return f"<{notification_id}@seawall.invalid>"


def _dead_letters(history: History) -> dict[str, JobRecord]:
    """Dead jobs by the object their payload names (payment, refund or notification id)."""
    found: dict[str, JobRecord] = {}
    for job in history.jobs:
        if job.status == "dead":
            for key in ("payment_id", "refund_id", "notification_id"):
                if isinstance(job.payload.get(key), str):
                    found[job.payload[key]] = job
    return found


def _lost_work(history: History, dead: dict[str, JobRecord]) -> list[Violation]:
    found = []
    by_user: dict[str, list[PaymentRecord]] = defaultdict(list)
    for payment in history.payments.values():
        by_user[payment.user_id].append(payment)
    for user_id in sorted(history.signup_user_ids):
        if not by_user.get(user_id):
            found.append(Violation("lost_work", f"sign-up of {user_id}", "answered 202, but no payment was recorded"))
    promised = history.payment_ids | {p.id for user in history.signup_user_ids for p in by_user.get(user, [])}
    for payment_id in sorted(promised):
        record = history.payments.get(payment_id)
        if record is None:
            found.append(Violation("lost_work", f"payment {payment_id}", "answered 202, but it is not in the database"))
        elif record.status not in SETTLED and payment_id not in dead:
            found.append(Violation("lost_work", f"payment {payment_id}",
                                   f"still {record.status} and not in the dead-letter queue"))
    for refund_id in sorted(history.refund_ids):
        refund = history.refunds.get(refund_id)
        if refund is None:
            found.append(Violation("lost_work", f"refund {refund_id}", "answered 202, but it is not in the database"))
        elif refund.status not in REFUND_SETTLED and refund_id not in dead:
            found.append(Violation("lost_work", f"refund {refund_id}",
                                   f"still {refund.status} and not in the dead-letter queue"))
    for job in history.jobs:
        if job.status in ("queued", "running") and job.queue not in IDLE_QUEUES:
            found.append(Violation("lost_work", f"job {job.id} ({job.kind})", f"still {job.status} once quiet"))
        elif job.status == "dead" and not job.last_error:
            found.append(Violation("lost_work", f"job {job.id} ({job.kind})", "dead-lettered without its error"))
    return found


def _charges(history: History, dead: dict[str, JobRecord]) -> list[Violation]:
    found = []
    captured: dict[str, list[ProviderCharge]] = defaultdict(list)
    for charge in history.charges:
        if charge.status == "succeeded":
            captured[charge.payment_id].append(charge)
    for payment_id, charges in sorted(captured.items()):
        payment = history.payments.get(payment_id)
        if len(charges) > 1:
            found.append(Violation("double_charge", f"payment {payment_id}",
                                   f"{len(charges)} captured charges: {', '.join(c.intent_id for c in charges)}"))
        if payment is None:
            found.append(Violation("lost_payment", f"payment {payment_id}", "captured at the provider, unknown here"))
            continue
        if any(c.amount != payment.amount for c in charges):
            found.append(Violation("double_charge", f"payment {payment_id}",
                                   f"captured {[c.amount for c in charges]}, the payment is {payment.amount}"))
        if payment.status not in CAPTURED and not (payment.status not in SETTLED and payment_id in dead):
            found.append(Violation("lost_payment", f"payment {payment_id}",
                                   f"captured at the provider, but {payment.status} here"))
    for payment in history.payments.values():
        if payment.status in CAPTURED and not captured.get(payment.id):
            found.append(Violation("lost_payment", f"payment {payment.id}",
                                   f"{payment.status} here, but the provider captured nothing"))
    return found


def _refunds(history: History, dead: dict[str, JobRecord]) -> list[Violation]:
    found = []
    pending_refunds = {r.payment_id for r in history.refunds.values()
                       if r.status not in REFUND_SETTLED and r.id in dead}
    intents = {c.intent_id: c for c in history.charges if c.status == "succeeded"}
    refunded_at_provider: dict[str, int] = defaultdict(int)
    for provider_refund in history.provider_refunds:
        if provider_refund.status == "succeeded" and provider_refund.intent_id in intents:
            refunded_at_provider[intents[provider_refund.intent_id].payment_id] += provider_refund.amount
    refunded_here: dict[str, int] = defaultdict(int)
    for refund in history.refunds.values():
        if refund.status == "succeeded":
            refunded_here[refund.payment_id] += refund.amount
    for payment in sorted(history.payments.values(), key=lambda p: p.id):
        there = refunded_at_provider.get(payment.id, 0)
        here = refunded_here.get(payment.id, 0)
        if there > payment.amount:
            found.append(Violation("refund_exceeds_capture", f"payment {payment.id}",
                                   f"the provider refunded {there} of {payment.amount}"))
        if max(here, payment.amount_refunded) > payment.amount:
            found.append(Violation("refund_exceeds_capture", f"payment {payment.id}",
                                   f"refunded {max(here, payment.amount_refunded)} of {payment.amount} here"))
        if (payment.amount_refunded != there or here != there) and payment.id not in pending_refunds:
            found.append(Violation("refund_mismatch", f"payment {payment.id}", f"refunded {payment.amount_refunded} "
                                   f"(refunds: {here}) here, {there} at the provider"))
    return found


def _deliveries(history: History, dead: dict[str, JobRecord]) -> list[Violation]:
    found = []
    keys = {n.event_key for n in history.notifications if n.channel == "email"}
    for payment in history.payments.values():
        key = f"payment_receipt:{payment.id}" if payment.status in CAPTURED else (
            f"payment_failed:{payment.id}" if payment.status == "failed" else None)
        if key is not None and key not in keys:
            found.append(Violation("undelivered", f"payment {payment.id}", f"no {key.split(':')[0]} email recorded"))
    reset_emails = sum(1 for key in keys if key.startswith("password_reset:"))
    if reset_emails < history.resets:
        found.append(Violation("undelivered", "password resets",
                               f"{history.resets} accepted, {reset_emails} reset emails recorded"))
    for refund in history.refunds.values():
        if refund.status == "succeeded" and f"refund_issued:{refund.id}" not in keys:
            found.append(Violation("undelivered", f"refund {refund.id}", "no refund receipt recorded"))
    for notification in history.notifications:
        if notification.channel != "email" or notification.id in dead:
            continue
        if notification.status != "sent" or not history.mail_deliveries.get(message_id(notification.id)):
            found.append(Violation("undelivered", f"email {notification.id} ({notification.event_key})",
                                   f"{notification.status}; the sink has "
                                   f"{history.mail_deliveries.get(message_id(notification.id), 0)} deliveries"))
    webhooks = history.webhooks
    for missing in webhooks.get("missing", []):
        found.append(Violation("undelivered", f"webhook {missing}", "never reached its subscriber"))
    if webhooks.get("unverified"):
        found.append(Violation("undelivered", "webhooks", f"{webhooks['unverified']} deliveries failed verification"))
    return found


def check(history: History) -> list[Violation]:
    """Every violation of the promises in `history` (empty: every promise held)."""
    dead = _dead_letters(history)
    return [*_lost_work(history, dead), *_charges(history, dead), *_refunds(history, dead),
            *(Violation("ledger", "ledger", problem) for problem in history.ledger_problems),
            *_deliveries(history, dead)]


def redeliveries(history: History) -> dict[str, int]:
    """Deliveries beyond the first, by channel (reported, not violations)."""
    return {"email": sum(count - 1 for count in history.mail_deliveries.values() if count > 1),
            "webhook": int(history.webhooks.get("redeliveries", 0))}
