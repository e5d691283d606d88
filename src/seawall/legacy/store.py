"""The comparisons kept (table `legacy_shadow_comparisons`, `legacy.models`) and the report built from them.

- `record`: one row per shadow call, in its own short transaction (never the shadow run's, which rolls back);
  the patch is kept whole up to `PATCH_MAX_BYTES` of JSON, else cut to the operations that fit and noted.
- `report`: per route over the last `hours`, the count of each result kind and the agreement rate
  (agreed / (compared: agreed + status_differs + body_differs); None when nothing was compared), and the
  `recent` most recent disagreements (status or body) with their patches, newest first.
Retention: `maintenance.retention` purges rows older than `SEAWALL_LEGACY_SHADOW_RETENTION_DAYS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, select

from seawall.db import Database
from seawall.legacy.compare import Comparison, Result
from seawall.legacy.models import PATH_MAX, ShadowComparison

PATCH_MAX_BYTES = 16 * 1024
COMPARED = (Result.AGREED, Result.STATUS_DIFFERS, Result.BODY_DIFFERS)
DISAGREED = (Result.STATUS_DIFFERS, Result.BODY_DIFFERS)


@dataclass(frozen=True)
class Recorded:
    route: str
    method: str
    path: str
    legacy_status: int
    seawall_status: int | None
    comparison: Comparison
    request_id: str | None
    legacy_seconds: float | None
    seawall_seconds: float | None
    at: datetime


def bounded_patch(patch: list[dict[str, Any]] | None, *, max_bytes: int = PATCH_MAX_BYTES
                  ) -> tuple[list[dict[str, Any]] | None, bool]:
    """The patch's first operations whose JSON fits in `max_bytes`, and whether any were left out."""
    if patch is None:
        return None, False
    kept: list[dict[str, Any]] = []
    size = 2
    for operation in patch:
        size += len(orjson.dumps(operation)) + 1
        if size > max_bytes:
            return kept, True
        kept.append(operation)
    return kept, False


async def record(database: Database, entry: Recorded) -> None:
    await record_many(database, [entry])


async def record_many(database: Database, entries: list[Recorded]) -> None:
    """Write the comparisons in one transaction (never a dry run's: see `legacy.shadow`)."""
    if not entries:
        return
    async with database.transaction() as session:
        session.add_all([_row(entry) for entry in entries])


def _row(entry: Recorded) -> ShadowComparison:
    patch, cut = bounded_patch(entry.comparison.patch)
    note = entry.comparison.note
    if cut:
        note = (note + "; " if note else "") + f"patch cut to {PATCH_MAX_BYTES} bytes"
    return ShadowComparison(
        route=entry.route[:256], method=entry.method[:16], path=entry.path[:PATH_MAX],
        result=entry.comparison.result.value, legacy_status=entry.legacy_status,
        seawall_status=entry.seawall_status, patch=patch, note=note,
        request_id=entry.request_id[:128] if entry.request_id else None,
        legacy_seconds=entry.legacy_seconds, seawall_seconds=entry.seawall_seconds, created_at=entry.at,
    )


@dataclass
class RouteReport:
    route: str
    counts: dict[str, int] = field(default_factory=dict)  # per `Result` value, every kind present (0s too)
    agreement_rate: float | None = None  # agreed / compared; None: nothing compared
    recent_disagreements: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"route": self.route, "counts": self.counts, "agreement_rate": self.agreement_rate,
                "recent_disagreements": self.recent_disagreements}


async def report(database: Database, *, now: datetime, hours: float = 24.0, route: str | None = None,
                 recent: int = 5) -> list[RouteReport]:
    """Per route (sorted by name) over `(now - hours, now]`; `route` keeps only that route's name."""
    since = now - timedelta(hours=hours)
    counts = (select(ShadowComparison.route, ShadowComparison.result, func.count())
              .where(ShadowComparison.created_at > since)
              .group_by(ShadowComparison.route, ShadowComparison.result))
    if route is not None:
        counts = counts.where(ShadowComparison.route == route)
    reports: dict[str, RouteReport] = {}
    async with database.read_transaction() as session:
        for name, result, count in (await session.execute(counts)).all():
            entry = reports.setdefault(name, RouteReport(route=name, counts={kind.value: 0 for kind in Result}))
            entry.counts[result] = entry.counts.get(result, 0) + int(count)
        for entry in reports.values():
            compared = sum(entry.counts.get(kind.value, 0) for kind in COMPARED)
            entry.agreement_rate = entry.counts[Result.AGREED.value] / compared if compared else None
            rows = (await session.execute(
                select(ShadowComparison)
                .where(ShadowComparison.route == entry.route, ShadowComparison.created_at > since,
                       ShadowComparison.result.in_([kind.value for kind in DISAGREED]))
                .order_by(ShadowComparison.created_at.desc(), ShadowComparison.id.desc())
                .limit(recent))).scalars().all()
            entry.recent_disagreements = [{
                "at": row.created_at.isoformat(), "method": row.method, "path": row.path, "result": row.result,
                "legacy_status": row.legacy_status, "seawall_status": row.seawall_status, "patch": row.patch,
                "note": row.note, "request_id": row.request_id,
            } for row in rows]
    return [reports[name] for name in sorted(reports)]
