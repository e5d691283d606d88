"""Closed-loop load on one HTTP route with wrk, and the shape every load generator reports in.

`run_wrk` drives `POST <url>` with wrk (Debian's package): C keep-alive connections, each sending
its next request as soon as the previous answer arrives, for D seconds. A Lua script gives every
request a fresh `Idempotency-Key` (run prefix, thread number, counter) and, in `done()`, writes
wrk's summary and its latency histogram (nonzero microsecond buckets) as JSON, which is loaded
into an HdrHistogram here. wrk counts a status >= 400 as a `status` error: that is `non_2xx`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

LATENCY_MAX_US = 120_000_000  # two minutes: anything slower is a timeout anyway
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    """Latencies in microseconds, 1 µs to two minutes, three significant digits."""
    return HdrHistogram(1, LATENCY_MAX_US, SIGNIFICANT_DIGITS)


@dataclass(frozen=True)
class PostTarget:
    """What each request is: `POST url` with this JSON body and bearer token (None: no header)."""

    url: str
    body: str
    token: str | None = None


@dataclass
class LoadResult:
    """One measured pass: completed responses, failures, wall seconds and latencies in µs."""

    generator: str  # "wrk" | "python"
    requests: int  # responses received in the window, any status
    non_2xx: int
    errors: int  # connect/read/write failures and timeouts (no response)
    seconds: float
    histogram: HdrHistogram
    connections: int | None = None  # connections actually used, where the generator may use fewer than asked
    client_cpu_seconds: float | None = None  # the load generator's own user + system CPU over the pass

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, percentile: float) -> float | None:
        if self.histogram.get_total_count() == 0:
            return None
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000


def wrk_path() -> str | None:
    return shutil.which("wrk")


# Runs in every wrk thread's Lua state and in the main one (`done`). Kept cheap: no `response()`
# callback, so wrk does not hand each response to Lua.
WRK_SCRIPT = r"""
-- `thread_number` is a global: setup() sets it in each thread's state through thread:set().
thread_number = 0
local args_prefix = "k"
local counter = 0
local next_thread = 0
local path, body, headers

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
end

function init(args)
  args_prefix = args[1] or "k"
  path = args[2]
  body = io.open(args[3]):read("*a")
  headers = {["Content-Type"] = "application/json"}
  local token = os.getenv("SEAWALL_WRK_TOKEN")  -- not on the command line, where `ps` shows it
  if token ~= nil and token ~= "" then headers["Authorization"] = "Bearer " .. token end
end

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = args_prefix .. "-" .. thread_number .. "-" .. counter
  return wrk.format("POST", path, headers, body)
end

-- `latency(i)` returns the i-th nonzero bucket (value in µs, count); each call scans the bucket
-- array, so a very wide spread falls back to 2,000 percentile points (counts spread evenly).
function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("SEAWALL_WRK_REPORT"), "w"))
  local e = summary.errors
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, ', summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout))
  local buckets = #latency
  local span = latency.max - latency.min + 1
  if buckets * span <= 3e9 then
    out:write('"buckets": [')
    for i = 1, buckets do
      local value, count = latency(i)
      if i > 1 then out:write(",") end
      out:write(string.format("[%d,%d]", value, count))
    end
    out:write('], "points": []}')
  else
    out:write('"buckets": [], "points": [')
    for i = 1, 2000 do
      if i > 1 then out:write(",") end
      out:write(string.format("%d", latency:percentile(i / 20)))
    end
    out:write(']}')
  end
  out:close()
end
"""


def _histogram_from_report(report: dict[str, Any]) -> HdrHistogram:
    histogram = new_histogram()
    for value, count in report["buckets"]:
        histogram.record_value(max(1, min(int(value), LATENCY_MAX_US)), int(count))
    points = report["points"]
    if points:
        share = max(1, round(report["requests"] / len(points)))
        for value in points:
            histogram.record_value(max(1, min(int(value), LATENCY_MAX_US)), share)
    return histogram


def run_wrk(target: PostTarget, *, connections: int, seconds: float, threads: int = 2,
            prefix: str | None = None) -> LoadResult:
    """One wrk pass against `target` (closed loop, `connections` keep-alive connections)."""
    executable = wrk_path()
    if executable is None:
        raise RuntimeError("wrk is not on PATH")
    prefix = prefix or secrets.token_hex(6)
    path = target.url.partition("//")[2].partition("/")[2]
    base_url = target.url[: len(target.url) - len(path) - 1]
    with tempfile.TemporaryDirectory(prefix="seawall-wrk-") as directory:
        script, body, report_path = Path(directory, "post.lua"), Path(directory, "body.json"), Path(directory, "out")
        script.write_text(WRK_SCRIPT)
        body.write_text(target.body)
        duration = max(1, round(seconds))
        command = [executable, f"-t{max(1, min(threads, connections))}", f"-c{connections}", f"-d{duration}s",
                   "--timeout", "30s", "-s", str(script), base_url, "--", prefix, "/" + path, str(body)]
        env = {**os.environ, "SEAWALL_WRK_REPORT": str(report_path), "SEAWALL_WRK_TOKEN": target.token or ""}
        children_before = os.times()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 120)
        children_after = os.times()
        if completed.returncode != 0 or not report_path.exists():
            output = completed.stderr[-2000:] + completed.stdout[-2000:]
            raise RuntimeError(f"wrk failed ({completed.returncode}): {output}")
        report = json.loads(report_path.read_text())
    errors = report["errors"]
    return LoadResult(
        generator="wrk", requests=int(report["requests"]), non_2xx=int(errors["status"]),
        errors=int(errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]),
        seconds=report["duration_us"] / 1e6, histogram=_histogram_from_report(report), connections=connections,
        client_cpu_seconds=(children_after.children_user + children_after.children_system
                            - children_before.children_user - children_before.children_system),
    )
