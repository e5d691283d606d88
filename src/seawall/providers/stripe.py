"""`PaymentProvider` over Stripe's HTTP API (and the sandbox, which speaks the same subset).

Wire format: form-encoded bodies with Stripe's bracket syntax (`metadata[seawall_payment_id]=...`),
`Authorization: Bearer sk_...`, `Idempotency-Key` on every POST, a pinned `Stripe-Version`.
Every call is bounded three ways: a connect timeout, a read timeout, and a total deadline
(`asyncio.timeout`) across the whole exchange. Nothing is retried here: the caller's retry policy
decides, using the error's `outcome` and `retry_after` (see `seawall.providers.errors`).

Answers are not trusted: a 2xx body must validate as the Stripe object asked for
(`stripe_objects.py`: strict types, documented statuses) and must answer *this* request (the
intent's amount, currency and payment id; the id retrieved; the search's payment id; the refund's
intent and amount), else the call raises `ProviderUnavailableError(outcome="unknown")`.

Stripe's search is eventually consistent (Stripe documents up to a minute before a new intent is
searchable), so `find_payment_intent` returning None soon after an unknown outcome does not prove
the intent absent; the sandbox is immediately consistent. `find_refund` reads a list endpoint
instead (`GET /v1/refunds?payment_intent=`, newest first, pages of up to 100 chained by
`starting_after` while `has_more`), which Stripe serves from its records, not a search index.

Written on httpx rather than Stripe's SDK: four calls do not justify the SDK's global
configuration and its own retry loop, which would hide the outcome classification Seawall needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from seawall.providers.errors import (
    ProviderUnavailableError,
    translate_stripe_error,
)
from seawall.providers.http import HttpProvider
from seawall.providers.payments import (
    SEAWALL_PAYMENT_ID_KEY,
    SEAWALL_REFUND_ID_KEY,
    PaymentIntentResult,
    RefundResult,
)
from seawall.providers.stripe_objects import parse_intent, parse_intent_search, parse_refund, parse_refund_list

STRIPE_API_BASE = "https://api.stripe.com"
STRIPE_API_VERSION = "2024-06-20"
FORM = "application/x-www-form-urlencoded"
LIST_PAGE_SIZE = 100  # Stripe's largest `limit`
MAX_LIST_PAGES = 50  # 5,000 refunds of one intent; past that the lookup fails rather than guess
T = TypeVar("T")


class StripeProvider(HttpProvider):
    def __init__(
        self,
        *,
        api_key: str | SecretStr,
        api_base: str = STRIPE_API_BASE,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        deadline: float = 30.0,
        name: str = "stripe",
        api_version: str | None = STRIPE_API_VERSION,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(name=name, api_base=api_base, connect_timeout=connect_timeout, read_timeout=read_timeout,
                         deadline=deadline, http_client=http_client, transport=transport)
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self._api_version = api_version

    def __repr__(self) -> str:
        return f"StripeProvider(name={self.name!r}, api_base={self.api_base!r})"

    # ---- PaymentProvider ---------------------------------------------------------------------

    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
        description: str | None = None,
    ) -> PaymentIntentResult:
        form = [("amount", str(amount)), ("currency", currency.lower()), ("payment_method", payment_method),
                ("confirm", "true"), *_metadata_pairs(metadata)]
        if description is not None:
            form.append(("description", description))
        body, replayed = await self._request("POST", "/v1/payment_intents", form=form,
                                             idempotency_key=idempotency_key)
        intent = self._parse(_intent, body, replayed)
        self._require(intent.amount == amount and intent.currency == currency.lower()
                      and intent.seawall_payment_id == metadata.get(SEAWALL_PAYMENT_ID_KEY),
                      f"the intent {intent.id} is not the one asked for (amount, currency or payment id differ)")
        return intent

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentIntentResult:
        body, replayed = await self._request("GET", f"/v1/payment_intents/{quote(intent_id, safe='')}")
        intent = self._parse(_intent, body, replayed)
        self._require(intent.id == intent_id, f"asked for the intent {intent_id}, got another one")
        return intent

    async def find_payment_intent(self, *, seawall_payment_id: str) -> PaymentIntentResult | None:
        query = f"metadata['{SEAWALL_PAYMENT_ID_KEY}']:'{_quoted(seawall_payment_id)}'"
        body, _ = await self._request("GET", "/v1/payment_intents/search", query={"query": query, "limit": "10"})
        intents = self._parse(lambda b, r: parse_intent_search(b), body, False)
        self._require(all(intent.seawall_payment_id == seawall_payment_id for intent in intents),
                      f"the search for payment {seawall_payment_id} answered intents of another payment")
        if not intents:
            return None
        return max(intents, key=lambda intent: (intent.succeeded, intent.created))

    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int | None,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> RefundResult:
        form = [("payment_intent", payment_intent_id), *_metadata_pairs(metadata)]
        if amount is not None:
            form.append(("amount", str(amount)))
        body, replayed = await self._request("POST", "/v1/refunds", form=form, idempotency_key=idempotency_key)
        refund = self._parse(_refund, body, replayed)
        self._require(refund.payment_intent_id in (None, payment_intent_id) and amount in (None, refund.amount),
                      f"the refund {refund.id} is not the one asked for (intent or amount differ)")
        return refund

    async def find_refund(self, *, payment_intent_id: str, seawall_refund_id: str) -> RefundResult | None:
        found: list[RefundResult] = []
        query = {"payment_intent": payment_intent_id, "limit": str(LIST_PAGE_SIZE)}
        for _page in range(MAX_LIST_PAGES):
            body, _ = await self._request("GET", "/v1/refunds", query=query)
            refunds, has_more = self._parse(lambda b, r: parse_refund_list(b), body, False)
            self._require(all(refund.payment_intent_id in (None, payment_intent_id) for refund in refunds),
                          f"the refund list of {payment_intent_id} holds refunds of another intent")
            found += [refund for refund in refunds if refund.metadata.get(SEAWALL_REFUND_ID_KEY) == seawall_refund_id]
            if not has_more or not refunds:
                return max(found, key=_refund_rank) if found else None
            query = {**query, "starting_after": refunds[-1].id}
        raise ProviderUnavailableError(
            f"{self.name}: intent {payment_intent_id} has more than {MAX_LIST_PAGES * LIST_PAGE_SIZE} refunds; "
            "the lookup is incomplete, outcome unknown", provider=self.name, outcome="unknown")

    # ---- the exchange ------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        form: list[tuple[str, str]] | None = None,
        query: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Any, bool]:
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}", "Accept": "application/json"}
        if self._api_version:
            headers["Stripe-Version"] = self._api_version
        if method == "POST":
            if not idempotency_key:
                raise ValueError("every POST to the payment provider needs an idempotency key")
            headers["Idempotency-Key"] = idempotency_key
            headers["Content-Type"] = FORM
        content = urlencode(form or []).encode() if method == "POST" else None
        response, body = await self._exchange(method, f"{self.api_base}{path}", params=query, content=content,
                                              headers=headers)
        if not response.is_success:
            raise translate_stripe_error(status=response.status_code, headers=response.headers, body=body,
                                         provider=self.name, redact=[self._api_key.get_secret_value()])
        if body is None:
            raise self._unreadable(response.status_code)
        return body, response.headers.get("idempotent-replayed") == "true"

    def _parse(self, parser: Callable[[Any, bool], T], body: Any, replayed: bool) -> T:
        try:
            return parser(body, replayed)
        except (KeyError, TypeError, ValueError):
            raise self._unreadable(200) from None

    def _require(self, condition: bool, problem: str) -> None:
        """An answer that validates but does not answer the request (a proxy's mix-up, a provider's
        bug) proves nothing about the request: an unknown outcome, like an unreadable one."""
        if not condition:
            raise ProviderUnavailableError(f"{self.name}: {problem}; outcome unknown", provider=self.name,
                                           outcome="unknown", http_status=200)

    def _unreadable(self, status: int) -> ProviderUnavailableError:
        return ProviderUnavailableError(f"{self.name}: HTTP {status} with an unreadable body; outcome unknown",
                                        provider=self.name, outcome="unknown", http_status=status)


def _metadata_pairs(metadata: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(f"metadata[{key}]", str(value)) for key, value in metadata.items()]


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _intent(body: Any, replayed: bool) -> PaymentIntentResult:
    return parse_intent(body, replayed)


def _refund(body: Any, replayed: bool) -> RefundResult:
    return parse_refund(body, replayed)


_REFUND_STATUS_RANK = {"succeeded": 2, "pending": 1, "requires_action": 1}


def _refund_rank(refund: RefundResult) -> tuple[int, datetime]:
    """A succeeded refund first, then one that may still succeed, then the newest."""
    return _REFUND_STATUS_RANK.get(refund.status, 0), refund.created
