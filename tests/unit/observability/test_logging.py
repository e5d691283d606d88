"""Promise: one chain renders every line of the process — structlog's and the stdlib's (uvicorn,
Alembic, warnings) — as one JSON object per line with the bound contextvars, the current span's
trace and span ids, secrets redacted and the client address as configured; `console` is readable
text without colours off a terminal."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from seawall.config import Settings
from seawall.observability.logging import client_hash_key, configure_logging
from tests.support.logs import captured_logs, restored_logging

log = structlog.get_logger("seawall.test")


@pytest.fixture(name="restored_logging")
def restored_logging_fixture() -> Iterator[None]:
    with restored_logging():
        yield


def test_stdlib_and_structlog_lines_are_json_through_the_same_chain() -> None:
    with captured_logs() as logs, structlog.contextvars.bound_contextvars(request_id="req-1"):
        log.info("app.started", password="Pw-marker-1")
        logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:8000")
        logging.getLogger("alembic.runtime.migration").info("Running upgrade  -> 0001, accounts")
        try:
            raise RuntimeError("token=Pw-marker-2")
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            # pytest's own warning capture may have replaced `showwarning` since logging was configured:
            # route warnings to logging again, as `configure_logging` does at a process's start.
            logging.captureWarnings(False)
            logging.captureWarnings(True)
            warnings.warn("Pw-marker-3 password=Pw-marker-4", UserWarning, stacklevel=1)
    lines = logs.lines()  # every line parses as JSON
    assert [(line["logger"], line["event"][:18]) for line in lines] == [
        ("seawall.test", "app.started"), ("uvicorn.error", "Uvicorn running on"),
        ("alembic.runtime.migration", "Running upgrade  -"), ("uvicorn.error", "Exception in ASGI "),
        ("py.warnings", lines[-1]["event"][:18])]
    assert all(line["request_id"] == "req-1" and line["timestamp"].endswith("Z") for line in lines)
    assert lines[0]["password"] == "[redacted]" and lines[3]["level"] == "error"
    assert "RuntimeError: token=[redacted]" in lines[3]["exception"]
    assert "Pw-marker" not in logs.text.replace("Pw-marker-3", "")


def test_lines_inside_a_recording_span_carry_its_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")  # an SDK tracer; the global provider stays the no-op one
    with captured_logs() as logs:
        log.info("outside")
        with tracer.start_as_current_span("request") as span:
            log.info("inside")
            logging.getLogger("sqlalchemy.engine").warning("inside too")
    outside, inside, stdlib = logs.lines()
    context = span.get_span_context()
    assert "trace_id" not in outside and "span_id" not in outside
    for line in (inside, stdlib):
        assert line["trace_id"] == f"{context.trace_id:032x}" and line["span_id"] == f"{context.span_id:016x}"


def test_client_addresses_are_kept_hashed_with_the_key_or_left_out() -> None:
    key = client_hash_key(b"server-secret")
    with captured_logs(client_addresses="hashed", client_key=key) as hashed:
        log.info("one", client_ip="192.0.2.1")
        log.info("two", client_ip="192.0.2.1")
        log.info("three", client_ip="192.0.2.2")
    with captured_logs(client_addresses="hashed", client_key=client_hash_key(b"other-secret")) as other:
        log.info("one", client_ip="192.0.2.1")
    with captured_logs(client_addresses="none") as dropped:
        log.info("one", client_ip="192.0.2.1")
    one, two, three = (line["client_ip"] for line in hashed.lines())
    assert one == two != three and len(one) == 16 and int(one, 16) >= 0
    assert other.lines()[0]["client_ip"] != one and "192.0.2.1" not in hashed.text + other.text
    assert "client_ip" not in dropped.lines()[0]


def test_console_format_is_plain_text_off_a_terminal(restored_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(log_format="console", stream=stream)
    log.info("app.started", password="Pw-marker-1", worker=True)
    logging.getLogger("uvicorn.error").info("Uvicorn running")
    first, second = stream.getvalue().splitlines()
    assert "app.started" in first and "password=[redacted]" in first and "worker=True" in first
    assert "Uvicorn running" in second and "\x1b[" not in stream.getvalue()


def test_configuring_again_replaces_the_handler_and_keeps_the_level(restored_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(level="WARNING", stream=second)
    log.info("dropped")
    logging.getLogger("uvicorn.error").info("dropped too")
    log.warning("kept")
    assert first.getvalue() == "" and [json.loads(line)["event"] for line in second.getvalue().splitlines()] == ["kept"]


def test_log_format_setting_and_its_deprecated_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().resolved_log_format == "json"
    monkeypatch.setenv("SEAWALL_LOG_JSON", "false")
    assert Settings().resolved_log_format == "console"
    monkeypatch.setenv("SEAWALL_LOG_FORMAT", "json")
    assert Settings().resolved_log_format == "json"
    monkeypatch.delenv("SEAWALL_LOG_JSON")
    monkeypatch.setenv("SEAWALL_LOG_FORMAT", "console")
    assert Settings().resolved_log_format == "console"


def test_a_stream_that_cannot_be_written_loses_the_line_not_the_caller(restored_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    stream.close()
    log.info("lost")  # no exception: the request or job that logged goes on
    logging.getLogger("uvicorn.error").info("lost too")
