"""Reconciliation: compare Seawall's payments with the provider's records and settle disagreements.

For every payment that is not yet settled (or every payment, with `all_payments=True`) the
provider is searched by `metadata['seawall_payment_id']`:
- charged there but `pending`/`processing` here → settled as succeeded (ledger, activation);
- declined there but unsettled here → settled as failed;
- captured here but no succeeded intent there → reported (a person must look: it is never
  "fixed" automatically);
- amounts that differ → reported.
Every refund still `pending` here is then looked up among its intent's refunds by
`metadata['seawall_refund_id']` (the refund job's lookup): one with a final outcome there settles it
here (succeeded, or failed/canceled); none, or one still pending, is left to the refund job.
What an intent (or refund) means is `outcomes`, the jobs' rule; settling goes through the normal
state machine in `settlement`. Only reads reach the provider. A lookup that fails (the provider
down, its breaker open) skips that payment or refund: it is listed in `not_looked_up` and left for
the next run, and the others are still checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seawall.db import Database
from seawall.kit.clock import Clock
from seawall.payments import repository
from seawall.payments.gateway import PRIMARY, PaymentGateway, PaymentRoute, classify_payment_error
from seawall.payments.outcomes import settle_from_intent, settle_from_refund
from seawall.payments.state import CAPTURED_STATUSES, PaymentStatus
from seawall.providers.errors import ProviderError
from seawall.providers.payments import PaymentIntentResult, RefundResult
from seawall.resilience import CallRejectedError

LOOKUP_FAILURES = (ProviderError, CallRejectedError)  # what a failed lookup raises through the policy


@dataclass
class Discrepancy:
    payment_id: str
    ours: str
    theirs: str
    action: str


@dataclass
class ReconcileReport:
    checked: int = 0
    settled: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    not_looked_up: list[str] = field(default_factory=list)  # payment (or refund) ids whose lookup failed

    @property
    def unresolved(self) -> list[Discrepancy]:
        return [d for d in self.discrepancies if d.action == "reported"]


async def reconcile(database: Database, gateway: PaymentGateway, *, clock: Clock,
                    all_payments: bool = False) -> ReconcileReport:
    report = ReconcileReport()
    async with database.read_transaction() as session:  # no write lock while the list is read
        payments = (await repository.all_payments(session) if all_payments else
                    await repository.payments_in_status(session, [PaymentStatus.PENDING, PaymentStatus.PROCESSING]))
        snapshot = [(p.id, p.status, p.amount, p.route_name) for p in payments]
    for payment_id, status, amount, route_name in snapshot:
        report.checked += 1
        if route_name is None and status == PaymentStatus.PENDING:
            continue  # never sent anywhere yet: the charge job owns it
        try:
            intent = await _find_intent(gateway.route(route_name or PRIMARY), payment_id)
        except LOOKUP_FAILURES:
            report.not_looked_up.append(payment_id)
            continue
        theirs = intent.status if intent is not None else "absent"
        if intent is not None and intent.amount != amount:
            report.discrepancies.append(Discrepancy(payment_id, status, f"{theirs} amount {intent.amount}",
                                                    "reported"))
            continue
        if status in CAPTURED_STATUSES:
            if intent is None or not intent.succeeded:
                report.discrepancies.append(Discrepancy(payment_id, status, theirs, "reported"))
            continue
        if status == PaymentStatus.FAILED:
            if intent is not None and intent.succeeded:
                report.discrepancies.append(Discrepancy(payment_id, status, theirs, "reported"))
            continue
        if intent is None:
            continue  # nothing at the provider yet; the charge job will send or retry
        async with database.transaction() as session:
            changed = await settle_from_intent(session, clock=clock, payment_id=payment_id, intent=intent)
        if changed:
            report.settled += 1
            report.discrepancies.append(Discrepancy(payment_id, status, theirs, f"settled as {theirs}"))
    await _reconcile_refunds(database, gateway, clock=clock, report=report)
    return report


async def _reconcile_refunds(database: Database, gateway: PaymentGateway, *, clock: Clock,
                             report: ReconcileReport) -> None:
    async with database.read_transaction() as session:
        pending = [(refund.id, payment.id, payment.provider_intent_id, payment.route_name)
                   for refund, payment in await repository.pending_refunds(session)]
    for refund_id, payment_id, intent_id, route_name in pending:
        if intent_id is None:
            continue  # nothing was captured to refund: the refund job fails it
        report.checked += 1
        try:
            found = await _find_refund(gateway.route(route_name or PRIMARY), intent_id, refund_id)
        except LOOKUP_FAILURES:
            report.not_looked_up.append(refund_id)
            continue
        if found is None:
            continue  # nothing at the provider yet; the refund job will send or retry
        async with database.transaction() as session:
            changed = await settle_from_refund(session, clock=clock, refund_id=refund_id, provider_refund=found)
        if changed:
            report.settled += 1
            report.discrepancies.append(Discrepancy(payment_id, f"refund {refund_id} pending", found.status,
                                                    f"settled as {found.status}"))


async def _find_intent(route: PaymentRoute, payment_id: str) -> PaymentIntentResult | None:
    return await route.policy.call(lambda: route.provider.find_payment_intent(seawall_payment_id=payment_id),
                                   classify=classify_payment_error, action="lookup")


async def _find_refund(route: PaymentRoute, intent_id: str, refund_id: str) -> RefundResult | None:
    return await route.policy.call(
        lambda: route.provider.find_refund(payment_intent_id=intent_id, seawall_refund_id=refund_id),
        classify=classify_payment_error, action="lookup")
