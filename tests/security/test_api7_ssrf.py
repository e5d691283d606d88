"""OWASP API7:2023 Server Side Request Forgery. Promise, end to end through the API and the delivery
worker: a webhook URL — the one place a user makes Seawall send a request — never reaches an
internal address, however it is spelled (decimal, octal, hex and short IPv4 forms, IPv6 and
IPv4-inside-IPv6 forms, names that resolve inside, one internal answer among public ones), and a
receiver that redirects is not followed: the 30x counts as a failed attempt and nothing is sent to
the `Location`.

Address classes, one by one, are in tests/unit/webhooks/test_ssrf.py; DNS re-checked at delivery
time (rebinding) in tests/integration/webhooks/test_delivery.py; the sender's refusal to connect to
anything the guard did not check in tests/integration/webhooks/test_sender.py. This file proves the
item at the boundary: what the API accepts and what leaves the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from seawall.config import WebhookSettings
from seawall.kit.clock import FakeClock
from seawall.runtime import Runtime
from seawall.webhooks.client import build_client
from tests.integration.accounts.wire import assert_error
from tests.integration.webhooks.conftest import SCHEDULE_SCALE, install_client
from tests.integration.webhooks.wire import create_endpoint, delivery, endpoint_with_secret, new_user, publish
from tests.support.apps import StartApp, asgi_client
from tests.support.fakes import FakeResolver
from tests.support.workers import RunJobs


# As in tests/integration/webhooks: the API (on `fake_clock`) and the worker deliver through webhook
# clients on a fake resolver; private addresses are admitted so receivers can run on loopback.
@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def app_clock(fake_clock: FakeClock) -> FakeClock:
    return fake_clock


@pytest.fixture
async def worker_runtime(runtime: Runtime, resolver: FakeResolver) -> AsyncIterator[Runtime]:
    client = build_client(WebhookSettings(allow_private=True, schedule_scale=SCHEDULE_SCALE), resolver=resolver)
    install_client(runtime, client)
    try:
        yield runtime
    finally:
        await client.aclose()


@pytest.fixture
async def app(app: FastAPI, worker_runtime: Runtime, resolver: FakeResolver) -> AsyncIterator[FastAPI]:
    client = build_client(WebhookSettings(allow_private=True, schedule_scale=SCHEDULE_SCALE), resolver=resolver)
    install_client(app.state.runtime, client)
    try:
        yield app
    finally:
        await client.aclose()


# Internal destinations as an attacker spells them; the production guard (the system resolver, no
# private addresses allowed) refuses each. None needs a DNS server: they are literals, or spellings
# the C library's resolver reads as numbers, or /etc/hosts names.
HOSTILE_URLS = [
    "http://127.0.0.1/", "http://127.1/", "http://0/", "http://2130706433/", "http://0x7f000001/",
    "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://017700000001/", "http://localhost:8080/",
    "http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://0xa9fea9fe/",  # the metadata IP
    "http://10.0.0.1/", "http://012.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/", "http://100.64.0.1/",
    "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::1]/",
    "http://[fe80::1]/", "http://[fc00::1]/", "http://[fd00:ec2::254]/", "http://[::]/", "http://0.0.0.0/",
    "http://user:pass@93.184.216.34/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://10.0.0.1/",
]


async def test_no_spelling_of_an_internal_address_is_accepted(started_app: StartApp) -> None:
    production = await started_app()  # the guard as deployed: system resolver, private addresses refused
    assert production.state.runtime.webhooks.guard.allow_private is False
    async with asgi_client(production) as http:
        user = await new_user(http, "ssrf")
        for url in HOSTILE_URLS:
            error = assert_error(await create_endpoint(http, user, url), 422, "webhook_url_not_allowed")
            assert error["message"], url
        assert (await http.get("/v1/webhook-endpoints", headers=user.headers)).json()["data"] == []
        assert (await create_endpoint(http, user, "https://93.184.216.34/hooks")).status_code == 201


@pytest.mark.parametrize("answers", [
    ["10.0.0.5"], ["169.254.169.254"], ["127.0.0.1"], ["::1"], ["::ffff:169.254.169.254"], ["fd00::1"],
    ["93.184.216.34", "169.254.169.254"],  # one internal answer among public ones is enough
    ["2606:4700:4700::1111", "fe80::1%eth0"],
], ids=lambda answers: "+".join(answers))
async def test_a_public_looking_name_that_resolves_inside_is_refused(
    client: httpx.AsyncClient, app: FastAPI, resolver: FakeResolver, answers: list[str],
) -> None:
    app.state.runtime.webhooks.guard.allow_private = False
    resolver.answers["hooks.customer.test"] = answers
    user = await new_user(client)
    error = assert_error(await create_endpoint(client, user, "https://hooks.customer.test/in"), 422,
                         "webhook_url_not_allowed")
    assert not any(answer.split("%")[0] in error["message"] for answer in answers)  # DNS answers are not told
    assert "hooks.customer.test" in resolver.asked


class Redirector:
    """An HTTP server on loopback answering every POST to `/hook` with `status` and `Location`, and
    recording every request line it gets (a followed redirect would show up as a second line)."""

    def __init__(self, status: int, location: str) -> None:
        self.status, self.location = status, location
        self.requests: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.requests.append(request_line)
        length = next((int(line.split(":", 1)[1]) for line in header_lines
                       if line.lower().startswith("content-length:")), 0)
        await reader.readexactly(length)
        location = self.location.replace("{port}", str(self.port))
        writer.write(f"HTTP/1.1 {self.status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def redirector(request: pytest.FixtureRequest) -> AsyncIterator[Redirector]:
    status, location = request.param
    server_state = Redirector(status, location)
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0)
    server_state.port = server.sockets[0].getsockname()[1]
    try:
        yield server_state
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("redirector", [
    (302, "http://127.0.0.1:{port}/stolen"),  # back to this loopback server: would be seen
    (307, "http://hooks.customer.test:{port}/stolen"),  # same checked host, other path
    (308, "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
    (301, "http://[::1]:{port}/stolen"),
    (303, "http://2130706433:{port}/stolen"),
], indirect=True, ids=["302-loopback", "307-same-host", "308-metadata", "301-ipv6", "303-decimal"])
async def test_a_receiver_that_redirects_is_not_followed(
    client: httpx.AsyncClient, worker_runtime: Runtime, run_jobs: RunJobs, fake_clock: FakeClock,
    resolver: FakeResolver, redirector: Redirector,
) -> None:
    """The receiver's address is loopback, which the tests' guard admits (`allow_private`) so that a
    followed redirect back to this same server would be seen; the redirect is still not followed."""
    resolver.answers["hooks.customer.test"] = ["127.0.0.1"]
    user = await new_user(client)
    await endpoint_with_secret(client, user, f"http://hooks.customer.test:{redirector.port}/hook")
    [queued] = await publish(worker_runtime, fake_clock, user)

    await run_jobs()

    assert redirector.requests == ["POST /hook HTTP/1.1"]  # one attempt, and nothing sent to Location
    attempted = await delivery(worker_runtime, queued.id)
    assert (attempted.status, attempted.attempts, attempted.last_status_code) == (
        "pending", 1, redirector.status)  # a 30x is a failure: retried on the schedule, to the same URL
    assert attempted.last_error is not None and attempted.last_error.startswith(f"HTTP {redirector.status}")
