"""The streaming reverse proxy to the legacy upstream: one ASGI request in, one upstream exchange out.

`LegacyProxy.forward(scope, receive, send, ...)` streams both ways with httpx and never holds a body:
the request body is read from ASGI `receive` as an async iterator (`Content-Length` kept, else
chunked), the answer is sent on as it arrives (`client.send(stream=True)` + `aiter_raw`: bytes as the
upstream encoded them). Headers: `legacy.headers`. The target is `Upstream.target(raw_path, query)`,
the only way a URL is built (nothing in the request can change the host). Redirects are never
followed (`follow_redirects=False`); a `Location` on the upstream's own base is rewritten onto the
public origin. The client keeps no cookies (`_NoCookies`), reads no proxy variables (`trust_env=False`)
and adds no default headers (requests are built as `httpx.Request`, not `client.build_request`).

Resilience: the exchange up to the answer's head runs inside `policy.call` (total timeout →
bulkhead → breaker); an upstream 5xx is passed to the client unchanged but counts as a failure. The
answer's body then streams under the rest of `SEAWALL_LEGACY_TOTAL_TIMEOUT_SECONDS`, measured from the
start. Errors, in the one shape (`web.errors`), only while nothing of the answer has been sent:

    upstream refused / reset / broke the protocol      502 bad_gateway
    connect or read timeout, total deadline             504 gateway_timeout
    breaker open, bulkhead full, pool full              503 upstream_unavailable + Retry-After (≥ 1 s)
    request body over SEAWALL_LEGACY_MAX_BODY_BYTES     413 payload_too_large (by Content-Length:
                                                        before connecting; streamed: the upstream
                                                        request is aborted)

Once the answer has started, a failure aborts the client's connection (the ASGI call returns with the
answer incomplete, so the server closes it): an error body is never appended to a partial answer.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import httpx
import structlog
from starlette.types import Receive, Scope, Send

from seawall.config import Settings
from seawall.legacy.headers import Header, Network, client_host, request_headers, response_headers
from seawall.legacy.upstream import Upstream, parse_upstream
from seawall.ratelimit.limits import parse_networks
from seawall.redis_link import RedisLink
from seawall.resilience import ProviderPolicy, SharedBreakerState
from seawall.resilience.bulkhead import Bulkhead
from seawall.resilience.errors import CallRejectedError
from seawall.resilience.policy import CallOutcome, policy_from_settings
from seawall.web.errors import error_response
from seawall.web.security_headers import FORWARDED_ANSWER

log = structlog.get_logger("seawall.legacy.proxy")
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class _NoCookies(http.cookiejar.CookiePolicy):
    """The shared client must never keep (or send) one user's cookies for another."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = False

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: object) -> bool:
        return False

    def path_return_ok(self, path: str, request: object) -> bool:
        return False


class UpstreamServerError(Exception):
    """The upstream answered 5xx: passed on to the client, counted as a failure by the breaker."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"upstream answered {response.status_code}")
        self.response = response


class RequestBodyTooLarge(Exception):
    """The client's body went over the limit while it streamed."""


class ClientGone(Exception):
    """The client disconnected before its request body was read."""


def classify(exc: BaseException) -> CallOutcome:
    """What counts against the upstream: its errors, timeouts and 5xx; not the client's (a body over
    the limit, a client gone)."""
    if isinstance(exc, RequestBodyTooLarge | ClientGone):
        return CallOutcome.SUCCESS
    return CallOutcome.FAILURE


@dataclass
class Exchange:
    """What one forwarded request came to (for the shadow comparison and the caller's log)."""

    status: int = 0  # 0: no answer from the upstream (an error answer was sent instead)
    headers: list[Header] = field(default_factory=list)
    request_body: bytes | None = None  # captured up to `capture_bytes`; None: larger, or not captured
    response_body: bytes | None = None
    seconds: float = 0.0  # the upstream's answer time, head to last byte
    completed: bool = False  # the upstream's whole answer reached the client


class _Capture:
    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.parts: list[bytes] | None = [] if limit is not None else None
        self.size = 0

    def add(self, chunk: bytes) -> None:
        if self.parts is None or self.limit is None:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.parts = None
        else:
            self.parts.append(chunk)

    def value(self) -> bytes | None:
        return None if self.parts is None else b"".join(self.parts)


