"""`seawall bench pipeline`'s figures and its exactly-once check, read from the providers' own records.

Latencies are per item, from the client's clock when it sent the request (`time.time()`, epoch
seconds) to the time the effect's provider recorded it on the same host: the sandbox's capture time
of the charge (`sandbox_succeeded_at`), the SMTP sink's `received_at`, the webhook receiver's
`received_at`. They go into HDR histograms (microsecond resolution, 3 significant digits) and are
reported in milliseconds as `{"p50_ms", "p95_ms", "p99_ms", "max_ms", "count"}`.

The exactly-once check reuses the demo's findings (`cli.demo.report.notification_findings`,
`cli.demo.subscribers.webhook_findings`) and adds what faults-off makes exact: one intent per payment,
captured; two distinct Message-IDs (receipt, welcome) per sign-up address; one `webhook-id` per event.
A redelivery under the same id (a client timeout, then a retry) is deduplicable by design and is
reported as a figure, not as a failure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hdrh.histogram import HdrHistogram
from rich.console import Console
from rich.table import Table

from seawall.cli.demo.report import notification_findings
from seawall.cli.demo.subscribers import Subscriber, webhook_findings
from seawall.cli.demo.workload import DemoUser

if TYPE_CHECKING:  # the sandbox is loaded only by the commands that start it
    from seawall.sandbox.webhook_receiver import WebhookReceiverServer

HIGHEST_MICROSECONDS = 3_600_000_000  # one hour: anything slower is clamped, and shows as max_ms


def latency_summary(seconds: Iterable[float]) -> dict[str, float | int]:
    """p50/p95/p99/max in milliseconds (HDR histogram, µs resolution) and the sample count."""
    histogram = HdrHistogram(1, HIGHEST_MICROSECONDS, 3)
    for value in seconds:
        histogram.record_value(min(HIGHEST_MICROSECONDS, max(1, round(value * 1_000_000))))
    if histogram.get_total_count() == 0:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "count": 0}
    return {**{f"p{q}_ms": round(histogram.get_value_at_percentile(q) / 1000, 1) for q in (50, 95, 99)},
            "max_ms": round(histogram.get_max_value() / 1000, 1), "count": int(histogram.get_total_count())}


def parse_time(value: str) -> float:
    """An ISO 8601 timestamp (the SMTP sink's `received_at`) as epoch seconds."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class WebhookPayment:
    """One `POST /v1/payments` by a webhook subscriber; `sent_at` is epoch seconds."""

    subscriber: Subscriber
    number: int
    sent_at: float = 0.0
    status: int | None = None
    payment_id: str | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.subscriber.user.signup_key}-bench-{self.number}"


