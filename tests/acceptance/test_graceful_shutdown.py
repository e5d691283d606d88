"""Promise 6, graceful shutdown an orchestrator can rely on, on real processes stopped with SIGTERM:

- `seawall api` (one process, and two under uvicorn's supervisor) amid a stream of concurrent requests:
  `/readyz` answers 503 `checks.draining` before the port refuses connections; requests keep their
  normal answers while it does (the load balancer's time to stop routing); a request in flight when
  the listener closes still gets its answer; the process exits 0. The same signal twice exits at once.
- `seawall worker` and `seawall serve` amid long jobs: each job finishes or is handed back (queued
  again, the attempt not counted), then runs exactly once overall, counted in `test_effects`; exit 0.
  `serve` hands a job that never finishes back while its listener is still open (the worker's drain
  runs beside the readiness delay, not after it) and stops within delay + timeout.

Delays and timeouts are short and set by environment; the assertions are about the order of events
and counts, with generous deadlines only to bound a hung process.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from seawall.runtime import Runtime
from tests.integration.accounts.wire import STRONG_PASSWORD, bearer, new_email, new_key
from tests.integration.jobs.harness import (
    attempt_history,
    enqueue_effect,
    require_job,
    run_until_finished,
    start_worker,
    wait_for_status,
    wait_until,
)
from tests.support.effects import effects_of
from tests.support.server import SeawallProcess, ServerFactory

READINESS_DELAY = 3.0  # seconds the listener stays open after SIGTERM
ROUTING_LAG = 1.0  # how long the streams go on after readiness turned 503 (a load balancer's reaction time)
SHUTDOWN_TIMEOUT = 5  # in-flight requests; jobs (below) get less, to keep the hand-back cheap
STREAMS = 4  # concurrent clients, each opening a new connection per request
DEADLINE = 60.0  # a bound on a hung process, not a performance threshold


@dataclass
class Probe:
    """`/readyz` outcomes in order: an HTTP status, or "closed" (refused, or reset with no answer);
    when the first 503 was asked for, and when it arrived."""

    outcomes: list[int | str] = field(default_factory=list)
    first_503_sent: float | None = None
    first_503: float | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def api_environment(**extra: str) -> dict[str, str]:
    return {"SEAWALL_SHUTDOWN_READINESS_DELAY": str(READINESS_DELAY),
            "SEAWALL_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
            "SEAWALL_SESSION_CACHE_SECONDS": "0",  # every request below reads the database
            "SEAWALL_RATE_LIMIT_ENABLED": "false", **extra}


def fresh_connections(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


async def poll_readiness(base_url: str, probe: Probe) -> None:
    async with fresh_connections(base_url) as client:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            sent_at = time.monotonic()
            try:
                answer = await client.get("/readyz")
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                probe.outcomes.append("closed")
                probe.closed.set()
                return
            probe.outcomes.append(answer.status_code)
            if answer.status_code == 503 and probe.first_503 is None:
                assert answer.json()["checks"].get("draining") == "shutting down", answer.text
                probe.first_503_sent, probe.first_503 = sent_at, time.monotonic()
            await asyncio.sleep(0.02)
        raise AssertionError(f"the port never closed: {probe.outcomes[-5:]}")


async def request_stream(base_url: str, token: str, probe: Probe, answers: list[tuple[float, int | str]]) -> None:
    """Authenticated reads on new connections until `ROUTING_LAG` after the first 503 (a load balancer
    that has seen the probe fail sends no more), or the first refused connection (on a machine too
    busy to keep to that lag): each gets its normal answer or, once draining, "refused"."""
    async with fresh_connections(base_url) as client:
        while probe.first_503 is None or time.monotonic() < probe.first_503 + ROUTING_LAG:
            sent_at = time.monotonic()
            try:
                answer = await client.get("/v1/me", headers=bearer(token))
                answers.append((sent_at, answer.status_code))
            except httpx.ConnectError:
                answers.append((sent_at, "refused"))
                return
            except httpx.HTTPError as exc:
                answers.append((sent_at, repr(exc)))


async def slow_body(first: bytes, rest: bytes, listener_closed: asyncio.Event) -> AsyncIterator[bytes]:
    yield first
    await asyncio.wait_for(listener_closed.wait(), timeout=DEADLINE)
    yield rest


def sign_up_and_log_in(base_url: str) -> tuple[str, str]:
    email = new_email("drain")
    with httpx.Client(base_url=base_url, timeout=60) as http:
        signup = http.post("/v1/signups", json={"email": email, "password": STRONG_PASSWORD},
                           headers={"Idempotency-Key": new_key()})
        assert signup.status_code == 201, signup.text
        login = http.post("/v1/sessions", json={"email": email, "password": STRONG_PASSWORD})
        assert login.status_code == 201, login.text
        return email, str(login.json()["token"])


@pytest.mark.parametrize("processes", [
    pytest.param(1, marks=pytest.mark.backends("sqlite"), id="one-process"),
    pytest.param(2, marks=pytest.mark.backends("full"), id="two-processes"),
])
async def test_sigterm_amid_requests_turns_readiness_503_before_the_port_closes_and_fails_no_accepted_request(
    servers: ServerFactory, backend: str, processes: int
) -> None:
    api = servers.start("api", args=["--workers", str(processes)], env=api_environment(), wait_ready=False)
    servers.wait_ready(api, timeout=120)
    if processes > 1:
        await wait_until(_startups(api, processes), timeout=120, what="every serving process to start")
    email, token = sign_up_and_log_in(api.base_url)

    probe = Probe()
    answers: list[tuple[float, int | str]] = []
    poller = asyncio.create_task(poll_readiness(api.base_url, probe))
    streams = [asyncio.create_task(request_stream(api.base_url, token, probe, answers)) for _ in range(STREAMS)]
    # A login whose body is still arriving when the listener closes: in flight, it must be answered.
    body = f'{{"email": "{email}", "password": "{STRONG_PASSWORD}"}}'.encode()
    async with fresh_connections(api.base_url) as client:
        in_flight = asyncio.create_task(client.post(
            "/v1/sessions", content=slow_body(body[:10], body[10:], probe.closed),
            headers={"Content-Type": "application/json"}))
        await wait_until(_answered(answers, 20), timeout=DEADLINE, what="the request stream to flow")
        signalled_at = time.monotonic()
        api.signal(signal.SIGTERM)

        await asyncio.wait_for(asyncio.gather(poller, *streams), timeout=DEADLINE)
        late_login = await asyncio.wait_for(in_flight, timeout=DEADLINE)
    exit_code = await asyncio.to_thread(api.process.wait, DEADLINE)

    assert exit_code == 0, api.log()
    assert late_login.status_code == 201, late_login.text
    # Readiness: 200s, then 503s (draining) while the port is still open, then the port closed.
    outcomes = probe.outcomes
    assert outcomes[-1] == "closed" and "closed" not in outcomes[:-1], outcomes
    assert 503 in outcomes, outcomes
    assert set(outcomes[outcomes.index(503):-1]) <= ({503} if processes == 1 else {200, 503}), outcomes
    # Every request of the stream got its normal answer, also those sent after readiness turned 503;
    # a connection could be refused only once readiness had said so.
    # (A probe sent just before the signal may be answered 503: readiness is read when it answers.)
    assert probe.first_503 is not None and probe.first_503 > signalled_at
    assert {outcome for _, outcome in answers} <= {200, "refused"}, [a for a in answers if a[1] != 200][:5]
    refused = [sent_at for sent_at, outcome in answers if outcome == "refused"]
    assert all(sent_at > probe.first_503_sent for sent_at in refused), (refused, probe.first_503_sent)
    assert any(sent_at > probe.first_503_sent and outcome == 200 for sent_at, outcome in answers), \
        "no request was served while draining"
    log = api.log()
    assert log.count('"event": "shutdown.draining"') == processes, log
    assert log.count('"event": "app.stopped"') == processes, log


def _startups(api: SeawallProcess, processes: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return api.log().count("Application startup complete.") >= processes
    return check


def _answered(answers: list[tuple[float, int | str]], count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(answers) >= count
    return check


@pytest.mark.backends("sqlite")
async def test_the_same_signal_twice_exits_at_once(servers: ServerFactory, backend: str) -> None:
    api = servers.start("api", env=api_environment(SEAWALL_SHUTDOWN_READINESS_DELAY="300"))
    api.signal(signal.SIGTERM)
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as client:
        async def draining() -> bool:
            return (await client.get("/readyz")).status_code == 503
        await wait_until(draining, timeout=DEADLINE, what="readiness to turn 503")
    api.signal(signal.SIGTERM)  # well inside the 300 s readiness delay
    exit_code = await asyncio.to_thread(api.process.wait, DEADLINE)
    assert exit_code == 128 + signal.SIGTERM, api.log()
    assert '"event": "shutdown.forced"' in api.log()


# -- jobs --------------------------------------------------------------------------------------------

JOB_TIMEOUT = 1.0  # SEAWALL_SHUTDOWN_TIMEOUT for the job tests: what has not finished by then goes back


@pytest.mark.parametrize("role", [
    pytest.param("worker", marks=pytest.mark.backends("full"), id="worker"),  # with the broker
    pytest.param("serve", marks=pytest.mark.backends("sqlite"), id="serve"),  # the embedded default
])
async def test_sigterm_amid_long_jobs_finishes_or_hands_back_each_and_each_then_runs_once(
    runtime: Runtime, servers: ServerFactory, tmp_path: Path, backend: str, role: str
) -> None:
    forever, soon = tmp_path / "forever", tmp_path / "soon"
    forever.touch()
    soon.touch()
    never_finishing = [await enqueue_effect(runtime.database, {"block_while_exists": str(forever)}) for _ in range(2)]
    finishing = [await enqueue_effect(runtime.database, {"block_while_exists": str(soon)}) for _ in range(2)]
    # A long lease: a job must come back because it was handed back, not because its lease expired.
    env = {"SEAWALL_SHUTDOWN_TIMEOUT": str(JOB_TIMEOUT), "SEAWALL_JOB_LEASE_SECONDS": "300"}
    if role == "worker":
        process = start_worker(servers, env=env, concurrency=4)
    else:
        # The worker's drain starts at SIGTERM, beside the readiness delay: with a delay well past the
        # timeout, the jobs are back in the queue while the listener still answers.
        env |= {"SEAWALL_SHUTDOWN_READINESS_DELAY": str(JOB_TIMEOUT + 6)}
        process = servers.start("serve", env=env)
    for job in never_finishing + finishing:
        await wait_for_status(runtime.database, job.id, "running")

    process.signal(signal.SIGTERM)
    await wait_until(_logged(process, '"event": "shutdown.draining"'), timeout=DEADLINE, what="the drain to start")
    soon.unlink()  # these can now finish within the timeout (or, on a slow machine, be handed back)
    if role == "serve":
        for job in never_finishing:
            await wait_for_status(runtime.database, job.id, "queued")
        async with httpx.AsyncClient(base_url=process.base_url, timeout=10) as client:
            ready = await client.get("/readyz")  # the listener is still open, and says it is draining
        assert ready.status_code == 503 and "draining" in ready.json()["checks"], ready.text
    exit_code = await asyncio.to_thread(process.process.wait, DEADLINE)
    assert exit_code == 0, process.log()

    for job in never_finishing:
        handed_back = await require_job(runtime.database, job.id)
        assert (handed_back.status, handed_back.attempts, handed_back.lease_token) == ("queued", 0, None)
        assert [a.outcome for a in await attempt_history(runtime.database, job.id)] == ["released"]
    for job in finishing:
        assert (await require_job(runtime.database, job.id)).status in ("succeeded", "queued")

    forever.unlink()
    for job in never_finishing + finishing:
        await run_until_finished(runtime.database, runtime.settings, job.id)
        done = await require_job(runtime.database, job.id)
        assert (done.status, done.attempts) == ("succeeded", 1), job.id  # the hand-back spent no attempt
        assert len(await effects_of(runtime.database, job.id)) == 1, job.id  # exactly once overall
        outcomes = [a.outcome for a in await attempt_history(runtime.database, job.id)]
        assert outcomes in (["succeeded"], ["released", "succeeded"]), outcomes


@pytest.mark.backends("sqlite")
async def test_serve_with_a_job_that_never_finishes_stops_within_delay_plus_timeout(
    runtime: Runtime, servers: ServerFactory, tmp_path: Path, backend: str
) -> None:
    forever = tmp_path / "forever"
    forever.touch()
    job = await enqueue_effect(runtime.database, {"block_while_exists": str(forever)})
    delay, timeout = 1.0, 2.0
    serve = servers.start("serve", env={"SEAWALL_SHUTDOWN_READINESS_DELAY": str(delay),
                                        "SEAWALL_SHUTDOWN_TIMEOUT": str(timeout), "SEAWALL_JOB_LEASE_SECONDS": "300"})
    await wait_for_status(runtime.database, job.id, "running")

    signalled_at = time.monotonic()
    serve.signal(signal.SIGTERM)
    exit_code = await asyncio.to_thread(serve.process.wait, DEADLINE)
    stopped_after = time.monotonic() - signalled_at

    assert exit_code == 0, serve.log()
    # The bound the grace period is set against (docs/operations.md): delay + timeout, plus the time to
    # close pools and leave the interpreter, which a busy test machine may stretch (hence the slack).
    assert stopped_after < delay + timeout + 10, (stopped_after, serve.log())
    handed_back = await require_job(runtime.database, job.id)
    assert (handed_back.status, handed_back.attempts) == ("queued", 0)
    assert await effects_of(runtime.database, job.id) == []


def _logged(process: SeawallProcess, text: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return text in process.log()
    return check
