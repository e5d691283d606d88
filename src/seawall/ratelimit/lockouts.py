"""Audit of login lockouts: when a login quota (`login-ip`, `login-email`) refuses a request, the
event `auth.login_locked` is recorded once per locked partition per lock period in this process, so
a brute-force run of thousands of refused requests writes one row, not thousands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.types import Scope

from seawall import audit
from seawall.web.deps import CLOCK, DATABASE

LOGIN_QUOTAS = ("login-ip", "login-email")
MAX_REMEMBERED = 10_000


@dataclass
class LockoutLog:
    """Which locked partitions were already audited, until when (monotonic seconds)."""

    until: dict[str, float] = field(default_factory=dict)

    def first_refusal(self, partition: str, retry_after: int) -> bool:
        now = time.monotonic()
        if self.until.get(partition, 0.0) > now:
            return False
        if len(self.until) >= MAX_REMEMBERED:
            self.until = {key: end for key, end in self.until.items() if end > now}
            if len(self.until) >= MAX_REMEMBERED:
                self.until.clear()
        self.until[partition] = now + max(1, retry_after)
        return True


def is_login_lockout(violated: str | None) -> bool:
    return violated is not None and violated.startswith(LOGIN_QUOTAS)


async def audit_lockout(scope: Scope, log: LockoutLog, *, partition: str, violated: str, retry_after: int,
                        email: str | None) -> None:
    """Record `auth.login_locked` (the refused policy, the email when the body named one) the first
    time this partition is refused in its lock period."""
    if not log.first_refusal(partition, retry_after):
        return
    app_state = getattr(scope.get("app"), "state", None)
    database = DATABASE.find(app_state) if app_state is not None else None
    clock = CLOCK.find(app_state) if app_state is not None else None
    if database is None or clock is None:
        return
    details: dict[str, object] = {"policy": violated, "retry_after": retry_after}
    if email is not None and violated.startswith("login-email"):
        details["email"] = email
    await audit.record_apart(database, audit.AuditEntry(
        action="auth.login_locked", outcome="rate_limited", route=f"{scope['method']} {scope['path']}",
        details=details), clock=clock)
