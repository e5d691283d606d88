"""`python -m seawall.bench.shed_cost [N]`: the CPU one shed request costs, in process.

Three figures, each the best of 5 passes of N calls (default 20,000), in CPU time
(`time.process_time`, so a shared machine's other load does not count):
- the shedding middleware alone (`web/load_shedding.py`), full, answering 503 `overloaded`;
- the whole app stack (`create_app`: security headers, request id, telemetry, CORS, shedding) for a
  shed `POST /v1/signups`, with the access log off and on (its lines go to stdout: redirect it);
- for scale, the same stack for `GET /livez`, the cheapest admitted request.
HTTP parsing by the server (uvicorn, httptools) is not included. Results go to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.config import Settings
from seawall.observability import exposition
from seawall.web.load_shedding import LoadSheddingMiddleware


async def _refuse(_scope: Scope, _receive: Receive, _send: Send) -> None:
    raise AssertionError("the request was admitted")


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(_message: Message) -> None:
    return None


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}


async def cpu_per_call(app: ASGIApp, calls: int, scope: Callable[[], Scope]) -> float:
    """Seconds of CPU per call: the best of 5 passes, after 1,000 calls of warm-up."""
    for _ in range(1000):
        await app(scope(), _receive, _send)
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(calls):
            await app(scope(), _receive, _send)
        best = min(best, (time.process_time() - started) / calls)
    return best


def _shedding_layer(app: ASGIApp) -> LoadSheddingMiddleware:
    layer = app
    while not isinstance(layer, LoadSheddingMiddleware):
        layer = layer.app  # type: ignore[attr-defined]
    return layer


async def measure(calls: int) -> list[str]:
    from seawall.app import create_app

    exposition.install(Settings())
    alone = LoadSheddingMiddleware(_refuse, max_in_flight=1)
    alone.in_flight = 1
    shed = lambda: _scope("POST", "/v1/signups")  # noqa: E731
    lines = [f"middleware alone, shed: {await cpu_per_call(alone, calls, shed) * 1e6:.2f} us CPU/request"]
    for access_log in (False, True):
        with tempfile.TemporaryDirectory() as var_dir:
            app = create_app(Settings(var_dir=Path(var_dir), access_log=access_log, log_level="INFO"))
            stack = app.middleware_stack = app.build_middleware_stack()
            layer = _shedding_layer(stack)
            logging.getLogger().handlers[:] = [logging.NullHandler()]
            probe = await cpu_per_call(stack, calls // 5, lambda: _scope("GET", "/livez"))
            layer.in_flight = layer.max_in_flight
            cost = await cpu_per_call(stack, calls // 5, shed)
            lines.append(f"app stack, access_log={access_log}: shed {cost * 1e6:.2f} us CPU/request; "
                         f"GET /livez admitted {probe * 1e6:.2f} us")
    return lines


if __name__ == "__main__":
    for line in asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)):
        print(line, file=sys.stderr)
