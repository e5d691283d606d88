"""A pytest plugin: the request budget of the schema fuzzing run and its report.

- `--fuzz-requests=N` (or `SEAWALL_FUZZ_REQUESTS=N`; the option wins) sets how many generated requests
  the whole fuzzing run sends at least, shared between the backends it runs on. The default, 1,000, is
  the CI-sized run inside `make test`; a long run is e.g. `--fuzz-requests=20000`.
- `SEAWALL_FUZZ_BACKENDS` (comma-separated, default `postgres`) names the backends the fuzzing runs
  on: CI fuzzes PostgreSQL, the stricter store (no NUL in text, typed columns); `sqlite,postgres` adds the
  embedded file, e.g. for a long run.
- A test marked `fuzzing` sends those requests: its timeout (pytest-timeout) grows with them, by
  `SECONDS_PER_REQUEST` on top of the suite's default.
- Each fuzzing test records what it sent as the user property `fuzz_requests` ("backend: N requests in
  S s"); the terminal summary lists them, on the controller too when xdist runs the tests.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

FUZZ_VARIABLE = "SEAWALL_FUZZ_REQUESTS"
CI_REQUESTS = 1_000
BACKENDS_VARIABLE = "SEAWALL_FUZZ_BACKENDS"
CI_BACKENDS = ("postgres",)
# Measured: 40-60 ms a request with both backends fuzzed at once on 2 loaded cores; 4x headroom.
SECONDS_PER_REQUEST = 0.2
REPORT_PROPERTY = "fuzz_requests"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-requests", type=int, default=None, metavar="N",
        help=f"generated requests the schema fuzzing run sends at least, over all backends "
             f"(default ${FUZZ_VARIABLE} or {CI_REQUESTS})")


def requested_total(config: pytest.Config) -> int:
    """The run's request budget: the option, else the variable, else the CI size. At least 1."""
    option = config.getoption("--fuzz-requests")
    total = option if option is not None else int(os.environ.get(FUZZ_VARIABLE) or CI_REQUESTS)
    if total < 1:
        raise pytest.UsageError(f"--fuzz-requests / {FUZZ_VARIABLE} must be at least 1, not {total}")
    return int(total)


def fuzz_backends() -> tuple[str, ...]:
    """The backends the fuzzing runs on: `SEAWALL_FUZZ_BACKENDS`, else the CI set."""
    names = tuple(name.strip() for name in os.environ.get(BACKENDS_VARIABLE, "").split(",") if name.strip())
    unknown = sorted(set(names) - {"sqlite", "postgres"})
    if unknown:
        raise pytest.UsageError(f"{BACKENDS_VARIABLE}: fuzzing runs on sqlite and postgres, not {', '.join(unknown)}")
    return names or CI_BACKENDS


class FuzzReport:
    """Collects the `fuzz_requests` properties of finished tests and prints them at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.lines += [f"{report.nodeid}: {value}" for name, value in report.user_properties
                           if name == REPORT_PROPERTY]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("schema fuzzing")
            for line in self.lines:
                terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzzing: sends the run's --fuzz-requests (its timeout grows with them)")
    config.pluginmanager.register(FuzzReport(), "seawall-fuzz-report")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    fuzzing = [item for item in items if item.get_closest_marker("fuzzing")]
    if fuzzing:
        base = float(config.getini("timeout") or 300)
        seconds = base + SECONDS_PER_REQUEST * requested_total(config)
        for item in fuzzing:
            item.add_marker(pytest.mark.timeout(seconds))
