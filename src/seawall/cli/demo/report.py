"""The demo's report: figures, and invariants checked against the sandbox's own records."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from seawall.cli.demo.workload import DemoUser, Recorder

TERMINAL = {"succeeded", "failed", "partially_refunded", "refunded"}
CAPTURED = {"succeeded", "partially_refunded", "refunded"}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class DemoReport:
    data_dir: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "data_dir": self.data_dir, "figures": self.figures,
                "checks": [check.__dict__ for check in self.checks],
                "invariants": self.figures.get("invariants", {})}


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "count": len(ordered)}


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def notification_findings(users: list[DemoUser], delivered: set[str]) -> dict[str, Any]:
    """Every captured payment has a sent receipt, every paid user a sent welcome, each one delivered."""
    missing: list[str] = []
    welcome_latencies: list[float] = []
    for user in users:
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for notification in user.notifications:
            by_kind[notification["event_type"]].append(notification)
        captured = [p for p in user.payments if p["status"] in CAPTURED]
        receipts = [n for n in by_kind["payment_receipt"] if n["status"] == "sent"]
        if len(receipts) < len(captured):
            missing.append(f"receipt for {user.email}")
        welcomes = [n for n in by_kind["welcome"] if n["status"] == "sent"]
        if captured and len(welcomes) != 1:
            missing.append(f"welcome for {user.email}")
        for notification in receipts + welcomes:
            if f"<{notification['id']}@seawall.invalid>" not in delivered:
                missing.append(f"{notification['event_type']} {notification['id']} not delivered")
        if welcomes and welcomes[0]["sent_at"]:
            welcome_latencies.append(_parse_time(welcomes[0]["sent_at"]) - user.signed_up_at)
    return {"missing": missing, "welcome_latency": percentiles(welcome_latencies)}


def build_report(report: DemoReport, *, users: list[DemoUser], recorder: Recorder, replays: list[Any],
                 job_stats: dict[str, Any], intents: list[dict[str, Any]], provider_refunds: list[dict[str, Any]],
                 sandbox_stats: dict[str, Any], providers: dict[str, Any], webhooks: dict[str, Any],
                 mail: dict[str, Any]) -> None:
    accepted = [u for u in users if u.signup_status == 202]
    payments = [p for u in users for p in u.payments]
    intents_by_payment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for intent in intents:
        intents_by_payment[intent.get("metadata", {}).get("seawall_payment_id", "")].append(intent)
    refunded_at_provider: dict[str, int] = defaultdict(int)
    for refund in provider_refunds:
        if refund.get("status") == "succeeded":
            refunded_at_provider[refund["payment_intent"]] += int(refund["amount"])

    lost = [u.email for u in accepted if u.token is None or not u.payments
            or any(p["status"] not in TERMINAL for p in u.payments)]
    charged_twice = [pid for pid, found in intents_by_payment.items() if pid and len(found) > 1]
    mismatched = []
    for payment in payments:
        found = intents_by_payment.get(payment["id"], [])
        succeeded_there = any(i["status"] == "succeeded" for i in found)
        if (payment["status"] in CAPTURED) != succeeded_there:
            mismatched.append(payment["id"])
    refund_mismatch = []
    for payment in payments:
        found = [i for i in intents_by_payment.get(payment["id"], []) if i["status"] == "succeeded"]
        there = refunded_at_provider.get(found[0]["id"], 0) if found else 0
        if there != payment["amount_refunded"]:
            refund_mismatch.append(payment["id"])

    delivered = {str(m["message_id"]) for m in mail.get("data", [])}
    notified = notification_findings(users, delivered)
    invariants = {
        "accepted_signups_lost": len(lost),
        "succeeded_payments_missing_receipt_or_welcome": len(notified["missing"]),
        "webhook_deliveries_unverified": webhooks["unverified"],
        "webhook_events_not_delivered": len(webhooks["missing"]),
        "payments_charged_twice": len(charged_twice),
        "payment_states_disagreeing_with_provider": len(mismatched),
        "refunds_disagreeing_with_provider": len(refund_mismatch),
    }
    report.figures["invariants"] = invariants
    report.check("every sign-up was accepted (202)", len(accepted) == len(users), f"{len(accepted)}/{len(users)}")
    report.check("repeated sign-ups with the same Idempotency-Key were replayed",
                 all(r.headers.get("Idempotent-Replayed") == "true" for r in replays), f"{len(replays)} replays")
    report.check("accepted sign-ups lost = 0", not lost, ", ".join(lost[:3]))
    report.check("payments charged twice at the provider = 0", not charged_twice, ", ".join(charged_twice[:3]))
    report.check("every payment's state matches the provider's records", not mismatched, ", ".join(mismatched[:3]))
    report.check("every refund matches the provider's records", not refund_mismatch, ", ".join(refund_mismatch[:3]))
    report.check("every succeeded payment has its receipt and welcome email, delivered", not notified["missing"],
                 ", ".join(notified["missing"][:3]))
    report.check("every webhook delivery carries a valid Standard Webhooks signature", webhooks["unverified"] == 0,
                 f"{webhooks['unverified']} unverified")
    report.check("every webhook event reached its subscriber", not webhooks["missing"],
                 ", ".join(webhooks["missing"][:3]) or f"{webhooks['events_delivered']} events")
    active = sum(1 for u in accepted if any(p["status"] in CAPTURED for p in u.payments))
    report.check("every user with a captured payment paid exactly one plan charge",
                 all(sum(p["status"] in CAPTURED for p in u.payments) <= 1 for u in accepted))

    status_counts = Counter(p["status"] for p in payments)
    report.figures.update({
        "requests": recorder.requests,
        "responses_by_status": dict(sorted(recorder.statuses.items())),
        "client_retries_with_same_key": recorder.client_retries,
        "api_latency": percentiles([s for samples in recorder.latencies.values() for s in samples]),
        "api_latency_by_route": {route: percentiles(samples) for route, samples in sorted(recorder.latencies.items())},
        "payments_by_status": dict(status_counts),
        "users_paid": active,
        "jobs_by_status": job_stats.get("jobs", {}),
        "job_attempts_by_outcome": job_stats.get("attempts", {}),
        "job_retries": job_stats.get("attempts", {}).get("retry", 0),
        "dead_lettered_jobs": job_stats.get("jobs", {}).get("dead", 0),
        "breaker_transitions": providers.get("breaker_transitions", []),
        "signup_to_welcome_email": notified["welcome_latency"],
        "emails_at_smtp_sink": {"messages": len(mail.get("data", [])),
                                "redelivered_message_ids": len(mail.get("duplicates", {}) or {})},
        "webhooks": {"events_delivered": webhooks["events_delivered"], "redeliveries": webhooks["redeliveries"]},
        "provider_outcomes": sandbox_stats.get("outcomes", {}),
    })


def figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's figures as (name, value) rows: the terminal's "Figures" table and the HTML report's."""
    latency = figures.get("api_latency", {})
    webhooks = figures.get("webhooks", {})
    return [
        ("requests (client retries)",
         f"{figures.get('requests', 0)} ({figures.get('client_retries_with_same_key', 0)})"),
        ("API latency p50 / p95 / p99",
         f"{latency.get('p50_ms', '-')} / {latency.get('p95_ms', '-')} / {latency.get('p99_ms', '-')} ms"),
        ("sign-up → welcome email p50 / p95 / p99",
         " / ".join(str(figures.get("signup_to_welcome_email", {}).get(k, "-")) for k in ("p50_ms", "p95_ms", "p99_ms"))
         + " ms"),
        ("payments by status", str(figures.get("payments_by_status", {}))),
        ("webhook events delivered (redeliveries)",
         f"{webhooks.get('events_delivered', 0)} ({webhooks.get('redeliveries', 0)})"),
        ("provider outcomes (injected faults)", str(figures.get("provider_outcomes", {}))),
        ("job retries / deferrals", f"{figures.get('job_retries', 0)} / "
                                    f"{figures.get('job_attempts_by_outcome', {}).get('deferred', 0)}"),
        ("breaker transitions", " ".join(f"{t['from']}→{t['to']}" for t in figures.get("breaker_transitions", []))
         or "none"),
        ("dead-lettered jobs", str(figures.get("dead_lettered_jobs", 0))),
        ("duration", f"{figures.get('duration_seconds', '-')} s"),
        ("CPU seconds by process", str(figures.get("cpu_seconds", {}))),
    ]


def print_report(console: Console, report: DemoReport) -> None:
    figures = report.figures
    table = Table(title="Seawall demo — invariants and checks")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAILED[/]", check.detail)
    console.print(table)
    numbers = Table(title="Figures", show_header=False)
    for name, value in figure_rows(figures):
        numbers.add_row(name, value)
    console.print(numbers)
    if "server_log_tail" in figures:
        console.print("[red]server log (tail):[/]")
        console.print(figures["server_log_tail"], markup=False)
    console.print("[green]every invariant holds[/]" if report.ok else "[red]some checks failed[/]")