def _retry_after(exc: CallRejectedError) -> str:
    return str(max(1, math.ceil(exc.retry_after or 1.0)))


class LegacyProxy:
    """`upstream` (the fixed target), `client` (httpx, pooled, never follows redirects), `policy`
    (timeouts, breaker, bulkhead: `policy_from_settings("legacy", ...)`)."""

    def __init__(self, upstream: Upstream, client: httpx.AsyncClient, policy: ProviderPolicy, *,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, trusted_proxies: Sequence[Network] = (),
                 total_timeout_seconds: float = 120.0) -> None:
        self.upstream = upstream
        self.client = client
        hooks = client.event_hooks
        client.event_hooks = {**hooks, "response": [*hooks.get("response", []), _hide_location]}
        self.policy = policy
        self.max_body_bytes = max_body_bytes
        self.trusted_proxies = tuple(trusted_proxies)
        self.total_timeout_seconds = total_timeout_seconds

    @classmethod
    def build(cls, settings: Settings, *, redis: RedisLink | None) -> LegacyProxy:
        assert settings.legacy_upstream is not None
        policy = policy_from_settings("legacy", settings, total_timeout_seconds=settings.legacy_total_timeout_seconds)
        policy.bulkhead = Bulkhead("legacy", settings.legacy_max_concurrent_requests)
        if redis is not None:
            policy.shared = SharedBreakerState(redis)
        read = settings.legacy_read_timeout_seconds
        client = httpx.AsyncClient(
            follow_redirects=False, trust_env=False, cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            timeout=httpx.Timeout(connect=settings.legacy_connect_timeout_seconds, read=read, write=read, pool=read),
            limits=httpx.Limits(max_connections=settings.legacy_max_connections,
                                max_keepalive_connections=settings.legacy_max_keepalive_connections),
        )
        return cls(parse_upstream(settings.legacy_upstream), client, policy,
                   max_body_bytes=settings.legacy_max_body_bytes,
                   trusted_proxies=parse_networks(settings.rate_limit_trusted_proxies),
                   total_timeout_seconds=settings.legacy_total_timeout_seconds)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def forward(self, scope: Scope, receive: Receive, send: Send, *, request_id: str,
                      reserved_headers: frozenset[bytes] = frozenset(), identity: Sequence[Header] = (),
                      capture_bytes: int | None = None) -> Exchange:
        """Forward the HTTP request in `scope` and stream the answer to `send` (module docstring).
        `capture_bytes`: also keep up to that many bytes of each body in the `Exchange` (shadow)."""
        exchange = Exchange()
        headers: list[Header] = list(scope.get("headers", []))
        length = _content_length(headers)
        if length is not None and length > self.max_body_bytes:
            await self._refuse(scope, receive, send, 413, "payload_too_large",
                               f"the request body is larger than {self.max_body_bytes} bytes")
            return exchange
        has_body = length is not None and length > 0 or any(n.lower() == b"transfer-encoding" for n, _ in headers)
        request_capture, response_capture = _Capture(capture_bytes), _Capture(capture_bytes)
        peer = scope["client"][0] if scope.get("client") else None
        request = httpx.Request(
            scope["method"], self.upstream.target(scope.get("raw_path") or scope["path"].encode("utf-8"),
                                                  scope.get("query_string", b"")),
            headers=request_headers(headers, upstream=self.upstream, scheme=scope.get("scheme", "http"), peer=peer,
                                    trusted=self.trusted_proxies, request_id=request_id,
                                    reserved=reserved_headers, identity=identity),
            content=self._body(receive, request_capture) if has_body else None,
        )
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + self.total_timeout_seconds

        async def exchange_head() -> httpx.Response:
            response = await self.client.send(request, stream=True)
            if response.status_code >= 500:
                raise UpstreamServerError(response)
            return response

        try:
            response = await self.policy.call(exchange_head, classify=classify, action="forward")
        except UpstreamServerError as exc:
            response = exc.response
        except CallRejectedError as exc:
            await self._refuse(scope, receive, send, 503, "upstream_unavailable",
                               "the legacy upstream is unavailable; retry shortly", {"Retry-After": _retry_after(exc)})
            return exchange
        except RequestBodyTooLarge:
            await self._refuse(scope, receive, send, 413, "payload_too_large",
                               f"the request body is larger than {self.max_body_bytes} bytes")
            return exchange
        except ClientGone:
            return exchange
        except httpx.PoolTimeout:
            await self._refuse(scope, receive, send, 503, "upstream_unavailable",
                               "no connection to the legacy upstream is free; retry shortly", {"Retry-After": "1"})
            return exchange
        except (httpx.TimeoutException, TimeoutError):
            log.warning("legacy.upstream_timeout", target=self.upstream.base)
            await self._refuse(scope, receive, send, 504, "gateway_timeout",
                               "the legacy upstream did not answer in time")
            return exchange
        except httpx.HTTPError as exc:
            log.warning("legacy.upstream_error", target=self.upstream.base, error=type(exc).__name__)
            await self._refuse(scope, receive, send, 502, "bad_gateway", "the legacy upstream could not be reached")
            return exchange
        exchange.request_body = request_capture.value()
        await self._answer(scope, receive, send, response, exchange, response_capture, deadline)
        exchange.seconds = time.monotonic() - started
        return exchange

    async def _answer(self, scope: Scope, receive: Receive, send: Send, response: httpx.Response,
                      exchange: Exchange, capture: _Capture, deadline: float) -> None:
        exchange.status = response.status_code
        exchange.headers = response_headers(response.extensions.get(ANSWER_HEADERS, response.headers.raw),
                                            upstream=self.upstream, public_origin=_public_origin(scope))
        gone = asyncio.Event()  # the server drops `send` after a disconnect: stop reading the upstream then
        watcher = asyncio.create_task(_watch_disconnect(receive, gone), name="seawall-legacy-disconnect")
        try:
            scope[FORWARDED_ANSWER] = True  # legacy's answer: its headers, not Seawall's security headers
            await send({"type": "http.response.start", "status": response.status_code, "headers": exchange.headers})
            async with asyncio.timeout_at(deadline):
                async for chunk in response.aiter_raw():
                    if gone.is_set():
                        log.info("legacy.client_gone", status=response.status_code)
                        return
                    capture.add(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            # Started: abort the connection (return with the answer incomplete), never append an error.
            log.warning("legacy.answer_aborted", target=self.upstream.base, error=type(exc).__name__,
                        status=response.status_code)
            return
        finally:
            watcher.cancel()
            await response.aclose()
        exchange.response_body = capture.value()
        exchange.completed = True

    async def _body(self, receive: Receive, capture: _Capture) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                raise RequestBodyTooLarge()
            if chunk:
                capture.add(chunk)
                yield chunk
            if not message.get("more_body", False):
                return

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, error_type: str, message: str,
                      headers: dict[str, str] | None = None) -> None:
        await error_response(status, error_type, message, headers=headers)(scope, receive, send)


ANSWER_HEADERS = "seawall.answer_headers"  # in a response's extensions: its raw headers, Location included


async def _hide_location(response: httpx.Response) -> None:
    """httpx builds the next request of every 3xx with a Location, even when it follows none, and raises
    `InvalidURL` for one it cannot build (`mailto:x`, `http:\\\\host`), losing legacy's answer. This response
    hook keeps the raw headers aside (`ANSWER_HEADERS`) and hides `Location` from httpx: a redirect is passed
    to the client whatever its Location says (`headers.response_headers` rewrites it)."""
    if "location" in response.headers:
        response.extensions[ANSWER_HEADERS] = list(response.headers.raw)
        del response.headers["location"]


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    """Set `gone` when the client disconnects (what is left of a request body is dropped)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


def _content_length(headers: Sequence[Header]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _public_origin(scope: Scope) -> str | None:
    """`scheme://host` the client used (its Host header, when `valid_host`), for rewriting an upstream
    `Location`; None otherwise (the Location becomes origin-relative: `headers.response_headers`)."""
    host = client_host(scope.get("headers", []))
    return f"{scope.get('scheme', 'http')}://{host}" if host is not None else None
