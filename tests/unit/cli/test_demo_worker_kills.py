"""The demo's worker kills, the parts without processes: what the report says of a kill, the breaker
transitions read from a worker's metrics, and API timestamps (the SIGKILL itself is proven by
tests/acceptance/test_demo.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from seawall.cli.demo.worker_kills import LEASE_SECONDS, WorkerKill, _epoch, parse_breaker_transitions, worker_env
from seawall.cli.main import app

EXPOSITION = """\
# HELP seawall_breaker_transitions_total Circuit breaker state changes.
# TYPE seawall_breaker_transitions_total counter
seawall_breaker_transitions_total{from_state="closed",provider="stripe",to_state="open"} 2.0
seawall_breaker_transitions_total{from_state="open",provider="stripe",to_state="half_open"} 1.0
# HELP seawall_breaker_transitions_created Circuit breaker state changes.
# TYPE seawall_breaker_transitions_created gauge
seawall_breaker_transitions_created{from_state="closed",provider="stripe",to_state="open"} 1.7e9
# HELP seawall_breaker_state Circuit breaker state.
# TYPE seawall_breaker_state gauge
seawall_breaker_state{provider="stripe"} 1.0
"""


def kill(**changes: object) -> WorkerKill:
    fields: dict[str, object] = dict(
        at_seconds=12.5, pid=4242, worker_id="vm:4242:abc", restarted_pid=4343, restart_ready_seconds=1.2,
        intents_at_kill=250, intents_expected=500, held_jobs=5,
        held_by_kind={"payments.charge": 3, "notifications.send": 2}, ran_again=5, rerun_seconds=4.1)
    fields.update(changes)
    return WorkerKill(**fields)  # type: ignore[arg-type]


def test_the_summary_says_when_which_pid_what_it_held_and_how_long_until_it_ran_again() -> None:
    line = kill().summary()
    assert "pid 4242 killed at 12.5 s (250/500 sign-up payments at the provider)" in line
    assert "holding 5 jobs (2 notifications.send, 3 payments.charge)" in line
    assert "restarted as pid 4343" in line and "all ran again 4.1 s after the kill" in line
    assert kill().held_payment_jobs == 3


def test_a_kill_whose_jobs_did_not_all_run_again_says_how_many_did() -> None:
    line = kill(ran_again=3, rerun_seconds=None).summary()
    assert "3/5 ran again" in line


def test_the_json_form_leaves_out_the_internal_fields() -> None:
    data = kill().as_dict()
    assert "epoch" not in data and "held_ids" not in data
    assert data["held_by_kind"] == {"payments.charge": 3, "notifications.send": 2}


def test_breaker_transitions_are_counted_from_the_counter_samples_only() -> None:
    counts = parse_breaker_transitions(EXPOSITION)
    assert counts == {("stripe", "closed", "open"): 2, ("stripe", "open", "half_open"): 1}


def test_an_api_timestamp_without_an_offset_is_utc() -> None:
    at = datetime(2026, 11, 30, 13, 27, 32, 345118, tzinfo=UTC).timestamp()
    assert _epoch("2026-11-30T13:27:32.345118") == at
    assert _epoch("2026-11-30T13:27:32.345118Z") == at
    assert _epoch("2026-11-30T14:27:32.345118+01:00") == at


def test_the_worker_gets_the_short_lease_and_keeps_the_rest_of_the_environment() -> None:
    env = worker_env({"SEAWALL_VAR_DIR": "/tmp/x"})
    assert env["SEAWALL_JOB_LEASE_SECONDS"] == str(LEASE_SECONDS) and env["SEAWALL_VAR_DIR"] == "/tmp/x"


def test_the_demo_offers_kills_and_no_kill() -> None:
    help_text = CliRunner().invoke(app, ["demo", "--help"], terminal_width=200).output
    assert "--kills" in help_text and "--no-kill" in help_text
