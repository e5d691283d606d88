"""The Python load generators against an in-test HTTP server: fresh keys, status counts, and an open loop
that sends exactly rate × seconds requests and measures latency from each request's due time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seawall.bench.load import PostTarget, _histogram_from_report
from seawall.bench.pyload import closed_loop, fixed_rate


@asynccontextmanager
async def _server(keys: list[str], *, refuse_every: int = 0, delay: float = 0.0) -> AsyncIterator[str]:
    """Answers every POST 202 (or 409 for every `refuse_every`-th), recording each Idempotency-Key."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
                await reader.readexactly(int(headers[b"Content-Length"]))
                keys.append(headers[b"Idempotency-Key"].decode())
                if delay:
                    await asyncio.sleep(delay)
                status = b"409 Conflict" if refuse_every and len(keys) % refuse_every == 0 else b"202 Accepted"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/payments"
    finally:
        server.close()


async def test_closed_loop_sends_a_fresh_key_per_request_and_counts_refusals() -> None:
    keys: list[str] = []
    async with _server(keys, refuse_every=4) as url:
        result = await closed_loop(PostTarget(url=url, body="{}", token="t"), connections=3, seconds=0.3)
    assert result.generator == "python" and result.errors == 0
    assert result.requests == len(keys) > 0 and len(set(keys)) == len(keys)
    assert result.non_2xx == len(keys) // 4
    assert result.histogram.get_total_count() == result.requests and result.percentile_ms(99) is not None


async def test_fixed_rate_sends_rate_times_seconds_and_measures_from_the_due_time() -> None:
    keys: list[str] = []
    async with _server(keys, delay=0.05) as url:
        # One connection, 50 ms per answer, 100 requests/s due: requests queue, and their wait counts.
        result = await fixed_rate(PostTarget(url=url, body="{}"), rate=100, seconds=0.3, max_connections=1)
    assert result.requests == len(keys) == 30 and len(set(keys)) == 30
    assert result.non_2xx == 0 and result.errors == 0
    assert result.percentile_ms(99) is not None and result.percentile_ms(99) > 500  # 30 × 50 ms − 0.3 s ≈ 1.2 s


def test_wrk_buckets_and_percentile_points_load_into_the_histogram() -> None:
    exact = _histogram_from_report({"requests": 4, "buckets": [[1000, 3], [9000, 1]], "points": []})
    assert exact.get_total_count() == 4 and exact.get_value_at_percentile(50) == 1000
    assert 8990 <= exact.get_value_at_percentile(99) <= 9010
    spread = _histogram_from_report({"requests": 2000, "buckets": [], "points": list(range(1, 2001))})
    assert spread.get_total_count() == 2000 and 990 <= spread.get_value_at_percentile(50) <= 1010
