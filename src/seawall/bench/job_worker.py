"""One worker process of `seawall bench jobs`: `python -m seawall.bench.job_worker seawall|pgqueuer`.

The protocol with the parent (`bench.workers.WorkerGroup`), one line each way:
1. the child builds everything it needs (imports, settings, runtime, a warm database connection),
   then prints `ready` on stdout;
2. it waits for `go` on stdin, then runs its queue's worker;
3. it runs until `stop` (or end of input) arrives on stdin, stops its worker gracefully and exits 0.
So the parent's CPU readings, taken after every `ready` and before any `stop`, leave out Python's
start-up, imports and connecting. Logs go to stderr; stdout carries only the protocol.

`seawall`: a `seawall.jobs.worker.Worker` on queue "bench" with the bench's private registry,
configured from `SEAWALL_*` variables like any worker (database, broker, concurrency).
`pgqueuer`: a `PgQueuer` on one asyncpg connection (`--dsn`), whose entrypoint does nothing,
dequeueing `--batch-size` jobs at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

READY, GO, STOP = "ready", "go", "stop"
PGQUEUER_ENTRYPOINT = "bench_noop"


async def _stdin() -> asyncio.StreamReader:
    """stdin as a stream whose reads can be cancelled (a thread blocked in readline() cannot be)."""
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def _read_line(reader: asyncio.StreamReader) -> str:
    return (await reader.readline()).decode().strip()


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve(run: Callable[[], Coroutine[Any, Any, None]], stop: Callable[[], None]) -> None:
    """Announce readiness, run `run()` from `go` until `stop`, then call `stop()` and await the run."""
    reader = await _stdin()
    _say(READY)
    if await _read_line(reader) != GO:
        return
    running = asyncio.create_task(run())
    waiting = asyncio.create_task(_read_line(reader))
    await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
    stop()
    try:
        await running  # a worker that failed raises here, and the process exits non-zero
    finally:
        waiting.cancel()


async def _run_seawall() -> None:
    from sqlalchemy import text

    from seawall.bench.jobs import BENCH_QUEUE, bench_registry
    from seawall.config import Settings
    from seawall.jobs.worker import Worker
    from seawall.runtime import Runtime, configure_logging_for

    settings = Settings()
    configure_logging_for(settings)
    runtime = Runtime.build(settings)
    try:
        async with runtime.database.transaction() as session:  # connect (and set the dialect up) now
            await session.execute(text("SELECT 1"))
        worker = Worker(database=runtime.database, settings=settings, queues=[BENCH_QUEUE],
                        concurrency=settings.worker_concurrency, runtime=runtime, registry=bench_registry)
        await _serve(worker.run, worker.stop)
    finally:
        await runtime.aclose()


async def _run_pgqueuer(dsn: str, batch_size: int) -> None:
    import asyncpg
    from pgqueuer import AsyncpgDriver, Job, PgQueuer

    connection = await asyncpg.connect(dsn)
    try:
        queuer = PgQueuer(AsyncpgDriver(connection))

        @queuer.entrypoint(PGQUEUER_ENTRYPOINT)
        async def _noop(_job: Job) -> None:
            return None

        await _serve(lambda: queuer.run(batch_size=batch_size), queuer.shutdown.set)
    finally:
        await connection.close()


def _run_on_uvloop(main: Coroutine[Any, Any, None]) -> None:
    """Both engines on uvloop, as `seawall worker` runs (and as PgQueuer's own CLI does)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seawall.bench.job_worker")
    parser.add_argument("engine", choices=["seawall", "pgqueuer"])
    parser.add_argument("--dsn", help="pgqueuer: the asyncpg DSN of its database")
    parser.add_argument("--batch-size", type=int, default=10, help="pgqueuer: jobs per dequeue")
    args = parser.parse_args(argv)
    if args.engine == "seawall":
        _run_on_uvloop(_run_seawall())
    else:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        _run_on_uvloop(_run_pgqueuer(args.dsn, args.batch_size))


if __name__ == "__main__":
    main()
