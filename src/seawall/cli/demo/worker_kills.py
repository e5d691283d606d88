"""The demo's worker side, killed with SIGKILL mid-charging and restarted (DESIGN §1 promise 1).

`WorkerSide` runs `seawall worker` beside `seawall api` on the same SQLite file (the worker finds the
API's jobs by polling: `jobs/wakeup.py` wakes only workers of the enqueueing process on SQLite). Its job
lease is short (`LEASE_SECONDS`): a worker killed with SIGKILL leaves its jobs `running`, and only the
lease's expiry lets another worker claim them (`jobs/worker.py`), so they run again within seconds.

`WorkerKiller.run()` kills it `kills` times. Kill i (0-based) waits until the payment provider holds
at least `(i + 1) / (kills + 1)` of the sign-ups' payment intents (`GET /_sandbox/stats`), then:
1. freezes the worker (SIGSTOP) and lists the jobs `running`: it is the only worker, and frozen, so
   these are exactly the jobs it holds. If none is a `payments.charge` job it thaws it (SIGCONT) and
   looks again shortly; a list taken while it runs could be stale by the time the signal lands. The
   list is read from the SQLite file on a read-only connection (`Database.read_transaction`), not
   through the API: a worker frozen inside a write transaction holds SQLite's write lock, and the API
   would wait for it (an operator request writes its audit event), while a WAL reader never waits;
2. SIGKILLs it, frozen (SIGKILL ends a stopped process; nothing it held is handed back);
3. starts a new worker and waits until it serves its metrics port;
4. times, in the background, until each held job has an attempt started by another worker.
Its breaker transitions are read from its metrics port before it is frozen (they die with it).
Each kill becomes a `WorkerKill`; `report.py` checks them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from seawall.cli.demo.processes import DemoProcess, free_port, start_worker
from seawall.config import Settings
from seawall.db import Database
from seawall.jobs import JobStatus, repository
from seawall.reports.timeline import BREAKER, Timeline

LEASE_SECONDS = 4.0  # job lease of the demo's worker: the held jobs of a killed one run again after 2.7-4 s
POLL_SECONDS = 0.25  # how often the killer looks at the provider's intents until the kill's threshold
ARMED_POLL_SECONDS = 0.1  # past it, how often it freezes the worker to look for a payment job it holds
RERUN_TIMEOUT_SECONDS = 300.0  # give up timing a held job's next run after this long (it is then reported)
PAYMENT_JOB = "payments.charge"


def worker_env(env: dict[str, str]) -> dict[str, str]:
    """`server_env(...)`'s environment for the demo's `seawall worker`: the short lease, and a poll of 0.1 s
    (it learns of the API's jobs by polling)."""
    return {**env, "SEAWALL_JOB_LEASE_SECONDS": str(LEASE_SECONDS), "SEAWALL_JOB_POLL_INTERVAL_SECONDS": "0.1"}


@dataclass
class WorkerKill:
    """One SIGKILL of the demo's worker. Times in seconds; `at_seconds` from the start of the workload."""

    at_seconds: float
    pid: int
    worker_id: str | None  # `locked_by` of the jobs it held
    restarted_pid: int | None
    restart_ready_seconds: float | None  # SIGKILL → the new worker serves its metrics port
    intents_at_kill: int  # payment intents at the provider when it was killed
    intents_expected: int  # one per sign-up
    held_jobs: int
    held_by_kind: dict[str, int]
    ran_again: int = 0  # held jobs with an attempt started since by another worker
    rerun_seconds: float | None = None  # SIGKILL → the last held job's next attempt started
    epoch: float = field(default=0.0, repr=False)  # time.time() of the SIGKILL
    held_ids: list[int] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["epoch"], data["held_ids"]
        return data

    @property
    def held_payment_jobs(self) -> int:
        return self.held_by_kind.get(PAYMENT_JOB, 0)

    def summary(self) -> str:
        """One line for the report: when, which pid, what it held, how long until that ran again."""
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.held_by_kind.items())) or "no jobs"
        rerun = (f"all ran again {self.rerun_seconds} s after the kill" if self.ran_again == self.held_jobs
                 else f"{self.ran_again}/{self.held_jobs} ran again")
        return (f"pid {self.pid} killed at {self.at_seconds} s ({self.intents_at_kill}/{self.intents_expected} "
                f"sign-up payments at the provider) holding {self.held_jobs} jobs ({kinds}); restarted as pid "
                f"{self.restarted_pid} (ready {self.restart_ready_seconds} s after the kill); {rerun}")


