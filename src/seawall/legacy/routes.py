"""The route table (`SEAWALL_LEGACY_ROUTES`): which requests Seawall serves, forwards or shadows.

The file is TOML (read with `tomllib`, TOML 1.0); docs/legacy-bridge.md has a complete example:

    [shadow]                      # optional: applied to every shadow route
    ignore = ["request_id"]

    [[route]]                     # one per route; the FIRST matching entry decides
    path = "/v1/accounts/{id}"    # Starlette-style: `{name}` one segment, `{name:path}` the rest
    methods = ["GET"]             # optional: absent = any method
    mode = "shadow"               # seawall | legacy | shadow
    ignore = ["id", "/created_at"]  # shadow only: fields left out of the comparison
    sample = 0.5                  # shadow only: fraction of requests shadowed (0..1, default 1)
    side_effects = "rollback"     # shadow only: "rollback" (default) or "none" (safe methods only)

Refused (`RouteTableError` naming the file, the entry and the problem): a file that is not TOML, an
unknown key, a bad mode or method, a path not starting with `/` or with a bad `{...}` parameter, a
path that no request path can equal (holding `?`, `#`, NUL or another control character, or a `.`/`..`
segment: RFC 3986 §3.3, §5.2.4; the bridge refuses such requests), a parameter name used twice in one
path, an `ignore` JSON Pointer with a `~` not followed by `0` or `1` (RFC 6901 §3), an entry with the
same methods and path as an earlier one (the earlier always wins: it would never be used), a
path under a reserved prefix (`RESERVED_PREFIXES`: Seawall's operational paths, always served here),
shadow-only keys on a non-shadow route, `sample` outside 0..1, and `side_effects = "none"` on a route
that allows an unsafe method (RFC 9110 §9.2.1: only GET, HEAD, OPTIONS and TRACE are safe).

Methods: a route listing GET also covers HEAD (RFC 9110 §9.3.2: HEAD is GET without the body); a CORS
preflight (OPTIONS with `Access-Control-Request-Method`) is matched by the method it asks about (the
bridge passes it to `RouteTable.match` as `preflight`), so it goes where the request it precedes goes;
an OPTIONS without that header is matched as OPTIONS.

Matching is on the request's decoded path (`scope["path"]`, what Seawall's own router matches), so a
route and Seawall's routing can never disagree about which path a request names. No match: forwarded.
`RouteTableHolder` keeps the table in use and swaps in a new one atomically (`reload()`); a refused
file leaves the table in use untouched.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("seawall.legacy.routes")

# Seawall's operational paths: never forwarded, never named by the table (an exact path, or a prefix
# ending in "/" that covers everything below it).
RESERVED_PREFIXES: tuple[str, ...] = ("/livez", "/readyz", "/metrics", "/admin", "/admin/", "/docs", "/docs/",
                                      "/openapi.json")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # RFC 9110 §9.2.1
_METHOD = re.compile(r"[A-Z]{1,20}")  # an HTTP token, as the table writes it (upper case)
_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path|str|int|float|uuid))?\}")
_ROUTE_KEYS = frozenset({"path", "methods", "mode", "ignore", "sample", "side_effects"})
_SHADOW_KEYS = frozenset({"ignore", "sample", "side_effects"})


class Mode(StrEnum):
    SEAWALL = "seawall"  # served here
    LEGACY = "legacy"  # forwarded to the upstream
    SHADOW = "shadow"  # answered by the upstream; also run here (dry run) and the answers compared


class SideEffects(StrEnum):
    """What a shadow run may change (stated per route in the table)."""

    ROLLBACK = "rollback"  # every database transaction of the shadow run is rolled back (the default)
    NONE = "none"  # the route only reads (safe methods only): it runs as is


@dataclass(frozen=True)
class Route:
    name: str  # the label in metrics, logs and the report: "<METHODS> <path>", e.g. "POST /v1/accounts"
    path: str  # the pattern as written, e.g. "/v1/payments/{id}" or "/files/{rest:path}"
    methods: frozenset[str] | None  # upper case; None: any method
    mode: Mode
    ignore: tuple[str, ...] = ()  # shadow: body fields left out of the comparison (docs/legacy-bridge.md)
    sample: float = 1.0  # shadow: the fraction of matching requests shadowed (0..1)
    side_effects: SideEffects = SideEffects.ROLLBACK
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, method: str, path: str, preflight: str | None = None) -> bool:
        """`preflight`: a CORS preflight's Access-Control-Request-Method (matched instead of `method`)."""
        wanted = preflight if preflight is not None and method == "OPTIONS" else method
        if self.methods is not None and wanted not in self.methods and not (wanted == "HEAD" and "GET" in self.methods):
            return False
        pattern = self.pattern if self.pattern is not None else compile_path(self.path)
        return pattern.fullmatch(path) is not None


