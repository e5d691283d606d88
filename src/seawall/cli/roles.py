"""Process roles: `serve` (API + worker), `api` and `worker` (`seawall migrate` is `cli.migrate`)."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import signal
from typing import Annotated

import structlog
import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from seawall.app import prepare_database
from seawall.cli.runner import load_settings, run_with_runtime
from seawall.cli.serving_metrics import MetricsMultiprocess, serving_metrics
from seawall.jobs import load_job_modules
from seawall.jobs.worker import Worker
from seawall.observability.tracing import configure_tracing
from seawall.runtime import Runtime
from seawall.web.shutdown import GracefulSignals

HostOption = Annotated[str | None, typer.Option(help="Bind address (default SEAWALL_HOST)")]
PortOption = Annotated[int | None, typer.Option(help="Port (default SEAWALL_PORT)")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", min=1, max=256,
    help="Serving processes (default SEAWALL_WEB_WORKERS, else the CPU count in server mode, 1 embedded)")]

log = structlog.get_logger("seawall.cli")

# uvicorn factories (import strings, so that each of N processes builds its own app).
API_APP = "seawall.app:create_api_app"
SERVE_APP = "seawall.app:create_serve_app"


def _serve_http(*, run_worker: bool, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve with uvicorn on uvloop + httptools; N > 1 uses uvicorn's own supervisor.

    SIGTERM/SIGINT drain and exit 0 (`web.shutdown`): readiness 503 at once, the listener open for
    `shutdown_readiness_delay` s more, then in-flight requests get `shutdown_timeout` s (uvicorn's
    `timeout_graceful_shutdown`, whole seconds rounded up). One process drains itself; the supervisor
    of N passes SIGTERM to each process, waits for all of them to drain, and returns. The same signal
    twice exits at once.
    """
    settings = load_settings()
    # Fail fast with a one-line message (not a startup traceback) when the schema is not current; a schema
    # ahead of the code is logged by each serving process's own start-up check.
    run_with_runtime(functools.partial(prepare_database, warn=False), settings=settings)
    processes = workers if workers is not None else settings.resolved_web_workers
    # Each serving process reads its settings from the environment: tell it how many there are.
    os.environ["SEAWALL_WEB_WORKERS"] = str(processes)
    if processes > 1 and settings.is_embedded_database:
        log.warning("serve.embedded_processes", processes=processes,
                    note="SQLite has one writer; without Redis reads are not cached in process and rate "
                         "limits count per process")
    config = uvicorn.Config(
        SERVE_APP if run_worker else API_APP,
        factory=True,
        host=host or settings.host,
        port=port if port is not None else settings.port,
        workers=processes,
        loop="uvloop",
        http="httptools",
        log_config=None,  # uvicorn's lines go to the root handler, JSON like every other (observability.logging)
        access_log=False,  # web.request_telemetry writes one line per request, with the route template and request id
        # The client address is the socket peer unless SEAWALL_RATE_LIMIT_TRUSTED_PROXIES says which
        # proxies' X-Forwarded-For to believe (uvicorn would otherwise trust 127.0.0.1's by default).
        proxy_headers=False,
        server_header=False,  # no `Server: uvicorn`: the product and version are nobody's business
        timeout_graceful_shutdown=math.ceil(settings.resolved_shutdown_timeout),
        lifespan="on",
        # The supervisor replaces a process that does not answer its health ping in time: be patient
        # with one whose CPU is saturated rather than kill its in-flight requests.
        timeout_worker_healthcheck=15,
    )
    with serving_metrics(settings, processes=processes):
        _run_uvicorn(config, processes)


def _run_uvicorn(config: uvicorn.Config, processes: int) -> None:
    if processes == 1:
        server = uvicorn.Server(config)
        # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal to the previous handler: make that
        # handler a clean exit, so a graceful stop ends with status 0 rather than "killed by SIGTERM".
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, exit_cleanly)
        server.run()
        if not server.started:
            raise typer.Exit(code=1)
        return
    sock = config.bind_socket()
    supervisor = MetricsMultiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise typer.Exit(code=1)


def exit_cleanly(signum: int, _frame: object) -> None:
    """A signal handler that exits with status 0 (after uvicorn has drained on that signal)."""
    raise SystemExit(0)


def serve(host: HostOption = None, port: PortOption = None, workers: WorkersOption = None) -> None:
    """Run the API and a job worker in each serving process (the embedded default: one process)."""
    _serve_http(run_worker=True, host=host, port=port, workers=workers)


def api(host: HostOption = None, port: PortOption = None, workers: WorkersOption = None) -> None:
    """Run the HTTP API only (stateless; scale it out)."""
    _serve_http(run_worker=False, host=host, port=port, workers=workers)


def worker(
    queues: Annotated[str | None, typer.Option(help="Comma-separated queues (default SEAWALL_WORKER_QUEUES)")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Jobs run at once")] = None,
) -> None:
    """Run a job worker. SIGTERM drains: running jobs finish or go back to the queue."""
    settings = load_settings()
    configure_tracing(settings, role="worker")
    load_job_modules(settings.job_module_names)

    async def run(runtime: Runtime) -> None:
        await prepare_database(runtime)
        names = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
        job_worker = Worker(database=runtime.database, settings=settings, queues=names, concurrency=concurrency,
                            runtime=runtime)
        # SIGTERM/SIGINT: stop claiming and drain at once; the same signal twice exits at once.
        signals = GracefulSignals(begin=job_worker.stop, loop=asyncio.get_running_loop())
        signals.install()
        try:
            await job_worker.run()
        finally:
            signals.uninstall()

    with serving_metrics(settings, processes=1):
        run_with_runtime(run, settings=settings, one_shot=False)  # its start-up contact is prepare_database's

