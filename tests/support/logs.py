"""Everything Seawall logs while a block runs, as rendered text: structlog lines (every level, rendered
to JSON as in production, with the bound request id) and stdlib `logging` records. For tests that
assert what never appears in logs (secrets)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog


@dataclass
class CapturedLogs:
    structured: io.StringIO = field(default_factory=io.StringIO)
    records: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.structured.getvalue() + "\n".join(self.records)

    def events(self) -> list[str]:
        import json

        return [json.loads(line)["event"] for line in self.structured.getvalue().splitlines() if line.strip()]


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(self.format(record) + (f" {record.exc_text}" if record.exc_text else ""))


@contextmanager
def captured_logs() -> Iterator[CapturedLogs]:
    captured = CapturedLogs()
    previous = structlog.get_config()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer(default=repr)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(file=captured.structured),
        cache_logger_on_first_use=False,
    )
    handler = _Collect(captured.records)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        structlog.configure(**previous)
