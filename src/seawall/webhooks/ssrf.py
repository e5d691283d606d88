"""The SSRF guard for webhook URLs: only http(s) to globally routable addresses.

Checked when an endpoint is created and again before every attempt (DNS answers change). The host
is resolved and *every* address it resolves to must pass; the attempt then connects to the address
that was checked (see `sender.py`), so a second DNS answer cannot steer it elsewhere (DNS
rebinding), while the Host header and TLS (SNI, certificate) still use the name from the URL.

Refused (by default):

    loopback            127.0.0.0/8, ::1
    private             10/8, 172.16/12, 192.168/16 (RFC 1918), fc00::/7 (unique local), and the
                        other special-purpose blocks Python's `ipaddress` marks private
    link-local          169.254/16 (cloud metadata 169.254.169.254), fe80::/10
    shared (CGNAT)      100.64/10
    unspecified         0.0.0.0, ::
    multicast           224/4, ff00::/8
    reserved            240/4, 255.255.255.255, ...
    embedded IPv4       IPv4-mapped (::ffff:a.b.c.d), 6to4 (2002::/16) and NAT64 (64:ff9b::/96)
                        addresses are judged by the IPv4 address inside
    anything else that is not globally routable

`allow_private=True` (`SEAWALL_WEBHOOKS_ALLOW_PRIVATE=1`; tests and the sandbox) lets private,
loopback, link-local and CGNAT destinations through; unspecified and multicast addresses are never
a webhook receiver and stay refused. Also refused: other schemes, user:password@ in the URL, a host
that does not resolve.

Limits: an HTTP proxy is never used (it would resolve names itself); redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Protocol

import httpx

from seawall.webhooks.errors import WebhookUrlNotAllowedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = {"http": 80, "https": 443}
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
METADATA = ipaddress.ip_address("169.254.169.254")
NEVER_ALLOWED = frozenset({"unspecified", "multicast"})


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to (raises `OSError` when it does not)."""
        ...


class SystemResolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL: connect to `address`, but speak to `host` (Host header, SNI, certificate)."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    target: str  # path and query
    address: str  # the checked IP address to connect to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == ALLOWED_SCHEMES[self.scheme] else f"{host}:{self.port}"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_class(address: IPAddress) -> str | None:
    """Why `address` is no webhook destination ("loopback", "private (RFC 1918)", ...), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = address_class(inner)
            return f"{reason} (IPv4 inside IPv6)" if reason else None
        if address.teredo is not None:
            return "Teredo tunnel"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return "loopback"
    if address == METADATA:
        return "link-local (cloud metadata)"
    if address.is_link_local:
        return "link-local"
    if address in CGNAT:
        return "shared address space (CGNAT)"
    if any(address in network for network in RFC1918):
        return "private (RFC 1918)"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally routable"
    return None


def parse_webhook_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, target) of a syntactically acceptable webhook URL."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlNotAllowedError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError, TypeError):
        raise WebhookUrlNotAllowedError("the URL is not valid") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise WebhookUrlNotAllowedError("only http and https URLs can receive webhooks")
    if not host:
        raise WebhookUrlNotAllowedError("the URL has no host")
    if parsed.userinfo:
        raise WebhookUrlNotAllowedError("credentials in the URL are not supported")
    port = parsed.port if parsed.port is not None else ALLOWED_SCHEMES[parsed.scheme]
    if not 0 < port < 65536:
        raise WebhookUrlNotAllowedError("the URL's port is not valid")
    return parsed.scheme, host.lower(), port, parsed.raw_path.decode("ascii")


class UrlGuard:
    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None,
                 resolve_timeout_seconds: float = 5.0) -> None:
        self.allow_private = allow_private
        self.resolver = resolver or SystemResolver()
        self.resolve_timeout_seconds = resolve_timeout_seconds

    def refusal(self, address: IPAddress) -> str | None:
        reason = address_class(address)
        if reason is None:
            return None
        if self.allow_private and not any(reason.startswith(never) for never in NEVER_ALLOWED):
            return None
        return reason

    async def check(self, url: str) -> WebhookTarget:
        """Resolve and vet `url`; raises `WebhookUrlNotAllowedError` with the reason."""
        scheme, host, port, target = parse_webhook_url(url)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            answers = [str(literal)]
        else:
            try:
                async with asyncio.timeout(self.resolve_timeout_seconds):
                    answers = await self.resolver.resolve(host, port)
            except (OSError, UnicodeError, TimeoutError):
                raise WebhookUrlNotAllowedError(f"the host {host} does not resolve", reason="unresolvable") from None
        if not answers:
            raise WebhookUrlNotAllowedError(f"the host {host} does not resolve", reason="unresolvable")
        addresses = [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in answers]
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                message = (f"webhooks cannot go to {host}: the address is {reason}" if literal is not None
                           else f"webhooks cannot go to {host}: it resolves to an address that is not public")
                raise WebhookUrlNotAllowedError(message, reason=reason)
        return WebhookTarget(url=url, scheme=scheme, host=host, port=port, target=target,
                             address=str(addresses[0]))
