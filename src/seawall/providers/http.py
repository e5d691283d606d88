"""What the HTTP provider adapters (Stripe, Twilio-style SMS) share.

Every call is bounded three ways: a connect timeout, a read timeout, and a total deadline
(`asyncio.timeout`) across the whole exchange. A transport failure becomes the error tree
(`translate_transport_error`), raised outside the `except` so the httpx error (and the request
headers it holds, credentials included) is never chained. At most `MAX_RESPONSE_BYTES` of an
answer is read; a longer one is an unknown outcome (the request may have been acted on). The httpx
client is the adapter's own, closed with it, unless one is lent (tests, a shared pool).
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any, Self

import httpx

from seawall.providers.errors import ProviderError, ProviderUnavailableError, translate_transport_error

# The largest provider answer read: a Stripe search page of 100 intents is ~300 kB; anything larger is
# not an answer Seawall asked for (and reading it whole would let a broken or hostile endpoint fill memory).
MAX_RESPONSE_BYTES = 1024 * 1024


class HttpProvider:
    def __init__(
        self,
        *,
        name: str,
        api_base: str,
        connect_timeout: float,
        read_timeout: float,
        deadline: float,
        http_client: httpx.AsyncClient | None,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        if min(connect_timeout, read_timeout, deadline) <= 0:
            raise ValueError("timeouts and the deadline must be positive")
        self.name = name
        self.api_base = api_base.rstrip("/")
        self._timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout,
                                      pool=connect_timeout)
        self._deadline = deadline
        self.max_response_bytes = MAX_RESPONSE_BYTES
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(transport=transport, timeout=self._timeout)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def _exchange(self, method: str, url: str, **request: Any) -> tuple[httpx.Response, Any]:
        """One request within the deadline: the response, and its JSON body (None if it has none, or it
        is not JSON). An answer longer than `max_response_bytes` is not read further: an unknown outcome."""
        failure: ProviderError | None = None
        try:
            async with asyncio.timeout(self._deadline):
                async with self._client.stream(method, url, timeout=self._timeout, **request) as response:
                    content = await self._read_bounded(response)
        except (httpx.RequestError, TimeoutError) as exc:
            failure = translate_transport_error(exc, provider=self.name)
        except AnswerTooLarge:
            failure = ProviderUnavailableError(
                f"{self.name}: HTTP {response.status_code} answer larger than {self.max_response_bytes} bytes; "
                "outcome unknown", provider=self.name, outcome="unknown", http_status=response.status_code)
        if failure is not None:
            raise failure
        try:
            body = json.loads(content) if content else None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            body = None
        return response, body

    async def _read_bounded(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise AnswerTooLarge
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > self.max_response_bytes:
                raise AnswerTooLarge
            chunks.append(chunk)
        return b"".join(chunks)


class AnswerTooLarge(Exception):
    """A provider's answer exceeded `HttpProvider.max_response_bytes` (internal to `_exchange`)."""
