"""Counting a state change once its transaction has committed.

A domain counter (`seawall_payments_total{outcome}`, `seawall_webhook_endpoints_disabled_total`)
counts changes that happen inside a transaction: a job's, an inbound provider event's. Incremented
on the spot, a transaction that then rolls back (a lost lease, a conflict, a crash before COMMIT)
would leave a count for a change that never happened, and the job's next run would count it again.
So `count_on_commit(session, "payments", key=payment.id, outcome="succeeded")` only notes the count
on the session; it is made when the outermost transaction commits (`db.CommitHook`) and dropped if
it rolls back. The same (metric, key, labels) noted twice in one transaction counts once.

With the change itself applied exactly once (the domain's row lock and status check), the count is
exact, except that a process killed between COMMIT and the increment leaves it one short: the
series are rates for dashboards and alerts, not a ledger.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from seawall.db import CommitHook
from seawall.observability.metrics import METRICS

CountedChange = tuple[str, str, tuple[tuple[str, str], ...]]  # (metric attribute, key, sorted labels)


def _count(_session: Session, changes: set[Any]) -> None:
    for metric, _key, labels in changes:
        counter = getattr(METRICS, metric)
        (counter.labels(**dict(labels)) if labels else counter).inc()


_committed = CommitHook("seawall.observability.committed_counts", _count)


def count_on_commit(session: AsyncSession | Session, metric: str, *, key: str, **labels: str) -> None:
    """Increment the catalogue's counter `METRICS.<metric>` (with `labels`) once the session's
    transaction commits. `key` names the changed thing (a payment id): one count per key and labels."""
    if not hasattr(METRICS, metric):
        raise AttributeError(f"the metric catalogue has no {metric!r}")
    change: CountedChange = (metric, key, tuple(sorted(labels.items())))
    _committed.add(session, [change])