class WorkerSide:
    """The demo's one `seawall worker` process, restarted after each kill; its metrics port serves its
    breakers' state and transitions (`seawall_breaker_*`)."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = worker_env(env)
        self.process = self._start()
        self.breaker_transitions: Counter[tuple[str, str, str]] = Counter()  # of the workers killed so far
        self.killed_cpu_seconds = 0.0  # CPU the killed workers had used, read while frozen

    def _start(self) -> DemoProcess:
        return start_worker(self.data_dir, self.env, name="worker", metrics_port=free_port())

    def wait_ready(self, timeout: float = 60.0) -> bool:
        return self.process.wait_ready("/metrics", timeout=timeout)

    def restart(self) -> DemoProcess:
        self.process = self._start()
        return self.process

    def stop(self) -> int:
        return self.process.stop()

    def cpu_seconds(self) -> float | None:
        """CPU (user + system) of every worker of the run so far, the killed ones included."""
        current = self.process.cpu_seconds()
        return None if current is None else round(current + self.killed_cpu_seconds, 1)

    def all_breaker_transitions(self) -> list[dict[str, str]]:
        """Every breaker transition of every worker of the run (this one's read now), in `/admin/providers`'
        shape; counted by metrics, so in a fixed order per provider rather than as they happened."""
        total = self.breaker_transitions + read_breaker_transitions(self.process.base_url)
        order = {"closed": 0, "open": 1, "half_open": 2}
        return [{"route": provider, "from": old, "to": new}
                for (provider, old, new), count in sorted(total.items(), key=lambda item: (
                    item[0][0], order.get(item[0][1], 3), item[0][2]))
                for _ in range(int(count))]


def read_breaker_transitions(metrics_url: str) -> Counter[tuple[str, str, str]]:
    """`seawall_breaker_transitions_total` of the process serving `metrics_url` by (provider, from, to);
    empty when it does not answer."""
    try:
        text = httpx.get(f"{metrics_url}/metrics", timeout=2.0).raise_for_status().text
    except httpx.HTTPError:
        return Counter()
    return parse_breaker_transitions(text)


def parse_breaker_transitions(text: str) -> Counter[tuple[str, str, str]]:
    """(provider, from, to) → count, from a Prometheus text exposition's `seawall_breaker_transitions_total`."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "seawall_breaker_transitions":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.value:
                labels = sample.labels
                counts[(labels["provider"], labels["from_state"], labels["to_state"])] += int(sample.value)
    return counts


async def held_jobs(database: Database) -> list[dict[str, Any]]:
    """Every job now `running` ({"id", "kind", "locked_by"}), read on the read-only engine (never waits for
    the write lock)."""
    async with database.read_transaction() as session:
        jobs = await repository.list_jobs(session, status=JobStatus.RUNNING, limit=100_000, before_id=None)
        return [{"id": job.id, "kind": job.kind, "locked_by": job.locked_by} for job in jobs]


class WorkerKiller:
    """Kills the demo's worker `kills` times as the sign-ups' payments are charged (see the module doc)."""

    def __init__(self, worker: WorkerSide, *, kills: int, sign_ups: int, admin: httpx.AsyncClient,
                 provider: httpx.AsyncClient, started: float) -> None:
        self.worker = worker
        self.kills_planned = kills
        self.sign_ups = sign_ups
        self.admin = admin
        self.provider = provider
        self.started = started  # time.monotonic() of the workload's start
        self.database = Database(Settings(var_dir=worker.data_dir, database_url=None))  # the demo's SQLite file
        self.kills: list[WorkerKill] = []
        self._reruns: list[asyncio.Task[None]] = []
        self.restart_failed = False
        self.error: str | None = None  # set by the caller when `run()` raised

    async def run(self) -> None:
        for index in range(self.kills_planned):
            threshold = self.sign_ups * (index + 1) // (self.kills_planned + 1)
            intents, held = await self._freeze_while_charging(threshold)
            if not await self._kill_and_restart(intents, held):
                return

    async def finish(self) -> list[WorkerKill]:
        """Wait for the timing of every held job's next run (bounded by `RERUN_TIMEOUT_SECONDS`)."""
        try:
            await asyncio.gather(*self._reruns)
        finally:
            await self.database.dispose()
        return self.kills

    async def _freeze_while_charging(self, threshold: int) -> tuple[int, list[dict[str, Any]]]:
        """Wait for `threshold` intents at the provider, then for a moment the worker holds a payment job;
        returns the intents and the jobs it holds, with the worker left frozen (SIGSTOP)."""
        while True:
            intents = int((await self.provider.get("/_sandbox/stats")).json()["intents"])
            if intents < threshold:
                await asyncio.sleep(POLL_SECONDS)
                continue
            pid = self.worker.process.process.pid
            breakers = await asyncio.to_thread(read_breaker_transitions, self.worker.process.base_url)
            os.kill(pid, signal.SIGSTOP)
            try:
                held = await held_jobs(self.database)
            except BaseException:
                os.kill(pid, signal.SIGCONT)
                raise
            if any(job["kind"] == PAYMENT_JOB for job in held):
                self.worker.breaker_transitions += breakers
                self.worker.killed_cpu_seconds += self.worker.process.cpu_seconds() or 0.0
                return intents, held
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(ARMED_POLL_SECONDS)

    async def _kill_and_restart(self, intents: int, held: list[dict[str, Any]]) -> bool:
        dying = self.worker.process
        killed_at, epoch = time.monotonic(), time.time()
        dying.process.kill()  # SIGKILL, to the frozen worker: no drain, no lease handed back
        await asyncio.to_thread(dying.process.wait)
        restarted = self.worker.restart()
        ready = await asyncio.to_thread(self.worker.wait_ready)
        kill = WorkerKill(
            at_seconds=round(killed_at - self.started, 1), pid=dying.process.pid,
            worker_id=next((job["locked_by"] for job in held if job["locked_by"]), None),
            restarted_pid=restarted.process.pid if ready else None,
            restart_ready_seconds=round(time.monotonic() - killed_at, 1) if ready else None,
            intents_at_kill=intents, intents_expected=self.sign_ups, held_jobs=len(held),
            held_by_kind=dict(Counter(job["kind"] for job in held)), epoch=epoch,
            held_ids=[int(job["id"]) for job in held])
        self.kills.append(kill)
        if not ready:
            self.restart_failed = True
            return False
        self._reruns.append(asyncio.create_task(self._time_reruns(kill)))
        return True

    async def _time_reruns(self, kill: WorkerKill) -> None:
        """Until each held job has an attempt started by another worker: how long after the kill the last one
        began (`kill.rerun_seconds`), and how many did (`kill.ran_again`)."""
        pending = set(kill.held_ids)
        latest = 0.0
        deadline = time.monotonic() + RERUN_TIMEOUT_SECONDS  # the demo's last wait for the jobs ends first
        while pending and time.monotonic() < deadline:
            for job_id in sorted(pending):
                detail = (await self.admin.get(f"/admin/jobs/{job_id}")).raise_for_status().json()
                starts = [started for a in detail["attempt_history"] if a["worker_id"] != kill.worker_id
                          and (started := _epoch(a["started_at"])) >= kill.epoch]
                if starts:
                    pending.discard(job_id)
                    latest = max(latest, min(starts) - kill.epoch)
            if pending:
                await asyncio.sleep(0.2)
        kill.ran_again = kill.held_jobs - len(pending)
        kill.rerun_seconds = round(latest, 1) if not pending else None


def _epoch(value: str) -> float:
    """Epoch seconds of an API timestamp (ISO 8601; one without an offset is UTC, as the database keeps it)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass
class WorkerBreakerProbe:
    """Samples the breaker state of each provider from the metrics port of the demo's current worker
    (`seawall_breaker_state`: 0 closed, 1 half-open, 2 open), the process that makes the provider calls.
    No row while the worker is down between a kill and its restart (a gap on the chart, not a failure)."""

    worker: WorkerSide
    name: str = "worker metrics port"

    async def sample(self, timeline: Timeline, at: float) -> None:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                text = (await client.get(f"{self.worker.process.base_url}/metrics")).raise_for_status().text
        except httpx.TransportError:
            return
        for family in text_string_to_metric_families(text):
            if family.name == "seawall_breaker_state":
                for sample in family.samples:
                    timeline.add(BREAKER, sample.labels["provider"], float(sample.value), at)

    async def aclose(self) -> None:
        return None
