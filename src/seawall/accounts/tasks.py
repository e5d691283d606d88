"""Accounts job handlers.

- `accounts.send_password_reset` (formerly `notifications.password_reset`, still registered under
  that name so jobs queued by an earlier version run): looks the account up (the API answered the
  same for any email) and records the reset, announcing `PasswordResetIssued`, whose subscriber in
  notifications records the email — all in the job's transaction; nothing leaves the process here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from seawall.accounts import service
from seawall.jobs import JobContext, job_handler


class AccountsJobRuntime(Protocol):
    """What the accounts handlers use of the process runtime (`ctx.runtime`)."""

    @property
    def secret_key(self) -> bytes: ...


@job_handler(service.PASSWORD_RESET_JOB, queue="notifications", max_attempts=8,
             aliases=service.PASSWORD_RESET_JOB_ALIASES)
async def send_password_reset(ctx: JobContext[AccountsJobRuntime]) -> None:
    await service.issue_password_reset(
        ctx.session, clock=ctx.clock, secret_key=ctx.runtime.secret_key,
        ttl=timedelta(minutes=ctx.settings.password_reset_ttl_minutes),
        request_id=str(ctx.payload["request_id"]), email=str(ctx.payload["email"]),
    )