class RouteTableError(ValueError):
    """A route table that cannot be used: the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...] = ()

    def match(self, method: str, path: str, preflight: str | None = None) -> Route | None:
        """The first route whose methods and pattern match; None: not named (forwarded). `preflight`:
        see `Route.matches` (module docstring, "Methods")."""
        for route in self.routes:
            if route.matches(method, path, preflight):
                return route
        return None


def is_reserved(path: str) -> bool:
    """Whether `path` (decoded) is one of Seawall's operational paths (`RESERVED_PREFIXES`)."""
    return any(path == prefix or (prefix.endswith("/") and path.startswith(prefix)) for prefix in RESERVED_PREFIXES)


def compile_path(path: str) -> re.Pattern[str]:
    """The regular expression of a Starlette-style pattern: `{name}` (or `{name:str|int|float|uuid}`)
    is one non-empty segment, `{name:path}` the rest of the path (may hold `/`). `ValueError`: a bad
    `{...}`, a parameter name used twice, a path not starting with `/`, holding `?`, `#` or a control
    character, or a `.`/`..` segment."""
    if not path.startswith("/"):
        raise ValueError("must start with /")
    if any(c in "?#" or ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ValueError("must not hold ?, # or a control character (a request path never does)")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise ValueError("must not hold . or .. segments (such requests are refused, never matched)")
    regex, position = "", 0
    names: set[str] = set()
    for parameter in _PARAMETER.finditer(path):
        if parameter.group(1) in names:
            raise ValueError(f"names the parameter {parameter.group(1)!r} twice")
        names.add(parameter.group(1))
        literal = path[position:parameter.start()]
        if "{" in literal or "}" in literal:
            raise ValueError(f"has a malformed parameter near {literal!r}")
        regex += re.escape(literal) + ("(?:.*)" if parameter.group(2) == "path" else "(?:[^/]+)")
        position = parameter.end()
    rest = path[position:]
    if "{" in rest or "}" in rest:
        raise ValueError(f"has a malformed parameter near {rest!r}")
    return re.compile(regex + re.escape(rest))


_BAD_POINTER_ESCAPE = re.compile(r"~(?![01])")


def _bad_ignore(entries: list[Any]) -> str | None:
    """Why `ignore` cannot be used (None: fine): not non-empty strings, or a JSON Pointer (leading `/`)
    with a `~` not followed by 0 or 1 (RFC 6901 §3)."""
    if not all(isinstance(name, str) and name for name in entries):
        return "must be a list of field names or JSON Pointers"
    bad = [name for name in entries if name.startswith("/") and _BAD_POINTER_ESCAPE.search(name)]
    if bad:
        return f"{bad[0]!r} is not a JSON Pointer: `~` must be followed by 0 or 1 (RFC 6901 §3)"
    return None


def _names_reserved(path: str) -> str | None:
    """The reserved path the pattern's literal start names (`/admin/{rest:path}`, `/metrics`), if any.
    A pattern starting with a parameter (`/{rest:path}`) names none: reserved paths are taken out before
    the table is asked, whatever it says."""
    literal = path.split("{", 1)[0]
    for prefix in RESERVED_PREFIXES:
        bare = prefix.rstrip("/")
        if literal.rstrip("/") == bare or literal.startswith(bare + "/"):
            return bare
    return None


def _entry(source: str, position: int, raw: Any, shadow_ignore: tuple[str, ...]) -> Route:
    where = f"{source}: route {position}"
    if not isinstance(raw, dict):
        raise RouteTableError(f"{where}: must be a table ([[route]])")
    path = raw.get("path")
    if isinstance(path, str):
        where = f"{source}: route {position} ({path})"
    unknown = sorted(set(raw) - _ROUTE_KEYS)
    if unknown:
        raise RouteTableError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if not isinstance(path, str):
        raise RouteTableError(f"{where}: `path` is required (a string)")
    try:
        pattern = compile_path(path)
    except ValueError as exc:
        raise RouteTableError(f"{where}: path {exc}") from None
    if (reserved := _names_reserved(path)) is not None:
        raise RouteTableError(f"{where}: names {reserved}, one of Seawall's reserved paths (always served here)")
    methods: frozenset[str] | None = None
    if "methods" in raw:
        listed = raw["methods"]
        if not isinstance(listed, list) or not listed or not all(isinstance(m, str) for m in listed):
            raise RouteTableError(f"{where}: `methods` must be a non-empty list of strings")
        methods = frozenset(m.upper() for m in listed)
        bad = sorted(m for m in methods if not _METHOD.fullmatch(m))
        if bad:
            raise RouteTableError(f"{where}: not an HTTP method: {', '.join(bad)}")
    try:
        mode = Mode(str(raw.get("mode")))
    except ValueError:
        raise RouteTableError(f"{where}: `mode` must be one of seawall, legacy, shadow") from None
    if mode != Mode.SHADOW and (extra := sorted(set(raw) & _SHADOW_KEYS)):
        raise RouteTableError(f"{where}: {', '.join(extra)} only apply to mode = \"shadow\"")
    ignore = raw.get("ignore", [])
    if not isinstance(ignore, list) or (problem := _bad_ignore(ignore)) is not None:
        raise RouteTableError(f"{where}: `ignore` {problem if isinstance(ignore, list) else 'must be a list'}")
    sample = raw.get("sample", 1.0)
    if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0.0 <= sample <= 1.0:
        raise RouteTableError(f"{where}: `sample` must be a number from 0 to 1")
    try:
        side_effects = SideEffects(raw.get("side_effects", SideEffects.ROLLBACK.value))
    except ValueError:
        raise RouteTableError(f"{where}: `side_effects` must be \"rollback\" or \"none\"") from None
    if side_effects == SideEffects.NONE and (methods is None or not methods <= SAFE_METHODS):
        raise RouteTableError(f"{where}: side_effects = \"none\" needs methods that are all safe "
                              f"(GET, HEAD, OPTIONS, TRACE; RFC 9110 §9.2.1)")
    name = f"{','.join(sorted(methods)) if methods else '*'} {path}"
    merged = tuple(dict.fromkeys([*shadow_ignore, *ignore])) if mode == Mode.SHADOW else ()
    return Route(name=name, path=path, methods=methods, mode=mode, ignore=merged, sample=float(sample),
                 side_effects=side_effects, pattern=pattern)


def parse_table(text: str, *, source: str = "<route table>") -> RouteTable:
    """The table in `text` (TOML); `RouteTableError` naming `source`, the entry and the problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RouteTableError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"route", "shadow"})
    if unknown:
        raise RouteTableError(f"{source}: unknown top-level key(s) {', '.join(unknown)} (expected [[route]], [shadow])")
    shadow = document.get("shadow", {})
    if not isinstance(shadow, dict) or set(shadow) - {"ignore"}:
        raise RouteTableError(f"{source}: [shadow] takes only `ignore`")
    shadow_ignore = shadow.get("ignore", [])
    if not isinstance(shadow_ignore, list) or (problem := _bad_ignore(shadow_ignore)) is not None:
        raise RouteTableError(f"{source}: [shadow] ignore "
                              f"{problem if isinstance(shadow_ignore, list) else 'must be a list'}")
    entries = document.get("route", [])
    if not isinstance(entries, list):
        raise RouteTableError(f"{source}: `route` must be an array of tables ([[route]])")
    routes: list[Route] = []
    for position, raw in enumerate(entries, start=1):
        route = _entry(source, position, raw, tuple(shadow_ignore))
        for earlier_position, earlier in enumerate(routes, start=1):
            if (earlier.methods, earlier.path) == (route.methods, route.path):
                raise RouteTableError(f"{source}: route {position} ({route.path}): same methods and path as "
                                      f"route {earlier_position}, which always matches first (never used)")
        routes.append(route)
    return RouteTable(tuple(routes))


def load_table(path: Path) -> RouteTable:
    """The table in the file at `path`; `RouteTableError` (naming the file) when it cannot be read or used."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RouteTableError(f"{path}: cannot be read: {exc.__class__.__name__}: {exc}") from None
    return parse_table(text, source=str(path))


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """(mtime ns, size, inode) of the file, None when it is missing: a change means "reload"."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class RouteTableHolder:
    """The table in use (`current`); `reload()` swaps in the file's table, or raises `RouteTableError`
    and keeps the one in use."""

    def __init__(self, table: RouteTable, path: Path | None = None) -> None:
        self.current = table
        self.path = path
        self.signature = file_signature(path) if path is not None else None

    @classmethod
    def build(cls, settings: object) -> RouteTableHolder:
        """From `settings.legacy_routes` (unset: an empty table: everything forwarded). A file that is
        refused at start raises `RouteTableError`: the process does not start with a table it cannot read."""
        path = getattr(settings, "legacy_routes", None)
        if path is None:
            return cls(RouteTable())
        return cls(load_table(Path(path)), Path(path))

    def reload(self) -> RouteTable:
        """Read the file again and swap the new table in (one assignment: a request sees the old table or
        the new one, never a mix). Refused: one `legacy.routes_refused` error line, `RouteTableError`
        raised, the table in use kept. Without a file: the empty table stays."""
        if self.path is None:
            return self.current
        signature = file_signature(self.path)
        try:
            table = load_table(self.path)
        except RouteTableError as exc:
            self.signature = signature  # a refused version is reported once, not at every poll
            log.error("legacy.routes_refused", path=str(self.path), problem=str(exc))
            raise
        self.current, self.signature = table, signature
        log.info("legacy.routes_loaded", path=str(self.path), routes=len(table.routes))
        return table

    def changed(self) -> bool:
        """Whether the file's (mtime, size, inode) differs from the version last read."""
        return self.path is not None and file_signature(self.path) != self.signature
