"""Which quotas a request spends, read from settings, and how they are advertised.

Quotas (all moving windows, `limits` notation, each multiplied by `rate_limit_scale`):

    quota           partition (hashed)           applies to
    ip              client IP (IPv6: its /64)    every route but /livez, /readyz, /metrics
    user            session token                requests with a bearer token, outside /admin
    operator        operator API key             /admin with a bearer token
    login-ip        client IP                    POST /v1/sessions
    login-email     email in the body            POST /v1/sessions
    signup-ip       client IP                    POST /v1/signups
    reset-ip        client IP                    POST /v1/password-resets
    reset-email     email in the body            POST /v1/password-resets
    payments-user   user id                      POST /v1/payments, /v1/me/plan-payments (1)
    refunds-user    user id                      POST /v1/payments/{id}/refunds       (1)
    refunds-payment user id + payment id         POST /v1/payments/{id}/refunds       (1)
    webhook-sends   user id                      POST …/deliveries/{id}/replay, …/recover (1)
    login-ip/-email client IP, account's email   POST /v1/me/password                 (1)

(1) spent by the route once it knows the caller (`user_limits`), not by the middleware: a user id
    is the same whichever of its sessions calls, so logging in again does not reset the quota.

Headers follow draft-ietf-httpapi-ratelimit-headers (-11): `RateLimit-Policy` lists the quota
policies that applied (`"ip-60s";q=1200;w=60`) and `RateLimit` their service limits
(`"ip-60s";r=1187;t=60`). Partition keys are not echoed (they would reveal hashes).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

from limits import RateLimitItem, parse_many

from seawall.config import Settings

EXEMPT_PATHS = frozenset({"/livez", "/readyz", "/metrics"})


@dataclass(frozen=True)
class Quota:
    name: str
    items: tuple[RateLimitItem, ...]

    def policy_name(self, item: RateLimitItem) -> str:
        return f"{self.name}-{item.get_expiry()}s"


@dataclass(frozen=True)
class Partition:
    """One quota as spent by one client: `key` is a keyed hash, never the raw token, email or IP."""
    quota: Quota
    key: str


def _quota(name: str, limits_text: str, scale: float) -> Quota:
    items = []
    for item in parse_many(limits_text):
        amount = max(1, math.floor(item.amount * scale))
        items.append(type(item)(amount, item.multiples, item.namespace))
    return Quota(name, tuple(items))


@dataclass(frozen=True)
class Quotas:
    ip: Quota
    user: Quota
    operator: Quota
    login_ip: Quota
    login_email: Quota
    signup_ip: Quota
    reset_ip: Quota
    reset_email: Quota
    payments_user: Quota
    refunds_user: Quota
    refunds_payment: Quota
    webhook_sends_user: Quota

    @classmethod
    def from_settings(cls, settings: Settings) -> Quotas:
        scale = settings.rate_limit_scale
        return cls(
            ip=_quota("ip", settings.rate_limit_per_ip, scale),
            user=_quota("user", settings.rate_limit_per_user, scale),
            operator=_quota("operator", settings.rate_limit_per_api_key, scale),
            login_ip=_quota("login-ip", settings.rate_limit_login_per_ip, scale),
            login_email=_quota("login-email", settings.rate_limit_login_per_email, scale),
            signup_ip=_quota("signup-ip", settings.rate_limit_signup_per_ip, scale),
            reset_ip=_quota("reset-ip", settings.rate_limit_password_reset_per_ip, scale),
            reset_email=_quota("reset-email", settings.rate_limit_password_reset_per_email, scale),
            payments_user=_quota("payments-user", settings.rate_limit_payments_per_user, scale),
            refunds_user=_quota("refunds-user", settings.rate_limit_refunds_per_user, scale),
            refunds_payment=_quota("refunds-payment", settings.rate_limit_refunds_per_payment, scale),
            webhook_sends_user=_quota("webhook-sends", settings.rate_limit_webhook_sends_per_user, scale),
        )

    def by_email(self, method: str, path: str) -> Quota | None:
        """The per-email quota of an auth route (its body names the account)."""
        if method == "POST" and path == "/v1/sessions":
            return self.login_email
        if method == "POST" and path == "/v1/password-resets":
            return self.reset_email
        return None

    def by_route(self, method: str, path: str) -> Quota | None:
        """The stricter per-IP quota of an auth route."""
        if method != "POST":
            return None
        return {"/v1/sessions": self.login_ip, "/v1/signups": self.signup_ip,
                "/v1/password-resets": self.reset_ip}.get(path)


class Hasher:
    """Partition keys: HMAC-SHA256 under the server secret, so Redis never holds a token, email or IP."""

    def __init__(self, secret: bytes) -> None:
        self._secret = hmac.new(secret, b"seawall.ratelimit", hashlib.sha256).digest()

    def __call__(self, kind: str, value: str) -> str:
        return hmac.new(self._secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]


def policy_header(partitions: list[Partition]) -> str:
    return ", ".join(f'"{p.quota.policy_name(item)}";q={item.amount};w={item.get_expiry()}'
                     for p in partitions for item in p.quota.items)


def limit_header(states: list[tuple[str, int, int]]) -> str:
    return ", ".join(f'"{name}";r={max(0, remaining)};t={max(0, reset)}' for name, remaining, reset in states)
