"""A pytest plugin: every status the app answered during the run is declared in its OpenAPI schema.

`pytest_configure` (on the controller, before xdist starts workers) points
`SEAWALL_RECORD_RESPONSES_DIR` at a fresh directory unless it is already set; every app the tests
build, in process or as a `seawall` process (`tests.support.server`, the demo), then records what it
answers there (`seawall.web.response_record`). `pytest_sessionfinish` on the controller (or the one
process without xdist) reads every process's records and compares them with the schema:

- a (method, route, status) seen but not declared for that operation fails the run (exit status 1),
  listed in the terminal summary;
- a run of the whole suite (`pytest` with no paths, no `-k`/`-m`) that recorded nothing fails too,
  so the check cannot pass because recording broke;
- declared statuses never seen are listed, not failed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from seawall.web.response_record import SeenResponse, read_records
from tests.support.server import RECORD_VARIABLE

_OWNED_DIRECTORY = pytest.StashKey[Path]()
_REPORT = pytest.StashKey["CoverageReport"]()


@dataclass
class CoverageReport:
    """`undeclared`: seen, not declared (or no such operation). `unseen`: "METHOD path" -> declared
    statuses never seen. `required_but_empty`: a whole-suite run recorded nothing."""

    seen: set[SeenResponse]
    undeclared: list[SeenResponse] = field(default_factory=list)
    unseen: dict[str, list[int]] = field(default_factory=dict)
    required_but_empty: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.undeclared) or self.required_but_empty


def compare(schema: Mapping[str, Any], seen: Iterable[SeenResponse], *, require_records: bool = False
            ) -> CoverageReport:
    """Compare recorded answers with an OpenAPI schema (a dict as `FastAPI.openapi()` returns it)."""
    report = CoverageReport(seen=set(seen), required_but_empty=require_records and not seen)
    paths: Mapping[str, Any] = schema.get("paths", {})
    for record in sorted(report.seen):
        operation = paths.get(record.path, {}).get(record.method.lower())
        if operation is None or str(record.status) not in operation.get("responses", {}):
            report.undeclared.append(record)
    if report.seen:
        statuses_seen: dict[tuple[str, str], set[int]] = {}
        for record in report.seen:
            statuses_seen.setdefault((record.method, record.path), set()).add(record.status)
        for path, operations in paths.items():
            for method, operation in operations.items():
                declared = {int(code) for code in operation.get("responses", {}) if code.isdigit()}
                missing = sorted(declared - statuses_seen.get((method.upper(), path), set()))
                if missing:
                    report.unseen[f"{method.upper()} {path}"] = missing
    return report


def format_report(report: CoverageReport) -> list[str]:
    lines: list[str] = []
    if report.required_but_empty:
        lines.append(f"FAILED: the whole suite ran but no app recorded any answer (is {RECORD_VARIABLE} "
                     "reaching the apps?)")
    if report.undeclared:
        lines.append("FAILED: answers not declared in the OpenAPI schema (add them to the route's responses=):")
        lines += [f"  {r.method} {r.path} -> {r.status}" for r in report.undeclared]
    if report.unseen:
        lines.append("declared but never answered during this run (not a failure):")
        lines += [f"  {operation}: {', '.join(map(str, codes))}" for operation, codes in sorted(report.unseen.items())]
    return lines


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _whole_suite(config: pytest.Config) -> bool:
    """The default run of every test (`make test`): no paths, no selection, not only collecting."""
    option = config.option
    return (config.args_source == pytest.Config.ArgsSource.TESTPATHS
            and not option.keyword and not option.markexpr and not option.collectonly
            and not getattr(option, "lf", False) and not getattr(option, "failedfirst", False)
            and not getattr(option, "stepwise", False) and not getattr(option, "deselect", None))


def _application_schema(directory: Path) -> dict[str, Any]:
    from seawall.app import create_app
    from seawall.config import Settings

    # with an operator key, as the suite's apps run: the admin routes are mounted only then
    settings = Settings(var_dir=directory / "schema-var", admin_api_key="schema-only")  # type: ignore[arg-type]
    return create_app(settings, run_worker=False).openapi()


def pytest_configure(config: pytest.Config) -> None:
    if _is_controller(config) and not os.environ.get(RECORD_VARIABLE):
        directory = Path(tempfile.mkdtemp(prefix="seawall-responses-"))
        os.environ[RECORD_VARIABLE] = str(directory)
        config.stash[_OWNED_DIRECTORY] = directory


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not _is_controller(config) or not os.environ.get(RECORD_VARIABLE):
        return
    directory = Path(os.environ[RECORD_VARIABLE])
    if exitstatus == pytest.ExitCode.INTERRUPTED or config.option.collectonly:
        return
    report = compare(_application_schema(directory), read_records(directory),
                     require_records=_whole_suite(config) and session.testscollected > 0)
    config.stash[_REPORT] = report
    if report.failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(_REPORT, None)
    if report is not None and (report.seen or report.failed):
        terminalreporter.section("OpenAPI schema against the answers seen")
        for line in format_report(report):
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    directory = config.stash.get(_OWNED_DIRECTORY, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(RECORD_VARIABLE, None)
