"""The headers of a forwarded request and of the answer passed back (pure: no I/O).

Request (client → upstream), in the order the client sent them, except:
- hop-by-hop headers removed (RFC 9110 §7.6.1): `Connection` and every header it names, `Keep-Alive`,
  `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-Authorization`,
  `Proxy-Authenticate`;
- `Host` set to the upstream's authority (RFC 9110 §7.2; the client's Host goes on as `X-Forwarded-Host`);
- `X-Forwarded-For`: the client's value with the peer appended when the peer is a trusted proxy
  (`SEAWALL_RATE_LIMIT_TRUSTED_PROXIES`), else the peer alone (a client's own value is never trusted);
  `X-Forwarded-Proto` / `X-Forwarded-Host` kept from a trusted peer, else set from this request;
  `Forwarded` (RFC 7239 §4): one element `for=...;host=...;proto=...` appended to a trusted peer's
  value, else alone;
- `X-Request-Id`: Seawall's id of the request (`web.middleware.RequestIdMiddleware`);
- the identity headers (`legacy.identity.RESERVED_HEADERS`), and every header whose name starts with
  `Seawall-` (Seawall's own namespace), always removed from the client's request; then the ones
  Seawall signs added.

Answer (upstream → client): hop-by-hop headers removed; everything else (Set-Cookie, Content-Encoding,
Content-Length, Location) passed on unchanged, except a `Location` on the upstream's own base URL,
rewritten to the public origin the client used (so a redirect never points a client at the
upstream's internal address).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from seawall.legacy.upstream import Upstream

Header = tuple[bytes, bytes]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

HOP_BY_HOP: frozenset[bytes] = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade",
    b"proxy-authorization", b"proxy-authenticate",
})
SEAWALL_NAMESPACE = b"seawall-"  # a client's `Seawall-*` headers never reach the upstream
# Set here from the request itself; a client's own values are dropped (or kept from a trusted proxy).
_FORWARDING = frozenset({b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded",
                         b"x-request-id"})


def _connection_listed(headers: Iterable[Header]) -> set[bytes]:
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return listed


def without_hop_by_hop(headers: Sequence[Header]) -> list[Header]:
    """`headers` minus the hop-by-hop ones (RFC 9110 §7.6.1), names lower-cased."""
    drop = HOP_BY_HOP | _connection_listed(headers)
    return [(name.lower(), value) for name, value in headers if name.lower() not in drop]


def is_trusted(peer: str | None, trusted: Sequence[Network]) -> bool:
    if peer is None or not trusted:
        return False
    try:
        address = ipaddress.ip_address(peer.strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in trusted)


def _forwarded_node(address: str) -> str:
    """RFC 7239 §6: an IPv6 node is quoted and bracketed; an unknown peer is `unknown`."""
    if not address:
        return "unknown"
    return f'"[{address}]"' if ":" in address else address


def _forwarded_value(text: str) -> str:
    """RFC 7239 §4: a value that is not a token is a quoted string."""
    if text and all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def request_headers(headers: Sequence[Header], *, upstream: Upstream, scheme: str, peer: str | None,
                    trusted: Sequence[Network], request_id: str, reserved: frozenset[bytes],
                    identity: Sequence[Header] = ()) -> list[Header]:
    """The headers sent upstream for a request that arrived with `headers` from `peer` over `scheme`
    (see the module docstring)."""
    kept = without_hop_by_hop(headers)
    received: dict[bytes, list[bytes]] = {}
    for name, value in kept:
        if name in _FORWARDING:
            received.setdefault(name, []).append(value)
    trust = is_trusted(peer, trusted)
    host = received.get(b"host", [b""])[0].decode("latin-1")
    peer_text = peer or ""

    out: list[Header] = [(b"host", upstream.authority.encode("latin-1"))]
    out += [(name, value) for name, value in kept
            if name not in _FORWARDING and name not in reserved and not name.startswith(SEAWALL_NAMESPACE)]
    chain = [v.decode("latin-1") for v in received.get(b"x-forwarded-for", [])] if trust else []
    out.append((b"x-forwarded-for", ", ".join([*chain, peer_text or "unknown"]).encode("latin-1")))
    proto = received.get(b"x-forwarded-proto") if trust else None
    out.append((b"x-forwarded-proto", proto[0] if proto else scheme.encode("latin-1")))
    forwarded_host = received.get(b"x-forwarded-host") if trust else None
    if forwarded_host:
        out.append((b"x-forwarded-host", forwarded_host[0]))
    elif host:
        out.append((b"x-forwarded-host", host.encode("latin-1")))
    element = f"for={_forwarded_node(peer_text)};proto={scheme}"
    if host:
        element += f";host={_forwarded_value(host)}"
    earlier = [v.decode("latin-1") for v in received.get(b"forwarded", [])] if trust else []
    out.append((b"forwarded", ", ".join([*earlier, element]).encode("latin-1")))
    out.append((b"x-request-id", request_id.encode("latin-1")))
    out += identity
    return out


def response_headers(headers: Sequence[Header], *, upstream: Upstream, public_origin: str | None) -> list[Header]:
    """The answer's headers for the client: hop-by-hop removed; a `Location` on the upstream's base
    (`http://legacy:8000/x`) rewritten onto `public_origin` (`https://api.example.com/x`) when known."""
    out = without_hop_by_hop(headers)
    if public_origin is None:
        return out
    base = upstream.base.encode("latin-1")
    rewritten: list[Header] = []
    for name, value in out:
        if name == b"location" and (value == base or value.startswith(base + b"/") or value.startswith(base + b"?")):
            value = public_origin.encode("latin-1") + (value[len(base):] or b"/")
        rewritten.append((name, value))
    return rewritten
