"""The double-entry ledger: every captured charge and every refund writes balanced legs.

Accounts:
- `provider_balance` (asset): money held for us by the payment provider;
- `revenue` (income): what customers paid;
- `refunds` (contra-income): what was given back;
- `disputes` (contra-income): what a chargeback withdrew from the provider balance;
- `provider_fees` (expense): fees the provider charged (the dispute fee).

A charge debits `provider_balance` and credits `revenue`; a refund debits `refunds` and credits
`provider_balance`; a dispute's withdrawal (Stripe: the disputed amount and the dispute fee are taken
from the balance when the dispute opens, shown by the dispute's `balance_transactions`) debits
`disputes` (and `provider_fees` for the fee) and credits `provider_balance`. Each ledger transaction
has a deterministic id (`charge:<payment>`, `refund:<refund>`, `dispute:<dispute>`,
`dispute_fee:<dispute>`) and a unique index per leg, so writing it twice is impossible.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.payments.models import LedgerEntry, Payment, Refund
from seawall.payments.state import CAPTURED_STATUSES, RefundStatus

DEBIT = "debit"
CREDIT = "credit"


def _legs(transaction_id: str, *, debit: str, credit: str, amount: int, currency: str, payment_id: str,
          refund_id: str | None, now: datetime) -> list[LedgerEntry]:
    return [
        LedgerEntry(transaction_id=transaction_id, account=account, side=side, amount=amount, currency=currency,
                    payment_id=payment_id, refund_id=refund_id, created_at=now)
        for account, side in ((debit, DEBIT), (credit, CREDIT))
    ]


def record_charge(session: AsyncSession, payment: Payment, *, now: datetime) -> None:
    session.add_all(_legs(f"charge:{payment.id}", debit="provider_balance", credit="revenue",
                          amount=payment.amount, currency=payment.currency, payment_id=payment.id,
                          refund_id=None, now=now))


def record_refund(session: AsyncSession, payment: Payment, refund: Refund, *, now: datetime) -> None:
    session.add_all(_legs(f"refund:{refund.id}", debit="refunds", credit="provider_balance",
                          amount=refund.amount, currency=payment.currency, payment_id=payment.id,
                          refund_id=refund.id, now=now))


def record_dispute_withdrawal(session: AsyncSession, payment: Payment, *, dispute_id: str, amount: int, fee: int,
                              currency: str, now: datetime) -> None:
    """The funds a dispute took from the provider balance: `amount` and the provider's `fee` (minor units)."""
    if amount > 0:
        session.add_all(_legs(f"dispute:{dispute_id}", debit="disputes", credit="provider_balance",
                              amount=amount, currency=currency, payment_id=payment.id, refund_id=None, now=now))
    if fee > 0:
        session.add_all(_legs(f"dispute_fee:{dispute_id}", debit="provider_fees", credit="provider_balance",
                              amount=fee, currency=currency, payment_id=payment.id, refund_id=None, now=now))


@dataclass
class LedgerCheck:
    transactions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_ledger(session: AsyncSession) -> LedgerCheck:
    """Every transaction balances, and the ledger agrees with the payments and refunds."""
    report = LedgerCheck()
    entries = (await session.execute(select(LedgerEntry))).scalars().all()
    balance: dict[str, int] = defaultdict(int)
    charged: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for entry in entries:
        balance[entry.transaction_id] += entry.amount if entry.side == DEBIT else -entry.amount
        if entry.side == DEBIT and entry.account == "provider_balance":
            charged[entry.payment_id] += entry.amount
        if entry.side == DEBIT and entry.account == "refunds":
            refunded[entry.payment_id] += entry.amount
    report.transactions = len(balance)
    report.problems += [f"ledger transaction {t} is off by {v}" for t, v in balance.items() if v != 0]
    payments = (await session.execute(select(Payment))).scalars().all()
    refunds = (await session.execute(select(Refund).where(Refund.status == RefundStatus.SUCCEEDED))).scalars().all()
    refund_totals: dict[str, int] = defaultdict(int)
    for refund in refunds:
        refund_totals[refund.payment_id] += refund.amount
    for payment in payments:
        expected_charge = payment.amount if payment.status in CAPTURED_STATUSES else 0
        if charged.get(payment.id, 0) != expected_charge:
            report.problems.append(
                f"payment {payment.id} is {payment.status} with {payment.amount} but the ledger charged "
                f"{charged.get(payment.id, 0)}")
        if not (refunded.get(payment.id, 0) == refund_totals.get(payment.id, 0) == payment.amount_refunded):
            report.problems.append(
                f"payment {payment.id} refunded {payment.amount_refunded}, refunds say "
                f"{refund_totals.get(payment.id, 0)}, ledger says {refunded.get(payment.id, 0)}")
        if payment.amount_refunded > expected_charge:
            report.problems.append(f"payment {payment.id} refunded more than it captured")
    return report
