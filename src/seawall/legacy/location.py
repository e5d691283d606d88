"""The rewrite of an upstream answer's `Location`: a redirect under the upstream's base never points a
client at the upstream's internal address, however the address is spelled.

`public_location(value, upstream, public_origin)` reads `value` as a browser would (the WHATWG URL
Standard's parser, for the parts that decide the host): leading and trailing C0 controls and spaces
dropped, tabs and newlines removed, `\\` read as `/` before the query in an http(s) URL, any number of
slashes after `http:` or before a scheme-relative host, userinfo ignored, the host case-insensitive,
percent-decoded, without a trailing dot, IPv4 in any of its numeric spellings (`2130706433`, `127.1`)
and IPv6 in any of its spellings, the scheme's default port written or not. When that names the
upstream's origin and, after `.`/`..` segments are removed (RFC 3986 §5.2.4), a path under its prefix,
the answer is the public origin the client used plus the rest (`https://api.example.com/x?y#z`), or
that rest alone (origin-relative) when the public origin is not known — never one starting `//`, which a
browser would read as another host. Anything else (relative references, other hosts, other schemes,
the upstream's origin outside its prefix, which has no public URL) is returned unchanged.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import unquote, urlsplit

from seawall.legacy.upstream import DEFAULT_PORTS, Upstream

_STRIPPED = "".join(chr(code) for code in range(0x21))  # C0 controls and space
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")


def public_location(value: bytes, upstream: Upstream, public_origin: str | None) -> bytes:
    rest = _under_base(value.decode("latin-1"), upstream)
    if rest is None:
        return value
    if public_origin is None and rest.startswith("//"):
        rest = "/%2F" + rest[2:]  # origin-relative, and still a path on this host
    return ((public_origin or "") + rest).encode("latin-1")


def _under_base(text: str, upstream: Upstream) -> str | None:
    """What follows the upstream's base in `text` (`/x?y#z`, at least `/`), or None (module docstring)."""
    text = _TAB_OR_NEWLINE.sub("", text.strip(_STRIPPED))
    query_or_fragment = re.search(r"[?#]", text)
    before, tail = (text[:query_or_fragment.start()], text[query_or_fragment.start():]) if query_or_fragment \
        else (text, "")
    before = before.replace("\\", "/")  # http(s) and scheme-relative: a backslash before the query is a slash
    scheme_match = _SCHEME.match(before)
    if scheme_match is not None:
        scheme = scheme_match.group(1).lower()
        remainder = before[scheme_match.end():]
        if scheme not in DEFAULT_PORTS or not remainder.startswith("/"):
            return None  # mailto:, urn:, ... name no host; `http:next` is relative to the client's own URL
    else:
        scheme, remainder = upstream.scheme, before
        if not remainder.startswith("//"):
            return None  # a path (absolute or relative) on the client's own origin
    if scheme != upstream.scheme:
        return None
    try:
        parts = urlsplit(f"{scheme}://{remainder.lstrip('/')}{tail}")
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    if _host(parts.hostname or "") != _host(upstream.host) or port != upstream.port:
        return None
    path = _without_dot_segments(parts.path)
    prefix = upstream.prefix
    if prefix and path != prefix and not path.startswith(prefix + "/"):
        return None
    rest = path[len(prefix):] or "/"
    return rest + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _host(text: str) -> str:
    """A host as the WHATWG parser compares it: percent-decoded, lower-cased, no trailing dot, an IP
    address in its one canonical form."""
    host = unquote(text).lower().rstrip(".")
    if ":" in host:
        try:
            return ipaddress.ip_address(host.split("%")[0]).compressed
        except ValueError:
            return host
    if _NUMERIC_HOST.match(host) and any(char.isdigit() for char in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return host
    return host


def _without_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on an absolute path (`%2e` read as `.`, as the WHATWG parser does)."""
    out: list[str] = []
    segments = path.split("/")[1:] if path else [""]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        kind = segment.lower().replace("%2e", ".")
        if kind == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif kind == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)
