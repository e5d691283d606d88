"""Measure what each Seawall role uses under load, for the manifests' requests and limits.

Runs the Kubernetes layout on this machine: one `seawall api` (one serving process, as in the API
Deployment) and one `seawall worker --queues <q>` per queue, against PostgreSQL, Redis and RabbitMQ,
each role with its metrics port on, and drives `seawall bench pipeline`'s workload (paid sign-ups,
subscriber payments with webhooks) through them against the sandbox providers. Every process is read
with psutil every 0.2 s: resident memory (idle before the load, peak during it) and CPU seconds
(total, and the busiest 1 s window). Prints one JSON object.

    python deploy/kubernetes/measure_sizing.py \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/0 \
        --broker-url amqp://guest:guest@127.0.0.1:5672/<a vhost of its own> --signups 600

A fresh database is made on the server (and dropped), keys and queues get a prefix of their own (the
Redis keys are deleted at the end; the queues stay in the vhost: use a vhost of its own and delete it).
Loopback only; bounded by the pipeline's own timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import redis
from sqlalchemy import make_url

from seawall.bench import pipeline
from seawall.bench.scratch import drop_database
from seawall.cli.demo.processes import (
    DemoProcess,
    free_port,
    server_env,
    start_sandbox,
    start_server,
    start_worker,
)

QUEUES = ("payments", "notifications", "webhooks", "default", "maintenance")
SAMPLE_SECONDS = 0.2


class Sampler(threading.Thread):
    """Peak RSS and CPU per named process (with its children), sampled every SAMPLE_SECONDS."""

    def __init__(self, processes: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots = {name: psutil.Process(pid) for name, pid in processes.items()}
        self.samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in processes}
        self.stopping = threading.Event()

    def read(self, name: str) -> tuple[float, int]:
        root = self.roots[name]
        members = [root, *root.children(recursive=True)]
        cpu, rss = 0.0, 0
        for process in members:
            try:
                times = process.cpu_times()
                cpu += times.user + times.system
                rss += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return cpu, rss

    def run(self) -> None:
        while not self.stopping.is_set():
            now = time.monotonic()
            for name in self.roots:
                cpu, rss = self.read(name)
                self.samples[name].append((now, cpu, rss))
            self.stopping.wait(SAMPLE_SECONDS)

    def figures(self, load_started: float) -> dict[str, Any]:
        result = {}
        for name, samples in self.samples.items():
            idle = [rss for at, _, rss in samples if at < load_started]
            loaded = [(at, cpu, rss) for at, cpu, rss in samples if at >= load_started]
            busiest = 0.0
            for index, (at, cpu, _) in enumerate(loaded):
                later = [s for s in loaded[index:] if s[0] - at >= 1.0]
                if later:
                    busiest = max(busiest, (later[0][1] - cpu) / (later[0][0] - at))
            result[name] = {
                "idle_rss_mib": round(max(idle, default=0) / 2**20, 1),
                "peak_rss_mib": round(max((rss for _, _, rss in loaded), default=0) / 2**20, 1),
                "cpu_seconds": round(loaded[-1][1] - loaded[0][1], 2) if loaded else 0.0,
                "busiest_second_cores": round(busiest, 2),
            }
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--broker-url", required=True)
    parser.add_argument("--signups", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()
    tag = secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="seawall-sizing-") as directory:
        data_dir = Path(directory)
        sandbox = start_sandbox(data_dir, faults={}, smtp_faults={})
        database_url = pipeline._create_database(options.database_url, data_dir)
        extra = {"SEAWALL_DATABASE_URL": database_url, "SEAWALL_SECRET_KEY": pipeline.BENCH_SECRET,
                 "SEAWALL_REDIS_URL": options.redis_url, "SEAWALL_REDIS_KEY_PREFIX": f"sizing-{tag}:",
                 "SEAWALL_BROKER_URL": options.broker_url, "SEAWALL_BROKER_QUEUE_PREFIX": f"sizing-{tag}.",
                 # The manifests' values: the defaults of concurrency and pool, one serving process.
                 "SEAWALL_WORKER_CONCURRENCY": "8", "SEAWALL_DATABASE_POOL_SIZE": "10",
                 "SEAWALL_METRICS_HOST": "127.0.0.1"}
        admin_key = secrets.token_urlsafe(24)
        processes: list[DemoProcess] = []
        try:
            server = start_server(data_dir, admin_key=admin_key, sandbox=sandbox, role="api",
                                  extra_env={**extra, "SEAWALL_METRICS_PORT": str(free_port())})
            processes.append(server)
            env = server_env(data_dir, admin_key=admin_key, sandbox=sandbox, extra_env=extra)
            for queue in QUEUES:
                processes.append(start_worker(data_dir, {**env, "SEAWALL_WORKER_QUEUES": queue},
                                              name=f"worker-{queue}", metrics_port=free_port()))
            if not sandbox.process.wait_ready("/_sandbox/stats") or not server.wait_ready("/readyz"):
                raise RuntimeError(server.log_tail())
            for worker in processes[1:]:
                if not worker.wait_ready("/metrics"):
                    raise RuntimeError(worker.log_tail())
            sampler = Sampler({p.name: p.process.pid for p in processes})
            sampler.start()
            time.sleep(3.0)  # idle readings
            load_started = time.monotonic()
            bench = pipeline.PipelineOptions(signups=options.signups, concurrency=options.concurrency,
                                             database_url=options.database_url, workers=len(QUEUES))
            figures = asyncio.run(pipeline._drive(bench, server=server, sandbox=sandbox.process, admin_key=admin_key,
                                                  server_pids=[p.process.pid for p in processes]))
            sampler.stopping.set()
            sampler.join()
            report = {"signups": options.signups, "concurrency": options.concurrency,
                      "wall_seconds": figures["wall_seconds"], "signups_per_second": figures["signups_per_second"],
                      "jobs_per_second": figures["jobs_per_second"],
                      "signup_request": figures["signup_request"],
                      "checks_ok": all(check["ok"] for check in figures["checks"]),
                      "processes": sampler.figures(load_started)}
        finally:
            for process in processes:
                process.stop()
            sandbox.process.stop()
            asyncio.run(drop_database(options.database_url, make_url(database_url).database or ""))
            client = redis.Redis.from_url(options.redis_url)
            for key in client.scan_iter(match=f"sizing-{tag}:*", count=1000):
                client.delete(key)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
