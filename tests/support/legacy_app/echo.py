"""Routes that show what arrived, stream large answers, redirect, answer late or with a chosen status.

`GET /download?bytes=N` streams N deterministic bytes, their SHA-256 in `X-Content-Sha256` (computed
ahead: about 2 s per GiB) unless `&digest=no`; `GET /redirect-absolute` redirects to the app's own
origin; `GET /hop-by-hop` answers with hop-by-hop headers a proxy must drop."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNK = 64 * 1024


def pattern_chunk(index: int) -> bytes:
    """The `index`-th 64 KiB chunk of `/download`'s deterministic body."""
    return hashlib.sha256(str(index).encode()).digest() * (CHUNK // 32)


def download_digest(size: int) -> str:
    """The SHA-256 of `/download?bytes=size`'s body (for a test to compare with what it received)."""
    digest = hashlib.sha256()
    for index, start in enumerate(range(0, size, CHUNK)):
        digest.update(pattern_chunk(index)[: min(CHUNK, size - start)])
    return digest.hexdigest()


async def echo(request: Request) -> Response:
    digest = hashlib.sha256()
    length = 0
    async for chunk in request.stream():
        digest.update(chunk)
        length += len(chunk)
    return JSONResponse({
        "method": request.method,
        "path": request.url.path,
        "raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
        "query": request.scope.get("query_string", b"").decode("latin-1"),
        "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in request.scope["headers"]],
        "body_length": length,
        "body_sha256": digest.hexdigest(),
    })


async def download(request: Request) -> Response:
    size = int(request.query_params.get("bytes", "0"))

    async def body() -> AsyncIterator[bytes]:
        for index, start in enumerate(range(0, size, CHUNK)):
            yield pattern_chunk(index)[: min(CHUNK, size - start)]
            await asyncio.sleep(0)

    with_digest = request.query_params.get("digest", "yes") != "no"  # hashing ahead costs ~2 s per GiB
    return StreamingResponse(body(), media_type="application/octet-stream",
                             headers={"X-Content-Sha256": download_digest(size)} if with_digest else None)


async def redirect(request: Request) -> Response:
    return RedirectResponse("/elsewhere?from=redirect", status_code=302)


async def redirect_absolute(request: Request) -> Response:
    """A redirect naming the legacy app's own origin (as the request's Host gave it)."""
    return RedirectResponse(f"{request.base_url}elsewhere", status_code=301)


async def redirect_to(request: Request) -> Response:
    """A 302 whose Location is `?location=` as given, however odd (`mailto:x`, `http:\\\\host`)."""
    return Response(status_code=302, headers={"Location": request.query_params["location"]})


async def hop_by_hop(request: Request) -> Response:
    """An answer carrying hop-by-hop headers a proxy must not pass on (RFC 9110 §7.6.1)."""
    return Response(b"hop", headers={"Connection": "X-Private-Hop", "X-Private-Hop": "secret",
                                     "Keep-Alive": "timeout=5", "Proxy-Authenticate": "Basic",
                                     "Trailer": "X-Checksum", "X-End-To-End": "kept"})


async def page(request: Request) -> Response:
    """An HTML page with legacy's own caching and framing rules (a proxy must pass them on as they are);
    `?hsts=<value>`: with legacy's own Strict-Transport-Security too."""
    headers = {"Cache-Control": "public, max-age=60", "X-Frame-Options": "SAMEORIGIN"}
    if "hsts" in request.query_params:
        headers["Strict-Transport-Security"] = request.query_params["hsts"]
    return Response(b"<!doctype html><title>legacy</title><img src=/logo.png>", media_type="text/html",
                    headers=headers)


async def slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("seconds", "1")))
    return JSONResponse({"slow": True})


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return JSONResponse({"status": code}, status_code=code)


ROUTES = [
    Route("/download", download, methods=["GET"]),
    Route("/redirect", redirect, methods=["GET"]),
    Route("/redirect-absolute", redirect_absolute, methods=["GET"]),
    Route("/redirect-to", redirect_to, methods=["GET"]),
    Route("/hop-by-hop", hop_by_hop, methods=["GET"]),
    Route("/page", page, methods=["GET"]),
    Route("/slow", slow, methods=["GET"]),
    Route("/status/{code:int}", status, methods=["GET"]),
]
CATCH_ALL = Route("/{path:path}", echo, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
