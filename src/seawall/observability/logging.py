"""Structured logs: every line of the process — structlog's and the stdlib's (uvicorn, Alembic, asyncio,
httpx, `warnings`) — goes through one processor chain to one handler on the root logger, and comes out
on stderr as one JSON object per line (or structlog's console format, `SEAWALL_LOG_FORMAT=console`).

The chain, in order:
- the bound contextvars (`request_id`, `client_ip`, a job's fields), `level`, `logger`, the current
  OpenTelemetry span's `trace_id`/`span_id` when one is recording (`add_trace_context`), `timestamp`
  (ISO 8601, UTC);
- `exc_info` formatted to an `exception` string, then secrets scrubbed (`observability.redaction`,
  after the traceback is text), the client address kept, hashed or dropped (`SEAWALL_LOG_CLIENT`),
  then the renderer.

Stdlib records take it through the handler's `structlog.stdlib.ProcessorFormatter` (the first part as
its `foreign_pre_chain`). structlog's own events run the same processors on the calling side and are
written by the same handler (its stream, under its lock) without becoming `LogRecord`s first: two
record copies and a stack walk per line are what the access log would otherwise cost every request.

`configure_logging` may run more than once in a process (the CLI, then uvicorn's app factory; tests):
each call replaces the handler the previous one installed and leaves other handlers alone.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
from typing import Literal, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from seawall.observability.redaction import redact_secrets

LogFormat = Literal["json", "console"]
ClientAddresses = Literal["full", "hashed", "none"]
CLIENT_KEYS = ("client_ip",)  # the names under which a line carries a client's address
# Libraries whose INFO lines repeat ours and carry what should not be logged (httpx: each outgoing
# request's full URL, e.g. a webhook endpoint's URL with a token in its path); quiet unless DEBUG.
QUIET_LIBRARIES = ("httpx", "httpcore")


class _SeawallHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler `configure_logging` installs (its class marks it for replacement)."""


class HandlerWriter:
    """structlog's output end: writes each rendered line through `handler` (its stream, under its lock).
    `name` is the logger's name (`structlog.get_logger(name)`), for the `logger` field."""

    def __init__(self, handler: logging.StreamHandler, name: str) -> None:  # type: ignore[type-arg]
        self.handler = handler
        self.name = name

    def msg(self, message: str) -> None:
        """Write one line. A stream that cannot take it (closed, a broken pipe) loses the line, as the
        stdlib's handlers do: a log line is never worth failing the request or job that wrote it."""
        handler = self.handler
        handler.acquire()
        try:
            handler.stream.write(message + "\n")
            handler.stream.flush()
        except (OSError, ValueError):
            pass
        finally:
            handler.release()

    debug = info = warning = warn = error = critical = exception = fatal = msg


def add_trace_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """`trace_id` (32 hex) and `span_id` (16 hex) of the current OpenTelemetry span, when it is valid
    (with no SDK configured it never is: one contextvar read). Values bound explicitly win."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def client_address_processor(mode: ClientAddresses, key: bytes) -> Processor | None:
    """The processor applying `SEAWALL_LOG_CLIENT` to `CLIENT_KEYS`: None for `full` (nothing to do),
    drop them for `none`, and for `hashed` replace each by the first 16 hex digits of
    HMAC-SHA256(key, address) — stable across processes and restarts sharing the key, so one client's
    lines still group together, and not reversible by hashing the 2^32 IPv4 addresses without the key."""
    if mode == "full":
        return None
    if mode == "none":
        def drop(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
            for name in CLIENT_KEYS:
                event_dict.pop(name, None)
            return event_dict
        return drop
    if not key:
        raise ValueError("hashed client addresses need a key")

    def hashed(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        for name in CLIENT_KEYS:
            address = event_dict.get(name)
            if isinstance(address, str):
                event_dict[name] = hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:16]
        return event_dict
    return hashed


def client_hash_key(secret_key: bytes) -> bytes:
    """The key for hashed client addresses, derived from the server's secret key (never the key itself:
    other uses of it, e.g. the rate limiter's, must not produce the same digests)."""
    return hmac.new(secret_key, b"seawall.logs.client_address", hashlib.sha256).digest()


def renderer_for(log_format: LogFormat, stream: TextIO) -> Processor:
    if log_format == "console":
        colors = bool(getattr(stream, "isatty", lambda: False)())
        return structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)
    return structlog.processors.JSONRenderer()


def configure_logging(*, level: str = "INFO", log_format: LogFormat = "json",
                      client_addresses: ClientAddresses = "full", client_key: bytes = b"",
                      stream: TextIO | None = None) -> None:
    """Route every log line of the process through the one chain (module docstring) to `stream`
    (stderr by default). `level` is a stdlib level name; `client_key` is required for `hashed`."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    output = stream if stream is not None else sys.stderr
    calling_side: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_trace_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    client = client_address_processor(client_addresses, client_key)
    rendering: list[Processor] = [
        structlog.processors.format_exc_info,
        redact_secrets,
        *([client] if client is not None else []),
        renderer_for(log_format, output),
    ]
    handler = _SeawallHandler(output)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=calling_side, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                                                    *rendering]))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _SeawallHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)  # `warnings.warn` lines too, as `py.warnings` records
    structlog.configure(
        processors=[*calling_side, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: HandlerWriter(handler, str(args[0]) if args else ""),
        cache_logger_on_first_use=False,
    )
