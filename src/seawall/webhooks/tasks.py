"""`webhooks.deliver`: one attempt of one delivery, signed per Standard Webhooks.

Payload `{"delivery_id", "attempt"}`. One job is one HTTP attempt:
1. a short fenced transaction reads what to send (`delivery.prepare_attempt`); an attempt that is
   no longer due (already made, delivery settled or deleted) ends the job as a no-op;
2. the URL passes the SSRF guard again (DNS may have changed) and is connected to at the checked
   address; the body is signed with `webhook-id` = the delivery id (the same on every attempt) and
   `webhook-timestamp` = now;
3. the answer is recorded in the job's completion transaction (`delivery.record_attempt`), which
   also queues the next attempt's job at its scheduled time.

The job ends `succeeded` whatever the receiver answered: a delivery that exhausted its schedule is
`failed` on the delivery row (visible in the API, recoverable), not a dead job. The engine's own
retries (`max_attempts` below) only cover this process failing mid-attempt (database errors, a
crash, a lost lease); the same attempt is then made again with the same webhook-id, which the
receiver can deduplicate. Dead `webhooks.deliver` jobs therefore mean a bug or an outage of our own,
not of the receiver. Waiting for an endpoint's slow-down or a full per-host bulkhead defers the job
without spending an engine attempt.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from seawall.jobs import DeferJobError, JobContext, job_handler
from seawall.resilience import CallRejectedError
from seawall.webhooks.client import WebhookClient
from seawall.webhooks.delivery import NothingToDo, Throttled, prepare_attempt, record_attempt
from seawall.webhooks.errors import WebhookUrlNotAllowedError
from seawall.webhooks.sender import AttemptResult
from seawall.webhooks.service import DELIVER_JOB
from seawall.webhooks.signing import signed_headers

log = structlog.get_logger("seawall.webhooks.tasks")


class WebhooksJobRuntime(Protocol):
    """What the webhook handler uses of the process runtime (`ctx.runtime`)."""

    @property
    def webhooks(self) -> WebhookClient: ...


@job_handler(DELIVER_JOB, queue="webhooks", max_attempts=5, backoff_base_seconds=1.0, backoff_cap_seconds=60.0,
             timeout_seconds=120)
async def deliver_webhook(ctx: JobContext[WebhooksJobRuntime]) -> None:
    client = ctx.runtime.webhooks
    delivery_id = str(ctx.payload["delivery_id"])
    number = int(ctx.payload["attempt"])
    async with ctx.transaction() as session:
        plan = await prepare_attempt(session, clock=ctx.clock, delivery_id=delivery_id, number=number)
    if isinstance(plan, NothingToDo):
        log.debug("webhook.attempt_skipped", delivery_id=delivery_id, attempt=number, reason=plan.reason)
        return
    if isinstance(plan, Throttled):
        wait = max(0.0, (plan.until - ctx.clock.now()).total_seconds())
        raise DeferJobError(f"endpoint slowed down until {plan.until.isoformat()}", retry_after=wait)
    try:
        target = await client.guard.check(plan.url)
    except WebhookUrlNotAllowedError as refused:
        result = AttemptResult(None, f"not sent: {refused.message}")
    else:
        timestamp = int(ctx.clock.now().timestamp())
        headers = signed_headers(plan.secret, message_id=plan.delivery_id, timestamp=timestamp, body=plan.body)
        try:
            result = await client.sender.post(target, headers=headers, body=plan.body)
        except CallRejectedError as refused:  # the per-host bulkhead is full: nothing was sent
            raise DeferJobError(refused.message, retry_after=refused.retry_after) from None
    delivery = await record_attempt(ctx.session, clock=ctx.clock, settings=client.settings, rng=client.rng,
                                    delivery_id=delivery_id, number=number, result=result)
    log.info("webhook.attempt", delivery_id=delivery_id, attempt=number, status_code=result.status_code,
             outcome=delivery.status if delivery is not None else "superseded",
             duration_ms=round(result.duration_seconds * 1000, 1))
