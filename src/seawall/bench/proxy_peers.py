"""The other processes of `seawall bench legacy`: bench-only, never part of the product.

- `create_upstream()`: the stand-in legacy backend — reads the request body, answers 200 with a small
  fixed JSON body. As cheap as an ASGI app can be, so the figures are the proxies'.
- `create_naive_proxy()`: what a team writes without Seawall — a Starlette catch-all that streams the
  request to `SEAWALL_BENCH_PEER_UPSTREAM` with one pooled httpx client and streams the answer back:
  hop-by-hop headers dropped (a Content-Length is kept, as the bridge keeps it), nothing else (no
  resilience policy, no forwarding headers, no request id, no access log, no metrics, no route table).

Served by uvicorn: `uvicorn seawall.bench.proxy_peers:create_upstream --factory` (or `create_naive_proxy`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

UPSTREAM_BODY = b'{"ok":true,"served_by":"upstream"}'
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                         "upgrade", "proxy-authorization", "proxy-authenticate", "host"})


def create_upstream() -> ASGIApp:
    async def upstream(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(UPSTREAM_BODY)).encode())]})
        await send({"type": "http.response.body", "body": UPSTREAM_BODY})

    return upstream


def create_naive_proxy() -> ASGIApp:
    upstream = os.environ["SEAWALL_BENCH_PEER_UPSTREAM"].rstrip("/")
    client = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))

    async def forward(request: Request) -> StreamingResponse:
        headers = [(name, value) for name, value in request.headers.raw if name.decode().lower() not in _HOP_BY_HOP]
        url = upstream + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        outgoing = client.build_request(request.method, url, headers=headers, content=request.stream())
        answer = await client.send(outgoing, stream=True)
        answer_headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.headers.raw
                          if name.decode("latin-1").lower() not in _HOP_BY_HOP]
        return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code, headers=dict(answer_headers),
                                 background=BackgroundTask(answer.aclose))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)