@dataclass
class Effects:
    """What the providers recorded: the sandbox's intents and mail (its `/_sandbox/...` lists)."""

    intents: list[dict[str, Any]]
    mail: dict[str, Any]
    receiver: WebhookReceiverServer

    def intents_by_payment(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for intent in self.intents:
            found[intent.get("metadata", {}).get("seawall_payment_id", "")].append(intent)
        return found

    def first_mail_at(self) -> dict[str, float]:
        """Message-ID → when the sink first accepted it (epoch seconds)."""
        first: dict[str, float] = {}
        for message in self.mail.get("data", []):
            at = parse_time(message["received_at"])
            key = str(message["message_id"])
            first[key] = min(at, first.get(key, at))
        return first

    def mail_ids_by_recipient(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for message in self.mail.get("data", []):
            for recipient in message["rcpt_tos"]:
                found[recipient.lower()].add(str(message["message_id"]))
        return found


@dataclass
class ExactlyOnce:
    """Each list names what was lost or duplicated (empty when the check holds)."""

    not_accepted: list[str] = field(default_factory=list)
    not_charged: list[str] = field(default_factory=list)
    charged_twice: list[str] = field(default_factory=list)
    emails_missing_or_extra: list[str] = field(default_factory=list)
    webhooks_missing: list[str] = field(default_factory=list)
    webhooks_duplicated: list[str] = field(default_factory=list)
    webhooks_unverified: int = 0

    @property
    def ok(self) -> bool:
        return not (self.not_accepted or self.not_charged or self.charged_twice or self.emails_missing_or_extra
                    or self.webhooks_missing or self.webhooks_duplicated or self.webhooks_unverified)

    def as_dict(self) -> dict[str, Any]:
        counts = {name: len(value) if isinstance(value, list) else value for name, value in self.__dict__.items()}
        examples = {name: value[:3] for name, value in self.__dict__.items() if isinstance(value, list) and value}
        return {"ok": self.ok, **counts, "examples": examples}


def _check_charges(found: ExactlyOnce, payment_ids: list[str], intents: dict[str, list[dict[str, Any]]]) -> None:
    for payment_id in payment_ids:
        there = intents.get(payment_id, [])
        if len(there) > 1:
            found.charged_twice.append(payment_id)
        elif not there or there[0]["status"] != "succeeded":
            found.not_charged.append(payment_id)


def check_exactly_once(*, users: list[DemoUser], payments: list[WebhookPayment], subscribers: list[Subscriber],
                       effects: Effects) -> tuple[ExactlyOnce, dict[str, Any]]:
    """The check, and the webhook findings (events delivered, redeliveries) for the figures."""
    found = ExactlyOnce()
    found.not_accepted = [u.email for u in users if u.signup_status != 202 or u.token is None or len(u.payments) != 1]
    found.not_accepted += [p.idempotency_key for p in payments if p.status != 202 or p.payment_id is None]
    intents = effects.intents_by_payment()
    _check_charges(found, [p["id"] for u in users for p in u.payments], intents)
    _check_charges(found, [p.payment_id for p in payments if p.payment_id], intents)

    delivered = {str(m["message_id"]) for m in effects.mail.get("data", [])}
    found.emails_missing_or_extra = list(notification_findings(users, delivered)["missing"])
    by_recipient = effects.mail_ids_by_recipient()
    for user in users:
        count = len(by_recipient.get(user.email.lower(), set()))
        if count != 2:
            found.emails_missing_or_extra.append(f"{count} distinct emails (want 2) to {user.email}")

    webhooks = webhook_findings(effects.receiver, subscribers, {s.name: s.user.payments for s in subscribers})
    found.webhooks_missing = list(webhooks["missing"])
    found.webhooks_unverified = int(webhooks["unverified"])
    ids_by_event: dict[tuple[str, str], set[str]] = defaultdict(set)
    for delivery in effects.receiver.state.deliveries:
        if delivery.verified and delivery.webhook_id and delivery.answered // 100 == 2:
            payload = delivery.payload
            ids_by_event[(payload.get("type"), payload.get("data", {}).get("payment_id"))].add(delivery.webhook_id)
    found.webhooks_duplicated = [f"{kind} {key}" for (kind, key), ids in ids_by_event.items() if len(ids) > 1]
    return found, webhooks


EFFECT_SERIES = {"signup_to_charge": "sign-up → charge", "signup_to_welcome_email": "sign-up → welcome email",
                 "payment_to_webhook": "payment → webhook"}


@dataclass
class Latencies:
    """Seconds from the client's send to each effect, and the last effect of any kind (epoch seconds);
    `effects`: (name in `EFFECT_SERIES`, effect time in epoch seconds, latency seconds) of every sample."""

    signup_to_charge: list[float] = field(default_factory=list)
    signup_to_welcome_email: list[float] = field(default_factory=list)
    payment_to_webhook: list[float] = field(default_factory=list)
    last_effect_at: float = 0.0
    effects: list[tuple[str, float, float]] = field(default_factory=list)

    def add(self, name: str, sent_at: float, effect_at: float | None) -> None:
        if effect_at is not None:
            getattr(self, name).append(effect_at - sent_at)
            self.effects.append((name, effect_at, effect_at - sent_at))
            self.last_effect_at = max(self.last_effect_at, effect_at)


def measure_latencies(*, users: list[DemoUser], payments: list[WebhookPayment], effects: Effects) -> Latencies:
    intents = effects.intents_by_payment()
    mail_at = effects.first_mail_at()
    latencies = Latencies()

    def charged_at(payment_id: str) -> float | None:
        times = [i["sandbox_succeeded_at"] for i in intents.get(payment_id, []) if i.get("sandbox_succeeded_at")]
        return min(times) if times else None

    for user in users:
        for payment in user.payments:
            latencies.add("signup_to_charge", user.signed_up_at, charged_at(payment["id"]))
        for notification in user.notifications:
            effect_at = mail_at.get(f"<{notification['id']}@seawall.invalid>")
            if notification["event_type"] == "welcome":
                latencies.add("signup_to_welcome_email", user.signed_up_at, effect_at)
    webhook_at: dict[str, float] = {}
    for delivery in effects.receiver.state.deliveries:
        if delivery.verified and delivery.answered // 100 == 2:
            payment_id = delivery.payload.get("data", {}).get("payment_id")
            webhook_at[payment_id] = min(delivery.received_at, webhook_at.get(payment_id, delivery.received_at))
    for webhook_payment in payments:
        if webhook_payment.payment_id is not None:
            latencies.add("payment_to_webhook", webhook_payment.sent_at,
                          webhook_at.get(webhook_payment.payment_id))
    # Every effect counts for the end of the window, receipts and subscribers' charges included.
    captured = [float(i["sandbox_succeeded_at"]) for i in effects.intents if i.get("sandbox_succeeded_at")]
    latencies.last_effect_at = max([latencies.last_effect_at, *mail_at.values(), *webhook_at.values(), *captured])
    return latencies


def report_title(result: dict[str, Any]) -> str:
    return (f"seawall bench pipeline — {result['database']}, {result['server_roles']} "
            f"({result['server_processes']} processes)")


def summary_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """`run`'s figures as (name, value) rows: the terminal's table and the HTML report's."""

    def latency(name: str) -> str:
        figures = result[name]
        return f"{figures['p50_ms']} / {figures['p95_ms']} / {figures['p99_ms']} ms (max {figures['max_ms']}, " \
               f"n={figures['count']})"

    return [
        ("paid sign-ups (+ webhook subscribers' payments)", f"{result['signups']} (+{result['webhook_payments']})"),
        ("load", f"{result['mode']}, concurrency {result['concurrency']}" if result["mode"] == "closed loop"
         else result["mode"]),
        ("wall time, first request → last effect", f"{result['wall_seconds']} s"),
        ("end-to-end sign-ups/s (every effect done)", str(result["signups_per_second"])),
        ("jobs succeeded / jobs/s", f"{result['jobs_succeeded']} / {result['jobs_per_second']}"),
        ("sign-up → charge p50 / p95 / p99", latency("signup_to_charge")),
        ("sign-up → welcome email p50 / p95 / p99", latency("signup_to_welcome_email")),
        ("payment → webhook p50 / p95 / p99", latency("payment_to_webhook")),
        ("POST /v1/signups p50 / p95 / p99", latency("signup_request")),
        ("server CPU s (per sign-up, per job)", f"{result['server_cpu_seconds']} ({result['server_cpu_ms_per_signup']}"
                                                f" ms, {result['server_cpu_ms_per_job']} ms)"),
        ("server RSS MB, largest process (all)", f"{result['server_rss_mb']} ({result['server_rss_mb_total']})"),
        ("sandbox / bench client CPU s", f"{result['sandbox_cpu_seconds']} / {result['bench_client_cpu_seconds']}"),
        ("client retries (same Idempotency-Key)", str(result["client_retries"])),
        ("redeliveries under the same id: emails / webhooks",
         f"{result['emails_redelivered']} / {result['webhooks_redelivered']}"),
    ]


def print_report(console: Console, result: dict[str, Any]) -> None:
    """The figures of `run`'s result as two rich tables (figures, then the exactly-once check)."""
    table = Table(title=report_title(result), show_header=False)
    for name, value in summary_rows(result):
        table.add_row(name, value)
    console.print(table)
    checks = Table(title="exactly once (providers' records)")
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("detail")
    for check in result["checks"]:
        checks.add_row(check["name"], "[green]ok[/]" if check["ok"] else "[red]FAILED[/]", check["detail"])
    console.print(checks)
    if "server_log_tail" in result:
        console.print("[red]server log (tail):[/]")
        console.print(result["server_log_tail"], markup=False)
    console.print("[green]every effect happened exactly once[/]" if result["ok"] else "[red]effects were lost or "
                                                                                       "duplicated[/]")
