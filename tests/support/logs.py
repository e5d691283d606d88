"""Everything Seawall logs while a block runs, rendered by the production chain (`configure_logging`:
the one handler, the redaction, JSON): structlog lines at every level of Seawall's own loggers (with the
bound request id) and stdlib records at INFO and above (uvicorn, Alembic, any library). For tests that
assert what a log line holds, or what never appears in one (secrets)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from seawall.observability.logging import ClientAddresses, configure_logging


@dataclass
class CapturedLogs:
    structured: io.StringIO = field(default_factory=io.StringIO)

    @property
    def text(self) -> str:
        return self.structured.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed (each must be one JSON object)."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def events(self) -> list[str]:
        return [line["event"] for line in self.lines()]


@contextmanager
def restored_logging() -> Iterator[None]:
    """Put the root logger's handlers and level and structlog's configuration back as they were."""
    previous = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)
        structlog.configure(**previous)


@contextmanager
def captured_logs(*, client_addresses: ClientAddresses = "full", client_key: bytes = b"") -> Iterator[CapturedLogs]:
    captured = CapturedLogs()
    with restored_logging():
        configure_logging(level="INFO", stream=captured.structured, client_addresses=client_addresses,
                          client_key=client_key)
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))  # all levels
        yield captured
