"""Load from Python (asyncio streams, keep-alive HTTP/1.1): closed loop when wrk is missing, and fixed rate.

`closed_loop` mirrors wrk: C connections, each sending its next request when the previous answer
arrives, for D seconds. `fixed_rate` is open loop: request i is due at t0 + i/rate whatever the
server does, and its latency is measured from that due time (a late start is the server's delay
too, so coordinated omission is not hidden). Connections come from a pool grown on demand up to
`max_connections`; past that, due requests wait for one (and that wait counts). Both are bounded in
count (rate × seconds) and in time (`seconds` + `grace_seconds`); a request unanswered by then is
an error, recorded at its age so the tail stays visible. Every request carries a fresh
`Idempotency-Key`. Latencies are microseconds in an HdrHistogram; with a `timeline` (`--html`), each is
also recorded there at the time it came, as the `LATENCY` series `series`.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from urllib.parse import urlsplit

from seawall.bench.load import LATENCY_MAX_US, LoadResult, PostTarget, new_histogram
from seawall.reports.timeline import LATENCY, Timeline


class _Connection:
    """One keep-alive HTTP/1.1 connection; `post` sends a request and reads the status and body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, head: bytes, key: str, tail: bytes) -> int:
        self.writer.write(head + key.encode() + tail)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class _Request:
    """The constant bytes of every request, split around the Idempotency-Key value."""

    def __init__(self, target: PostTarget) -> None:
        parts = urlsplit(target.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        body = target.body.encode()
        auth = f"Authorization: Bearer {target.token}\r\n" if target.token else ""
        self.head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nIdempotency-Key: ").encode()
        self.tail = b"\r\n\r\n" + body
        self.prefix = secrets.token_hex(6)


def _record(result: LoadResult, status: int | None, latency_s: float, timeline: Timeline | None = None,
            series: str = "") -> None:
    result.histogram.record_value(max(1, min(int(latency_s * 1e6), LATENCY_MAX_US)))
    if timeline is not None:
        timeline.add(LATENCY, series, latency_s)
    if status is None:
        result.errors += 1
        return
    result.requests += 1
    if not 200 <= status < 300:
        result.non_2xx += 1


def _forget(tasks: dict[int, tuple[asyncio.Task[None], float]], number: int, _task: asyncio.Task[None]) -> None:
    tasks.pop(number, None)


def _empty_result() -> LoadResult:
    return LoadResult(generator="python", requests=0, non_2xx=0, errors=0, seconds=0.0, histogram=new_histogram())


async def closed_loop(target: PostTarget, *, connections: int, seconds: float, request_timeout: float = 30.0,
                      timeline: Timeline | None = None, series: str = "") -> LoadResult:
    """`connections` keep-alive connections, each one request at a time, for `seconds`."""
    request = _Request(target)
    result = _empty_result()
    started = time.perf_counter()
    deadline = started + seconds

    async def one_connection(number: int) -> None:
        counter = 0
        connection: _Connection | None = None
        while time.perf_counter() < deadline:
            counter += 1
            sent = time.perf_counter()
            status: int | None
            try:
                if connection is None:
                    connection = await _Connection.open(request.host, request.port)
                status = await asyncio.wait_for(
                    connection.post(request.head, f"{request.prefix}-{number}-{counter}", request.tail),
                    request_timeout)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError):
                status = None
                if connection is not None:
                    connection.close()
                connection = None
            _record(result, status, time.perf_counter() - sent, timeline, series)
        if connection is not None:
            connection.close()

    await asyncio.gather(*(one_connection(number) for number in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


async def fixed_rate(target: PostTarget, *, rate: float, seconds: float, max_connections: int = 256,
                     grace_seconds: float = 10.0, timeline: Timeline | None = None, series: str = "") -> LoadResult:
    """Open loop: `rate` requests per second for `seconds`; latency measured from each due time."""
    request = _Request(target)
    result = _empty_result()
    total = max(1, int(rate * seconds))
    idle: list[_Connection] = []
    every: set[_Connection] = set()
    opened = 0
    released = asyncio.Condition()
    loop = asyncio.get_running_loop()
    started = loop.time()
    hard_deadline = started + seconds + grace_seconds

    async def acquire() -> _Connection:
        nonlocal opened
        async with released:
            while not idle and opened >= max_connections:
                await released.wait()
            if idle:
                return idle.pop()
            opened += 1
        try:
            return await _Connection.open(request.host, request.port)
        except OSError:
            async with released:
                opened -= 1
                released.notify()
            raise

    async def give_back(connection: _Connection | None) -> None:
        nonlocal opened
        async with released:
            if connection is None:
                opened -= 1
            else:
                idle.append(connection)
            released.notify()

    async def one_request(number: int, due: float) -> None:
        try:
            connection = await acquire()
        except OSError:
            _record(result, None, loop.time() - due, timeline, series)
            return
        every.add(connection)
        try:
            status = await connection.post(request.head, f"{request.prefix}-{number}", request.tail)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            connection.close()
            every.discard(connection)
            await give_back(None)
            _record(result, None, loop.time() - due, timeline, series)
            return
        await give_back(connection)
        _record(result, status, loop.time() - due, timeline, series)

    tasks: dict[int, tuple[asyncio.Task[None], float]] = {}
    for number in range(total):
        due = started + number / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one_request(number, due))
        tasks[number] = (task, due)
        task.add_done_callback(functools.partial(_forget, tasks, number))
    remaining = max(0.0, hard_deadline - loop.time())
    pending = [task for task, _ in tasks.values()]
    if pending:
        await asyncio.wait(pending, timeout=remaining)
    now = loop.time()
    for task, due in list(tasks.values()):  # unanswered at the deadline: errors at their age
        task.cancel()
        _record(result, None, now - due, timeline, series)
    for connection in every:
        connection.close()
    result.seconds = now - started  # from the first due time to the last answer (or the deadline)
    return result
