"""Sending one webhook attempt: a POST to the checked address, under a timeout and a per-host bulkhead.

- The connection goes to the IP address the SSRF guard checked (`WebhookTarget.address`), never to
  a fresh DNS answer: the network backend refuses any connection the guard did not pin. Host
  header, TLS SNI and certificate checks use the URL's host name. Connections are pooled per
  (scheme, host name, port), so a reused connection is one made to an address checked earlier.
- Every attempt is bounded by `timeout_seconds` in total (`connect_timeout_seconds` to connect);
  no redirects are followed, no proxy is used, at most `MAX_RESPONSE_BYTES` of the answer is read.
- A per-host bulkhead (`max_concurrent_per_host`) refuses, before sending, an attempt to a host that
  already has that many in flight (`BulkheadFullError`): one slow receiver cannot hold every worker.

There is no circuit breaker: a failing receiver is handled by the retry schedule, the per-endpoint
slow-down and automatic disabling (see `schedule.py`), which count its failures instead of hiding
them.

Each attempt is reported as one call of the provider `webhooks` (`resilience.telemetry`: one
`provider webhooks` span, `seawall_provider_calls_total{provider="webhooks", outcome}`), never per
endpoint or host (label cardinality): success for a 2xx, timeout when no answer came in time (read or
total timeout), error for any other answer or failure, rejected when the host's bulkhead is full.

Built on httpcore (httpx's transport) directly because httpx offers no hook to pin the address a
connection is made to.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

import httpcore
from opentelemetry.trace import Tracer

from seawall import __version__
from seawall.providers.errors import parse_retry_after
from seawall.resilience import Bulkhead, BulkheadFullError, ProviderTelemetry
from seawall.resilience.telemetry import ERROR, SUCCESS, TIMEOUT
from seawall.webhooks.ssrf import WebhookTarget

MAX_RESPONSE_BYTES = 2048
MAX_ERROR_CHARS = 300
PROVIDER = "webhooks"  # the provider label and span name of every attempt
USER_AGENT = f"Seawall-Webhooks/{__version__}"

# (host, port, address) of the attempt running in this task: the only connection it may open.
_pinned: ContextVar[tuple[str, int, str] | None] = ContextVar("seawall_webhook_pinned_address", default=None)


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects to the pinned, checked address instead of resolving the host name again."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        pinned = _pinned.get()
        if pinned is None or (pinned[0], pinned[1]) != (host, port):
            raise httpcore.ConnectError(f"refusing to connect to {host}:{port}: not checked by the SSRF guard")
        return await self._inner.connect_tcp(pinned[2], port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never go to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt got: an HTTP status, or no answer (`status_code` None) and why (`error`;
    `failure_type` names the failure, `timed_out` says it was a read or total timeout)."""

    status_code: int | None
    error: str | None = None
    retry_after: float | None = None
    duration_seconds: float = 0.0
    failure_type: str | None = None
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _printable(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()[:MAX_ERROR_CHARS]


class WebhookSender:
    def __init__(self, *, connect_timeout_seconds: float, timeout_seconds: float, max_concurrent_per_host: int,
                 ssl_context: ssl.SSLContext | None = None, max_connections: int = 100,
                 tracer: Tracer | None = None) -> None:
        self.telemetry = ProviderTelemetry(PROVIDER, tracer=tracer)
        self.connect_timeout_seconds = connect_timeout_seconds
        self.timeout_seconds = timeout_seconds
        self.max_concurrent_per_host = max_concurrent_per_host
        self._bulkheads: dict[str, Bulkhead] = {}
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=max_connections, keepalive_expiry=30.0,
            network_backend=PinnedNetworkBackend(),
        )

    def in_flight(self, host: str) -> int:
        bulkhead = self._bulkheads.get(host)
        return bulkhead.in_flight if bulkhead is not None else 0

    async def post(self, target: WebhookTarget, *, headers: dict[str, str], body: bytes) -> AttemptResult:
        """One POST; answers with what came back. Raises `BulkheadFullError` (nothing was sent)."""
        telemetry = self.telemetry
        with telemetry.span("send") as span:
            bulkhead = self._bulkheads.setdefault(target.host, Bulkhead(f"webhooks:{target.host}",
                                                                        self.max_concurrent_per_host))
            try:
                bulkhead.acquire()
            except BulkheadFullError as exc:
                telemetry.rejected(span, exc, by="bulkhead")
                raise
            telemetry.slot_taken()
            started = time.monotonic()
            try:
                result = await self._post(target, headers=headers, body=body)
            except Exception as exc:
                telemetry.finished(span, ERROR, time.monotonic() - started, error=exc)
                raise
            except BaseException:
                telemetry.cancelled(span)
                raise
            finally:
                bulkhead.release()
                telemetry.slot_released()
                if bulkhead.in_flight == 0:
                    self._bulkheads.pop(target.host, None)
            outcome = SUCCESS if result.succeeded else TIMEOUT if result.timed_out else ERROR
            failure_type = None if result.succeeded else result.failure_type or f"HTTP {result.status_code}"
            telemetry.finished(span, outcome, result.duration_seconds, error_type=failure_type)
            return result

    async def _post(self, target: WebhookTarget, *, headers: dict[str, str], body: bytes) -> AttemptResult:
        url = httpcore.URL(scheme=target.scheme.encode(), host=target.host.encode(), port=target.port,
                           target=target.target.encode() or b"/")
        wire_headers = [
            (b"Host", target.host_header.encode()),
            (b"User-Agent", USER_AGENT.encode()),
            (b"Content-Type", b"application/json"),
            *((name.encode(), value.encode()) for name, value in headers.items()),
        ]
        timeouts = {"connect": self.connect_timeout_seconds, "read": self.timeout_seconds,
                    "write": self.timeout_seconds, "pool": self.timeout_seconds}
        token = _pinned.set((target.host, target.port, target.address))
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                async with self._pool.stream("POST", url, headers=wire_headers, content=body,
                                             extensions={"timeout": timeouts}) as response:
                    snippet = b""
                    async for chunk in response.aiter_stream():
                        snippet += chunk
                        if len(snippet) >= MAX_RESPONSE_BYTES:
                            break
        except TimeoutError as exc:
            return AttemptResult(None, f"no answer within {self.timeout_seconds:g}s",
                                 duration_seconds=time.monotonic() - started, failure_type=type(exc).__name__,
                                 timed_out=True)
        except httpcore.TimeoutException as exc:
            return AttemptResult(None, f"timed out ({type(exc).__name__})", duration_seconds=time.monotonic() - started,
                                 failure_type=type(exc).__name__,
                                 timed_out=not isinstance(exc, httpcore.ConnectTimeout | httpcore.PoolTimeout))
        except httpcore.ConnectError as exc:
            return AttemptResult(None, f"could not connect: {_printable(str(exc).encode())}",
                                 duration_seconds=time.monotonic() - started, failure_type=type(exc).__name__)
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            return AttemptResult(None, f"no complete answer ({type(exc).__name__})",
                                 duration_seconds=time.monotonic() - started, failure_type=type(exc).__name__)
        finally:
            _pinned.reset(token)
        duration = time.monotonic() - started
        status = response.status
        response_headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers}
        retry_after = parse_retry_after(response_headers.get("retry-after"))
        if 200 <= status < 300:
            return AttemptResult(status, None, retry_after, duration)
        detail = _printable(snippet[:MAX_RESPONSE_BYTES])
        error = f"HTTP {status}" + (f": {detail}" if detail else "")
        return AttemptResult(status, error, retry_after, duration)

    async def aclose(self) -> None:
        await self._pool.aclose()
