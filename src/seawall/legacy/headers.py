"""The headers of a forwarded request and of the answer passed back (pure: no I/O).

Request (client → upstream), in the order the client sent them, except:
- hop-by-hop headers removed (RFC 9110 §7.6.1): `Connection` and every header it names, `Keep-Alive`,
  `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-Authorization`,
  `Proxy-Authenticate`;
- `Host` set to the upstream's authority (RFC 9110 §7.2; the client's Host goes on as `X-Forwarded-Host`).
  The bridge refuses a request whose Host is not `valid_host` (400) before it gets here; a Host or a
  trusted peer's `X-Forwarded-Host` that is not valid is never passed on;
- `X-Forwarded-For`: the client's value with the peer appended when the peer is a trusted proxy
  (`SEAWALL_RATE_LIMIT_TRUSTED_PROXIES`), else the peer alone (a client's own value is never trusted);
  `X-Forwarded-Proto` / `X-Forwarded-Host` kept from a trusted peer, else set from this request;
  `Forwarded` (RFC 7239 §4): one element `for=...;host=...;proto=...` appended to a trusted peer's
  value, else alone;
- `X-Request-Id`: Seawall's id of the request (`web.middleware.RequestIdMiddleware`);
- the identity headers (`legacy.identity.RESERVED_HEADERS`), and every header whose name starts with
  `Seawall-` (Seawall's own namespace), always removed from the client's request; then the ones
  Seawall signs added.
The forwarding values (Host, X-Forwarded-*, Forwarded) are read from the request as received, before
hop-by-hop stripping: a client naming `Host` (or any of them) in `Connection` cannot remove what
Seawall sets, and every header Seawall sets is added after the stripping.

Answer (upstream → client): hop-by-hop headers removed; everything else (Set-Cookie, Content-Encoding,
Content-Length, Location) passed on unchanged, except:
- `Date` dropped: the server (uvicorn) adds its own, and an answer carries exactly one (RFC 9110 §6.6.1);
- a `Location` on the upstream's own base URL (however it is spelled: `legacy.location`), rewritten to
  the public origin the client used, or, when that is not known (no valid Host), to an origin-relative
  reference (`/x`, RFC 9110 §10.2.2): a redirect under the base never points a client at the upstream's
  internal address. One on the upstream's origin but outside its path prefix has no public URL and
  passes as is.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from seawall.legacy.location import public_location
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


# RFC 3986 §3.2.2-3 `host [ ":" port ]`: reg-name (narrowed to unreserved characters, RFC 3986 §2.3:
# no sub-delims such as `'`, `,`, `;`, `=` that would break the lists of X-Forwarded-Host and
# Forwarded; no pct-encoding; covers IPv4address) or `[IPv6address]` (checked by `ipaddress`), then an
# optional port of up to five digits (RFC 3986: `port = *DIGIT`).
_REG_NAME_AND_PORT = re.compile(r"[A-Za-z0-9._~-]+(?::[0-9]{0,5})?")
_IP_LITERAL_AND_PORT = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::[0-9]{0,5})?")


def valid_host(value: str) -> bool:
    """Whether `value` (a Host or X-Forwarded-Host value) is `host[:port]` as above: `api.example.com`,
    `127.0.0.1:8000`, `[::1]:8000`. Refused: empty, spaces, `user@host`, quotes, commas, zone ids."""
    if _REG_NAME_AND_PORT.fullmatch(value):
        return True
    literal = _IP_LITERAL_AND_PORT.fullmatch(value)
    if literal is None:
        return False
    try:
        ipaddress.IPv6Address(literal.group(1))
    except ValueError:
        return False
    return True


def client_host(headers: Sequence[Header]) -> str | None:
    """The request's Host value (RFC 9110 §7.2) when there is exactly one and it is `valid_host`; else None."""
    values = [value for name, value in headers if name.lower() == b"host"]
    if len(values) != 1:
        return None
    text = values[0].decode("latin-1")
    return text if valid_host(text) else None


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
    for name, value in headers:  # as received: before hop-by-hop stripping (`Connection: Host` strips nothing here)
        if name.lower() in _FORWARDING:
            received.setdefault(name.lower(), []).append(value)
    trust = is_trusted(peer, trusted)
    host = client_host(headers) or ""
    peer_text = peer or ""

    out: list[Header] = [(b"host", upstream.authority.encode("latin-1"))]
    out += [(name, value) for name, value in kept
            if name not in _FORWARDING and name not in reserved and not name.startswith(SEAWALL_NAMESPACE)]
    chain = [v.decode("latin-1") for v in received.get(b"x-forwarded-for", [])] if trust else []
    out.append((b"x-forwarded-for", ", ".join([*chain, peer_text or "unknown"]).encode("latin-1")))
    proto = received.get(b"x-forwarded-proto") if trust else None
    out.append((b"x-forwarded-proto", proto[0] if proto else scheme.encode("latin-1")))
    forwarded_host = received.get(b"x-forwarded-host") if trust else None
    if forwarded_host and valid_host(forwarded_host[0].decode("latin-1")):
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
    """The answer's headers for the client: hop-by-hop and `Date` removed; a `Location` on the upstream's
    base (`http://legacy:8000/x`) rewritten onto `public_origin` (`https://api.example.com/x`), or to
    `/x` when `public_origin` is None: never left on the upstream's origin."""
    out = [(name, value) for name, value in without_hop_by_hop(headers) if name != b"date"]
    return [(name, public_location(value, upstream, public_origin) if name == b"location" else value)
            for name, value in out]

