"""`check_ledger` (what `seawall doctor` reports) finds every way the ledger can go wrong: a
transaction whose legs do not balance, a captured payment without its charge (or a failed one with
one), refunds that disagree between the ledger, the refunds and the payment, and refunding more than
was captured. The ledger is written by the real `record_charge` / `record_refund` into a fake session
that answers the check's three queries (no database)."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.sql import Select

from seawall.payments import ledger
from seawall.payments.ledger import check_ledger
from seawall.payments.models import LedgerEntry, Payment, Refund

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Rows:
    rows: list[Any]

    def scalars(self) -> Rows:
        return self

    def all(self) -> list[Any]:
        return list(self.rows)


def _criteria(query: Select[Any]) -> list[tuple[str, Any]]:
    """The `column == value` comparisons of a query's WHERE (all the check uses)."""
    clause = query.whereclause
    if clause is None:
        return []
    comparisons = getattr(clause, "clauses", [clause])  # an AND of comparisons, or a single one
    assert all(c.operator is operator.eq for c in comparisons), clause
    return [(c.left.key, c.right.value) for c in comparisons]


@dataclass
class FakeSession:
    """Holds rows in lists; `execute(select(Model)...)` returns the matching ones."""

    payments: list[Payment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)

    def add_all(self, rows: Iterable[Any]) -> None:
        self.entries.extend(rows)

    async def execute(self, query: Select[Any]) -> Rows:
        entity = query.column_descriptions[0]["entity"]
        table = {LedgerEntry: self.entries, Payment: self.payments, Refund: self.refunds}[entity]
        criteria = _criteria(query)
        return Rows([row for row in table if all(getattr(row, name) == value for name, value in criteria)])


def payment(payment_id: str, *, status: str, amount: int = 1000, refunded: int = 0) -> Payment:
    return Payment(id=payment_id, user_id="usr_1", amount=amount, currency="usd", payment_method="pm_card_visa",
                   description=None, purpose="charge", status=status, route_name="stripe",
                   provider_outcome_unknown=False, amount_refunded=refunded, created_at=NOW, updated_at=NOW)


def refund(refund_id: str, of: Payment, amount: int, status: str = "succeeded") -> Refund:
    return Refund(id=refund_id, payment_id=of.id, amount=amount, status=status, created_at=NOW, updated_at=NOW)


def healthy_books() -> FakeSession:
    """A captured payment refunded in part, a failed one, a pending one, and a refund that failed."""
    session = FakeSession()
    captured = payment("pay_captured", status="partially_refunded", refunded=300)
    failed, pending = payment("pay_failed", status="failed"), payment("pay_pending", status="pending")
    session.payments += [captured, failed, pending]
    ledger.record_charge(session, captured, now=NOW)  # type: ignore[arg-type]
    partial, refused = refund("rfd_partial", captured, 300), refund("rfd_refused", captured, 500, "failed")
    session.refunds += [partial, refused]
    ledger.record_refund(session, captured, partial, now=NOW)  # type: ignore[arg-type]
    return session


async def check(session: FakeSession) -> list[str]:
    report = await check_ledger(session)  # type: ignore[arg-type]
    assert report.ok == (report.problems == [])
    return report.problems


async def test_balanced_books_that_agree_pass() -> None:
    session = healthy_books()
    report = await check_ledger(session)  # type: ignore[arg-type]
    assert report.ok and report.transactions == 2
    assert len(session.entries) == 4


async def test_a_transaction_whose_legs_do_not_balance_is_found() -> None:
    session = healthy_books()
    credit = next(e for e in session.entries if e.transaction_id == "charge:pay_captured" and e.side == "credit")
    credit.amount = 900
    problems = await check(session)
    assert problems == ["ledger transaction charge:pay_captured is off by 100"]


async def test_a_missing_leg_is_found() -> None:
    session = healthy_books()
    session.entries = [e for e in session.entries if not (e.transaction_id == "refund:rfd_partial"
                                                          and e.side == "credit")]
    assert "ledger transaction refund:rfd_partial is off by 300" in await check(session)


async def test_a_captured_payment_without_its_charge_is_found() -> None:
    session = healthy_books()
    session.payments.append(payment("pay_uncharged", status="succeeded"))
    assert await check(session) == [
        "payment pay_uncharged is succeeded with 1000 but the ledger charged 0"]


async def test_a_failed_payment_with_a_charge_is_found() -> None:
    session = healthy_books()
    failed = next(p for p in session.payments if p.id == "pay_failed")
    ledger.record_charge(session, failed, now=NOW)  # type: ignore[arg-type]
    assert await check(session) == ["payment pay_failed is failed with 1000 but the ledger charged 1000"]


async def test_a_charge_for_another_amount_is_found() -> None:
    session = healthy_books()
    for entry in session.entries:
        if entry.transaction_id == "charge:pay_captured":
            entry.amount = 999  # balanced, but not what was captured
    assert await check(session) == [
        "payment pay_captured is partially_refunded with 1000 but the ledger charged 999"]


async def test_refunds_that_disagree_are_found() -> None:
    # the payment says more was refunded than the refunds and the ledger do
    session = healthy_books()
    next(p for p in session.payments if p.id == "pay_captured").amount_refunded = 500
    assert await check(session) == ["payment pay_captured refunded 500, refunds say 300, ledger says 300"]
    # a succeeded refund with no ledger legs
    session = healthy_books()
    captured = session.payments[0]
    session.refunds.append(refund("rfd_unbooked", captured, 200))
    captured.amount_refunded = 500
    assert await check(session) == ["payment pay_captured refunded 500, refunds say 500, ledger says 300"]


async def test_refunding_more_than_was_captured_is_found() -> None:
    session = FakeSession()
    captured = payment("pay_over", status="refunded", refunded=1200)
    session.payments.append(captured)
    ledger.record_charge(session, captured, now=NOW)  # type: ignore[arg-type]
    over = refund("rfd_over", captured, 1200)
    session.refunds.append(over)
    ledger.record_refund(session, captured, over, now=NOW)  # type: ignore[arg-type]
    assert await check(session) == ["payment pay_over refunded more than it captured"]
