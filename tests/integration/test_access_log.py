"""Promise: every HTTP request gets exactly one `http.request` line — method, route template (never the
raw path; `unmatched` when no route), status, duration, the request id it was answered with, the
client address, and the trace and span ids of the request's span when one records — including the
answers middleware gives before any route runs (413, 429) and a 500 from a handler that raised
(whose error line and answer carry the request id too); `SEAWALL_ACCESS_LOG=false` turns it off."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import Receive, Scope, Send

from seawall.observability import tracing
from seawall.payments import service as payments_service
from tests.integration.accounts.wire import bearer, new_email, sign_up, token_for
from tests.support.apps import BASE_URL, StartApp, asgi_client
from tests.support.logs import captured_logs

pytestmark = pytest.mark.backends("sqlite")  # the middleware is the same on every backend


def access_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == "http.request"]


async def test_one_line_per_request_with_the_route_template_status_and_request_id(
    started_app: StartApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await started_app(rate_limit_signup_per_ip="1/minute", max_body_bytes=2048)

    async def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(payments_service, "list_payments_of", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("192.0.2.7", 4000))
    with captured_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            email = new_email("access")
            answers = [
                await sign_up(http, email),  # 201
                await sign_up(http, new_email("access")),  # 429 from the rate-limit middleware
            ]
            token = await token_for(http, email)
            auth = bearer(token)
            answers += [
                await http.get("/v1/payments/pay_0123456789abcdef", headers={**auth, "X-Request-ID": "req-given-1"}),
                await http.post("/v1/payments", headers=auth, content=b"x" * 4096),  # 413 by Content-Length
                await http.post("/v1/payments", headers={**auth, "Idempotency-Key": "k-1"}, json={"amount": "x"}),
                await http.get("/v1/payments", headers=auth),  # 500: the service raised
                await http.get("/no/such/route/123"),
                await http.delete("/v1/signups"),  # 405: the route exists, not the method
                await http.get("/docs"),
                await http.head("/v1/payments/pay_0123456789abcdef", headers=auth),  # served by the GET route
            ]
    lines = access_lines(logs.lines())
    assert len(lines) == len(answers) + 1  # and one for the login
    del lines[2]  # the login
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("POST", "/v1/signups", 201), ("POST", "/v1/signups", 429),
        ("GET", "/v1/payments/{payment_id}", 404), ("POST", "/v1/payments", 413),
        ("POST", "/v1/payments", 422), ("GET", "/v1/payments", 500), ("GET", "unmatched", 404),
        ("DELETE", "/v1/signups", 405), ("GET", "/docs", 200), ("HEAD", "/v1/payments/{payment_id}", 404)]
    assert [answer.status_code for answer in answers] == [line["status"] for line in lines]
    for line, answer in zip(lines, answers, strict=True):
        assert line["request_id"] == answer.headers["x-request-id"] and line["client_ip"] == "192.0.2.7"
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
        assert "trace_id" not in line  # no span records without a tracer
    assert lines[2]["request_id"] == "req-given-1"
    (failed,) = [line for line in logs.lines() if line["event"] == "request.unexpected_error"]
    assert failed["request_id"] == answers[5].headers["x-request-id"] and "RuntimeError: boom" in failed["exception"]
    assert token not in logs.text and "pay_0123456789abcdef" not in str(lines)


async def test_the_line_carries_the_trace_and_span_of_the_request_span(started_app: StartApp) -> None:
    app = await started_app()
    tracer = TracerProvider().get_tracer("test")
    spans = []

    async def traced(scope: Scope, receive: Receive, send: Send) -> None:  # as the FastAPI instrumentation does
        with tracer.start_as_current_span("GET /livez") as span:
            spans.append(span.get_span_context())
            await app(scope, receive, send)

    with captured_logs() as logs:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=traced), base_url=BASE_URL) as http:
            assert (await http.get("/livez")).status_code == 200
    (line,) = access_lines(logs.lines())
    assert line["trace_id"] == f"{spans[0].trace_id:032x}" and line["span_id"] == f"{spans[0].span_id:016x}"


async def test_the_access_log_can_be_turned_off(started_app: StartApp) -> None:
    app = await started_app(access_log=False)
    with captured_logs() as logs:
        async with asgi_client(app) as http:
            assert (await http.get("/livez")).status_code == 200
    assert access_lines(logs.lines()) == []


async def test_no_span_records_and_no_line_carries_ids_once_tracing_is_off_again(started_app: StartApp) -> None:
    """Tracing on, then off, in one process (what a serial run of the tracing unit tests before this
    module does): the SDK provider stays the process's global one (OpenTelemetry sets it once), and
    FastAPI's own telemetry starts its spans whenever a configured provider is global."""
    exporter = InMemorySpanExporter()
    tracing.install(exporter)
    tracing.reset()
    assert not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    app = await started_app()
    with captured_logs() as logs:
        async with asgi_client(app) as http:
            assert (await sign_up(http, new_email("off-again"))).status_code == 201
            assert (await http.get("/v1/payments", headers=bearer("not-a-token"))).status_code == 401
    lines = access_lines(logs.lines())
    assert len(lines) == 2
    assert [line for line in logs.lines() if "trace_id" in line or "span_id" in line] == []
    assert exporter.get_finished_spans() == ()

    outer = TracerProvider().get_tracer("test")  # a span of the host's around the app: its ids, not FastAPI's

    async def traced(scope: Scope, receive: Receive, send: Send) -> None:
        with outer.start_as_current_span("GET /livez") as span:
            spans.append(span.get_span_context())
            await app(scope, receive, send)

    spans = []
    with captured_logs() as logs:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=traced), base_url=BASE_URL) as http:
            assert (await http.get("/livez")).status_code == 200
    (line,) = access_lines(logs.lines())
    assert (line["trace_id"], line["span_id"]) == (f"{spans[0].trace_id:032x}", f"{spans[0].span_id:016x}")
