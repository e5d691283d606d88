"""The legacy upstream's base URL (`SEAWALL_LEGACY_UPSTREAM`), and the one way a request's target is
built from it: the base's scheme, host, port and path prefix, then the request's own path and query.
Nothing a request carries (Host, an absolute-form target, `..` segments, a `//host` path) can change
the host: the target is never parsed from the request as a URL, only appended to the fixed base.

Imports nothing of Seawall (`config` validates the setting with `parse_upstream`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Upstream:
    scheme: str  # http or https
    host: str  # as written (lower-cased); IPv6 without brackets
    port: int
    prefix: str  # "" or a path starting with "/" and not ending with one

    @property
    def authority(self) -> str:
        """host[:port] as a Host header names it (the port only when not the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme]
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.authority}{self.prefix}"

    def target(self, raw_path: bytes, query_string: bytes) -> str:
        """The URL a request is forwarded to: the base, then `raw_path` (the request target's path as
        received, percent-encoding kept) and `?query` if any. `raw_path` must start with `/`."""
        path = raw_path.decode("latin-1")
        if not path.startswith("/"):
            raise ValueError("the request path must start with /")
        query = query_string.decode("latin-1")
        return f"{self.base}{path}" + (f"?{query}" if query else "")


def parse_upstream(text: str) -> Upstream:
    """`ValueError` for anything but an http(s) URL with a host and no query, fragment or credentials."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must not carry a query or fragment")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return Upstream(scheme=parts.scheme, host=parts.hostname.lower(), port=port, prefix=parts.path.rstrip("/"))
