"""The chaos run's report: what was done to the system, what it answered, and the promises checked
(`invariants.check`); a rich table for people, `as_dict()` for `--json`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from seawall.chaos.invariants import Violation

PROMISES = {
    "lost_work": "every 2xx'd request's work completed or dead-lettered with its error",
    "double_charge": "no payment charged twice at the provider",
    "lost_payment": "no payment lost (provider and Seawall agree on every capture)",
    "refund_exceeds_capture": "refunds never exceed captures",
    "refund_mismatch": "every refund made once (provider and Seawall agree)",
    "ledger": "the ledger balances and agrees with payments and refunds",
    "undelivered": "every receipt and webhook delivered",
}


@dataclass
class ChaosReport:
    replay: str  # the command line that replays this run
    seed: int
    mode: str
    figures: dict[str, Any] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the run itself went wrong (a process never came up, ...)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.problems

    @property
    def checked(self) -> bool:
        """The run got as far as checking the promises (else it broke before: see `problems`)."""
        return "under_fire_seconds" in self.figures

    def as_dict(self) -> dict[str, Any]:
        by_promise = Counter(v.promise for v in self.violations)
        return {"ok": self.ok, "seed": self.seed, "mode": self.mode, "replay": self.replay,
                "figures": self.figures, "problems": self.problems,
                "violations_by_promise": {name: by_promise.get(name, 0) for name in PROMISES},
                "violations": [str(v) for v in self.violations[:200]], "violation_count": len(self.violations)}


def _rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    kills = figures.get("kills", {})
    restarts = figures.get("server_restarts", [])
    requests = figures.get("requests", {})
    return [
        ("mode", str(figures.get("mode", "-"))),
        ("processes", f"{figures.get('apis', 0)} API + {figures.get('workers', 0)} workers + the sandbox"),
        ("SIGKILLs by role", ", ".join(f"{role} {count}" for role, count in sorted(kills.items())) or "none"),
        ("process restarts (crash-point exits)",
         f"{figures.get('process_restarts', 0)} ({figures.get('crash_exits', 0)})"),
        ("server restarts", ", ".join(f"{r['server']} {r['down_seconds']} s" for r in restarts) or "none"),
        ("requests answered / cut by a kill",
         f"{requests.get('answered', 0)} / {requests.get('transport_errors', 0)}"),
        ("client retries with the same key", str(requests.get("client_retries", 0))),
        ("answers by status", str(requests.get("by_status", {}))),
        ("accepted: sign-ups / payments / refunds / resets",
         " / ".join(str(figures.get("accepted", {}).get(k, 0)) for k in ("signups", "payments", "refunds", "resets"))),
        ("payments by status", str(figures.get("payments_by_status", {}))),
        ("jobs by status", str(figures.get("jobs_by_status", {}))),
        ("job attempts by outcome", str(figures.get("attempts_by_outcome", {}))),
        ("provider outcomes (injected faults)", str(figures.get("provider_outcomes", {}))),
        ("emails accepted / webhook events delivered",
         f"{figures.get('emails_accepted', 0)} / {figures.get('webhook_events_delivered', 0)}"),
        ("redeliveries (email / webhook)",
         f"{figures.get('redeliveries', {}).get('email', 0)} / {figures.get('redeliveries', {}).get('webhook', 0)}"),
        ("unexpected answers (5xx, 401 to a session)", str(len(figures.get("unexpected_answers", [])))),
        ("exits that were not our SIGKILL", "; ".join(figures.get("exits_not_ours", [])) or "none"),
        ("quiet after", f"{figures.get('settle_seconds', '-')} s"),
        ("duration", f"{figures.get('duration_seconds', '-')} s"),
    ]


def print_report(console: Console, report: ChaosReport) -> None:
    numbers = Table(title=f"seawall chaos — seed {report.seed} ({report.mode})", show_header=False)
    for name, value in _rows(report.figures):
        numbers.add_row(name, value)
    console.print(numbers)
    if not report.checked:  # it broke before the promises could be checked: say only that
        for problem in report.problems:
            console.print(f"[red]the run could not complete:[/] {problem}", highlight=False)
        _print_run_directory(console, report)
        return
    promises = Table(title="Promises")
    promises.add_column("promise")
    promises.add_column("violations", justify="right")
    by_promise = Counter(v.promise for v in report.violations)
    for name, text in PROMISES.items():
        count = by_promise.get(name, 0)
        promises.add_row(text, "[green]0[/]" if not count else f"[red]{count}[/]")
    console.print(promises)
    for violation in report.violations[:30]:
        console.print(f"[red]✗[/] {violation}", markup=True, highlight=False)
    for problem in report.problems:
        console.print(f"[red]problem:[/] {problem}", highlight=False)
    console.print(f"replay: {report.replay}", highlight=False, markup=False)
    _print_run_directory(console, report)
    console.print("[green]every promise held[/]" if report.ok else
                  "[red]some promises were broken[/]" if report.violations else
                  "[red]the run had problems (above): its verdict is not a pass[/]")


def _print_run_directory(console: Console, report: ChaosReport) -> None:
    if "run_directory" in report.figures:  # kept: the run failed, or --keep
        console.print(f"run directory (each process's log): {report.figures['run_directory']}",
                      highlight=False, markup=False)
