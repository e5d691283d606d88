"""Promise: a real server writes nothing but JSON lines — its own, uvicorn's (start-up, shutdown) and
Alembic's (the migration it runs at start) — with one `http.request` line per request carrying the
request id it answered with. (`test_serving`'s two-process test checks the same of uvicorn's
supervisor and its children, with `parsed_lines`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import ServerFactory


def parsed_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            raise AssertionError(f"not a JSON line: {raw!r}\n\nthe whole log:\n{text}") from None
        assert isinstance(line, dict) and {"event", "level", "timestamp", "logger"} <= line.keys(), raw
        lines.append(line)
    return lines


def test_every_line_of_a_server_that_migrates_serves_and_stops_is_json(tmp_path: Path) -> None:
    servers = ServerFactory(var_dir=tmp_path, admin_key="logs-admin-key-0123456789")  # a fresh embedded database
    try:
        serve = servers.start("serve", wait_ready=False)
        servers.wait_ready(serve, timeout=60)
        with httpx.Client(base_url=serve.base_url, timeout=30) as http:
            answers = [http.get("/livez", headers={"X-Request-ID": "logs-acceptance-1"}),
                       http.get("/v1/payments/pay_123", headers={"Authorization": "Bearer Tk-marker-0123456789"}),
                       http.post("/v1/signups", content=b"{", headers={"Content-Type": "application/json"})]
        assert serve.stop(timeout=60) == 0, serve.log()
    finally:
        servers.close()
    log = serve.log()
    lines = parsed_lines(log)
    by_logger = {(line["logger"], line["event"].split(" [")[0]) for line in lines}
    assert ("alembic.runtime.migration", "Running upgrade  -> 0001, initial schema") in by_logger, log
    for expected in [("uvicorn.error", "Started server process"),
                     ("uvicorn.error", "Application startup complete."), ("uvicorn.error", "Shutting down"),
                     ("seawall.app", "app.started"), ("seawall.app", "app.stopped")]:
        assert expected in by_logger, (expected, log)
    assert any(line["event"].startswith("Uvicorn running on http://127.0.0.1:") for line in lines), log
    requests = [line for line in lines if line["event"] == "http.request"]
    readiness = [line for line in requests if line["route"] == "/readyz"]  # wait_ready's polls
    assert [(line["route"], line["status"]) for line in requests if line not in readiness] == [
        ("/livez", 200), ("/v1/payments/{payment_id}", 401), ("/v1/signups", 422)]
    assert [line["request_id"] for line in requests if line not in readiness] == [
        answer.headers["x-request-id"] for answer in answers]
    assert answers[0].headers["x-request-id"] == "logs-acceptance-1"
    assert "Tk-marker" not in log and "pay_123" not in log
