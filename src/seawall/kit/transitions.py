"""A state machine as an explicit table of allowed transitions; an illegal transition raises.

    PAYMENTS = Transitions("a payment", PaymentStatus, {
        PaymentStatus.PENDING: {PaymentStatus.PROCESSING, PaymentStatus.FAILED}, ...
    }, error=IllegalTransitionError)
    payment.status = PAYMENTS.check(payment.status, PaymentStatus.PROCESSING)

The table must name every status (terminal ones with no targets): a status added to the enum but
forgotten in the table fails at import, not at run time. `check` raises `ValueError` for a
current value that is no status at all, and `error(message)` — the domain's illegal-transition
error, passed in because kit knows nothing of Seawall's error tree — for a move the table does not
allow, with the message `"<subject> cannot go from <current> to <target>"`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

Status = TypeVar("Status", bound=StrEnum)


class Transitions(Generic[Status]):
    """The allowed moves between the members of one `StrEnum` of statuses."""

    def __init__(self, subject: str, statuses: type[Status], allowed: Mapping[Status, Iterable[Status]], *,
                 error: Callable[[str], Exception]) -> None:
        missing = set(statuses) - set(allowed)
        if missing:
            raise ValueError(f"the transition table of {subject} misses {sorted(missing)}")
        self.subject = subject
        self.statuses = statuses
        self.allowed: dict[Status, frozenset[Status]] = {source: frozenset(targets)
                                                         for source, targets in allowed.items()}
        self.error = error

    def check(self, current: str, target: Status) -> Status:
        """`target`, when the table allows `current` → `target`; raises otherwise (see the module)."""
        source = self.statuses(current)
        if target not in self.allowed[source]:
            raise self.error(f"{self.subject} cannot go from {source} to {target}")
        return target
