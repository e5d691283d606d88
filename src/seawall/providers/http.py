"""What the HTTP provider adapters (Stripe, Twilio-style SMS) share.

Every call is bounded three ways: a connect timeout, a read timeout, and a total deadline
(`asyncio.timeout`) across the whole exchange. A transport failure becomes the error tree
(`translate_transport_error`), raised outside the `except` so the httpx error (and the request
headers it holds, credentials included) is never chained. The httpx client is the adapter's own,
closed with it, unless one is lent (tests, a shared pool).
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any, Self

import httpx

from seawall.providers.errors import ProviderError, translate_transport_error


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
        """One request within the deadline: the response, and its JSON body (None if it has none)."""
        failure: ProviderError | None = None
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._client.request(method, url, timeout=self._timeout, **request)
        except (httpx.RequestError, TimeoutError) as exc:
            failure = translate_transport_error(exc, provider=self.name)
        if failure is not None:
            raise failure
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        return response, body
