"""The rate-limit settings of one process, and which partitions a request spends.

Client identity: the socket peer, unless it is one of `rate_limit_trusted_proxies`; then the
nearest address in `X-Forwarded-For` that is not a trusted proxy. IPv6 clients are grouped by /64
(one subscriber usually holds a whole /64). Tokens, keys, emails and IPs are hashed (`Hasher`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from seawall.config import Settings
from seawall.kit.addresses import normalize_email_address
from seawall.ratelimit.limiter import RateLimiter
from seawall.ratelimit.policy import Hasher, Partition, Quotas
from seawall.redis_link import RedisLink

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client as the rate limiter sees it: an IPv4 address or an IPv6 /64."""
    address = _address(peer) if peer else None
    if address is not None and forwarded_for and any(address in net for net in trusted):
        for hop in reversed(forwarded_for.split(",")):
            hop_address = _address(hop)
            if hop_address is None:
                break
            address = hop_address
            if not any(hop_address in net for net in trusted):
                break
    if address is None:
        return peer or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass
class RateLimits:
    enabled: bool
    quotas: Quotas
    hasher: Hasher
    limiter: RateLimiter
    trusted_proxies: tuple[Network, ...]

    @classmethod
    def build(cls, settings: Settings, *, link: RedisLink | None, secret: bytes) -> RateLimits:
        return cls(
            enabled=settings.rate_limit_enabled,
            quotas=Quotas.from_settings(settings),
            hasher=Hasher(secret),
            limiter=RateLimiter(link=link, fail_open=settings.rate_limit_fail_open),
            trusted_proxies=parse_networks(settings.rate_limit_trusted_proxies),
        )

    def partitions(self, *, method: str, path: str, client: str, bearer: str | None) -> list[Partition]:
        """Every partition the request spends except the per-email one (that needs the body)."""
        quotas = self.quotas
        client_key = self.hasher("ip", client)
        found = [Partition(quotas.ip, client_key)]
        route_quota = quotas.by_route(method, path)
        if route_quota is not None:
            found.append(Partition(route_quota, client_key))
        if bearer:
            if path == "/admin" or path.startswith("/admin/"):
                found.append(Partition(quotas.operator, self.hasher("operator", bearer)))
            else:
                found.append(Partition(quotas.user, self.hasher("user", bearer)))
        return found

    def email_partition(self, *, method: str, path: str, email: str) -> Partition | None:
        """The per-email partition, keyed on the address as the accounts models spell it
        (`kit.addresses`), so `A <victim@example.com>` and `VICTIM@example.com` spend one quota. A string
        that is no address (the route will refuse it) is keyed as given, lower-cased."""
        quota = self.quotas.by_email(method, path)
        if quota is None:
            return None
        try:
            address = normalize_email_address(email)
        except ValueError:
            address = email.strip().lower()
        return Partition(quota, self.hasher("email", address))

    async def aclose(self) -> None:
        await self.limiter.aclose()
