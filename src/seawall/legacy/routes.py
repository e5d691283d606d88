"""The route table (`SEAWALL_LEGACY_ROUTES`): which requests Seawall serves, forwards or shadows.

STUB (issue 16, bridge helper): format, matching, reload. The types below are the contract other
modules use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


class RouteTableError(ValueError):
    """A route table that cannot be used: the message names the file, the entry and the problem."""


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...] = ()

    def match(self, method: str, path: str) -> Route | None:
        """The first route whose methods and pattern match; None: not named (forwarded)."""
        raise NotImplementedError  # STUB


class RouteTableHolder:
    """The table in use (`current`); `reload()` swaps in the file's table, or raises `RouteTableError`
    and keeps the one in use."""

    def __init__(self, table: RouteTable) -> None:
        self.current = table

    @classmethod
    def build(cls, settings: object) -> RouteTableHolder:
        return cls(RouteTable())  # STUB

    def reload(self) -> RouteTable:
        raise NotImplementedError  # STUB
