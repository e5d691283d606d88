"""Redis unreachable — from the start (a closed loopback port) or going away mid-run (a proxy we
cut): the API never answers 500; limits fail open (per process meanwhile) or closed (503)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.integration.accounts.wire import assert_error
from tests.integration.ratelimit.conftest import client_of
from tests.support.apps import StartApp
from tests.support.server import free_port
from tests.support.services import REDIS_URL


async def test_fail_open_serves_and_still_limits_per_process(started_app: StartApp) -> None:
    app = await started_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_fail_open=True,
                     rate_limit_per_ip="3/minute")
    async with client_of(app) as http:
        codes = [(await http.get("/v1/me")).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        assert (await http.get("/readyz")).status_code == 200


async def test_fail_closed_answers_503_with_retry_after(started_app: StartApp) -> None:
    app = await started_app(redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_fail_open=False)
    async with client_of(app) as http:
        for _ in range(3):
            response = await http.get("/v1/me")
            assert_error(response, 503, "unavailable")
            assert int(response.headers["Retry-After"]) >= 1
        assert (await http.get("/livez")).status_code == 200


class CuttableProxy:
    """A TCP proxy to the test Redis whose connections we can cut, as if Redis went away."""

    def __init__(self) -> None:
        target = urlsplit(REDIS_URL)
        self.target = (target.hostname or "127.0.0.1", target.port or 6379)
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


@pytest.fixture
async def proxy(backend: str) -> AsyncIterator[CuttableProxy]:
    if backend != "full":
        pytest.skip("needs the test Redis (the `full` backend)")
    proxy = CuttableProxy()
    await proxy.start()
    try:
        yield proxy
    finally:
        if proxy.server is not None and proxy.server.is_serving():
            await proxy.cut()


@pytest.mark.parametrize("fail_open", [True, False])
async def test_redis_going_away_mid_run_never_gives_500(
    started_app: StartApp, proxy: CuttableProxy, fail_open: bool
) -> None:
    app = await started_app(redis_url=f"redis://127.0.0.1:{proxy.port}/0", rate_limit_fail_open=fail_open)
    async with client_of(app) as http:
        signup = await http.post("/v1/signups", json={"email": "gone@example.com",
                                                      "password": "correct horse battery staple"},
                                 headers={"Idempotency-Key": "redis-gone-1"})
        assert signup.status_code == 201, signup.text
        login = await http.post("/v1/sessions", json={"email": "gone@example.com",
                                                      "password": "correct horse battery staple"})
        assert login.status_code == 201
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        assert (await http.get("/v1/me", headers=auth)).status_code == 200  # via Redis: cached now

        await proxy.cut()

        responses = [await http.get("/v1/me", headers=auth) for _ in range(5)]
        codes = {r.status_code for r in responses}
        assert codes == ({200} if fail_open else {503}), [r.text for r in responses]
        for response in responses:
            if response.status_code == 503:
                assert_error(response, 503, "unavailable")
                assert int(response.headers["Retry-After"]) >= 1
