"""Notification job handlers."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from seawall.accounts import service as accounts
from seawall.jobs import JobContext, job_handler
from seawall.notifications.outbox import deliver_to_outbox


def password_reset_message(*, to: str, token: str, reset_id: str, expires_minutes: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Seawall <no-reply@seawall.invalid>"
    message["To"] = to
    message["Subject"] = "Reset your password"
    message["Message-ID"] = f"<{reset_id}@seawall.invalid>"
    message.set_content(
        "Someone asked to reset the password of your account.\n\n"
        f"Your reset token: {token}\n\n"
        f"It works once and expires in {expires_minutes} minutes. "
        "If you did not ask for this, ignore this message.\n"
    )
    return message


@job_handler("notifications.password_reset", queue="notifications", max_attempts=8)
async def send_password_reset(ctx: JobContext) -> None:
    request_id = str(ctx.payload["request_id"])
    email = str(ctx.payload["email"])
    ttl = timedelta(minutes=ctx.settings.password_reset_ttl_minutes)
    # Record the reset (and so its token digest) before the message leaves.
    async with ctx.transaction() as session:
        issued = await accounts.issue_password_reset(
            session, clock=ctx.clock, secret_key=ctx.runtime.secret_key, ttl=ttl,
            request_id=request_id, email=email,
        )
    if issued is None:
        return  # no account: nothing to send, and the API answered exactly as for a real one
    message = password_reset_message(
        to=issued.email, token=issued.token, reset_id=issued.reset_id,
        expires_minutes=int(ctx.settings.password_reset_ttl_minutes),
    )
    message["Date"] = format_datetime(ctx.clock.now())
    await deliver_to_outbox(ctx.settings.resolved_outbox_dir, message)
