"""`SmsSender` over a Twilio-style HTTP API (Twilio's Messages resource, and the sandbox's fake).

Wire format: `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`,
`From`, `Body`, HTTP Basic auth `AccountSid:AuthToken`; the answer is the message resource as JSON
(`sid`, `status`, ...); errors are `{"code": 21211, "message": ..., "more_info": ..., "status": 400}`.

Each send carries an `Idempotency-Key` header (Seawall's notification id). The sandbox honours it:
a retry with the same key returns the first message (same `sid`, `Idempotent-Replayed: true`) and
sends nothing new. **Real Twilio has no such header**: it ignores it, so against Twilio a retry
after an unknown outcome may send the text twice; deduplication there is best-effort (retry only
what is `unknown`, and keep the retry count low).

Failures become `seawall.providers.errors`, like the Stripe adapter's:

    connect error / connect timeout / pool timeout   ProviderUnavailableError  not_processed
    429 (rate limited before anything was done)      ProviderUnavailableError  not_processed, Retry-After
    read / write timeout, dropped connection         ProviderUnavailableError  unknown
    total deadline exceeded                          ProviderUnavailableError  unknown
    5xx, or a 2xx whose body cannot be read or       ProviderUnavailableError  unknown
      does not validate (`MessageResource`)
    other 4xx (21211 invalid To, 21610 opted out,    ProviderRejectedError     code = Twilio's code
      401 bad credentials, 422 key reused ...)

Bounded like the Stripe adapter: connect and read timeouts plus a total deadline. Nothing is
retried here. The auth token never appears in errors or `repr`; transport exceptions (whose
request holds the Authorization header) are not chained. Written on httpx: Twilio's SDK is
synchronous by default and hides the classification above behind its own exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, StrictStr, StringConstraints, ValidationError

from seawall.providers.errors import (
    ProviderError,
    ProviderRejectedError,
    ProviderUnavailableError,
    parse_retry_after,
)
from seawall.providers.http import HttpProvider

TWILIO_API_BASE = "https://api.twilio.com"
TWILIO_API_VERSION = "2010-04-01"
FORM = "application/x-www-form-urlencoded"


class MessageResource(BaseModel):
    """The fields read of Twilio's Message resource, validated (a `sid` is two letters and 32 hex
    digits in Twilio's docs; any short alphanumeric id is accepted here). Others are ignored."""

    model_config = ConfigDict(extra="ignore")

    sid: Annotated[StrictStr, StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
    status: Annotated[StrictStr, StringConstraints(min_length=1, max_length=32)]
    to: Annotated[StrictStr, StringConstraints(max_length=64)] | None = None


@dataclass(frozen=True, slots=True)
class SentSms:
    sid: str  # the provider's message id, e.g. "SM..."
    status: str  # "queued", "accepted", "sending", "sent" ...
    to: str
    replayed: bool = False  # the provider answered from its idempotency store


class SmsSender(Protocol):
    name: str

    async def send_sms(self, *, to: str, body: str, idempotency_key: str) -> SentSms:
        """Send one text to `to` (E.164, e.g. "+14155550100"); raises the `seawall.providers.errors` tree."""
        ...

    async def aclose(self) -> None: ...


class TwilioSmsSender(HttpProvider):
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: SecretStr | str,
        from_number: str,
        api_base: str = TWILIO_API_BASE,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        deadline: float = 30.0,
        name: str = "twilio",
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(name=name, api_base=api_base, connect_timeout=connect_timeout, read_timeout=read_timeout,
                         deadline=deadline, http_client=http_client, transport=transport)
        self.account_sid = account_sid
        self.from_number = from_number
        self._auth_token = auth_token if isinstance(auth_token, SecretStr) else SecretStr(auth_token)

    def __repr__(self) -> str:
        return f"TwilioSmsSender(name={self.name!r}, api_base={self.api_base!r}, account_sid={self.account_sid!r})"

    @property
    def messages_url(self) -> str:
        return f"{self.api_base}/{TWILIO_API_VERSION}/Accounts/{quote(self.account_sid, safe='')}/Messages.json"

    async def send_sms(self, *, to: str, body: str, idempotency_key: str) -> SentSms:
        if not idempotency_key:
            raise ValueError("every SMS needs an idempotency key")
        content = urlencode([("To", to), ("From", self.from_number), ("Body", body)]).encode()
        headers = {"Content-Type": FORM, "Accept": "application/json", "Idempotency-Key": idempotency_key}
        auth = httpx.BasicAuth(self.account_sid, self._auth_token.get_secret_value())
        response, payload = await self._exchange("POST", self.messages_url, content=content, headers=headers,
                                                  auth=auth)
        if not response.is_success:
            raise translate_twilio_error(status=response.status_code, headers=response.headers, body=payload,
                                         provider=self.name, redact=[self._auth_token.get_secret_value()])
        try:
            message = MessageResource.model_validate(payload)
            return SentSms(sid=message.sid, status=message.status, to=message.to or to,
                           replayed=response.headers.get("idempotent-replayed") == "true")
        except ValidationError:
            raise ProviderUnavailableError(
                f"{self.name}: HTTP {response.status_code} with an unreadable body; outcome unknown",
                provider=self.name, outcome="unknown", http_status=response.status_code,
            ) from None


def translate_twilio_error(*, status: int, headers: Mapping[str, str], body: Any, provider: str,
                           redact: Sequence[str] = ()) -> ProviderError:
    """Turn a non-2xx Twilio answer into the error tree (see the table in the module docstring)."""
    error = body if isinstance(body, dict) else {}
    code = error.get("code")
    code_text = str(code) if code is not None else None
    request_id = headers.get("twilio-request-id")
    message = str(error.get("message") or "")
    for secret in redact:
        if secret:
            message = message.replace(secret, "[redacted]")
    summary = f"{provider}: HTTP {status}" + (f" error {code_text}" if code_text else "")
    detail = f"{summary}: {message}" if message else summary
    if status == 429:
        return ProviderUnavailableError(detail, provider=provider, outcome="not_processed",
                                        retry_after=parse_retry_after(headers.get("retry-after")),
                                        http_status=status, code=code_text, request_id=request_id)
    if status >= 500 or status < 400:
        return ProviderUnavailableError(f"{detail}; outcome unknown", provider=provider, outcome="unknown",
                                        retry_after=parse_retry_after(headers.get("retry-after")),
                                        http_status=status, code=code_text, request_id=request_id)
    if status == 401:
        detail = f"{summary}: the account SID or auth token was refused"
    return ProviderRejectedError(detail, provider=provider, error_kind="twilio_error", http_status=status,
                                 code=code_text, request_id=request_id)
