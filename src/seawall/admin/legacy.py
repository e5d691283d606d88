"""The legacy bridge for operators (issue 16, docs/legacy-bridge.md "Report"):

- `GET /admin/legacy/report?hours=24&route=NAME&recent=5` (scope `read`): per shadowed route, the count
  of each comparison result, the agreement rate (agreed / compared), and the most recent disagreements
  with their RFC 6902 patches (`legacy.store.report`);
- `GET /admin/legacy/routes` (scope `read`): the route table in use, in order;
- `POST /admin/legacy/routes/reload` (scope `operate`): read the table's file again and swap it in; a file
  that is refused keeps the table in use and answers 422 `unprocessable` naming the file, the entry and
  the problem (`legacy.routes.RouteTableError`).

Without `SEAWALL_LEGACY_UPSTREAM` (no bridge) each answers 404 `not_found`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from seawall.errors import NotFoundError, UnprocessableError
from seawall.legacy import store
from seawall.legacy.bridge import LEGACY
from seawall.legacy.routes import Route, RouteTableError
from seawall.legacy.services import LegacyServices
from seawall.web.deps import AdminDep, ClockDep
from seawall.web.errors import error_responses

router = APIRouter(prefix="/admin/legacy", tags=["admin"], dependencies=[AdminDep])


async def _legacy(request: Request) -> LegacyServices:
    services = LEGACY.find(request.app.state)
    if services is None:
        raise NotFoundError("the legacy bridge is not configured (SEAWALL_LEGACY_UPSTREAM is unset)")
    return services


LegacyDep = Annotated[LegacyServices, Depends(_legacy)]


class RouteReportOut(BaseModel):
    route: str
    counts: dict[str, int]  # per result: agreed, status_differs, body_differs, not_compared, seawall_error, dropped
    agreement_rate: float | None  # agreed / (agreed + status_differs + body_differs); null: nothing compared
    recent_disagreements: list[dict[str, Any]]  # newest first: at, method, path, result, statuses, patch, note


class LegacyReportOut(BaseModel):
    hours: float
    routes: list[RouteReportOut]


class RouteOut(BaseModel):
    name: str
    path: str
    methods: list[str] | None  # null: any method
    mode: str
    ignore: list[str]
    sample: float
    side_effects: str


class RouteTableOut(BaseModel):
    routes: list[RouteOut]


def _route_out(route: Route) -> RouteOut:
    return RouteOut(name=route.name, path=route.path, methods=sorted(route.methods) if route.methods else None,
                    mode=route.mode.value, ignore=list(route.ignore), sample=route.sample,
                    side_effects=route.side_effects.value)


@router.get("/report", responses=error_responses(401, 404, 422, 429, 503))
async def legacy_report(
    legacy: LegacyDep, clock: ClockDep,
    hours: Annotated[float, Query(gt=0, le=24 * 366, description="the window, in hours back from now")] = 24.0,
    route: Annotated[str | None, Query(max_length=256, description="only this route (its name)")] = None,
    recent: Annotated[int, Query(ge=0, le=100, description="disagreements shown per route")] = 5,
) -> LegacyReportOut:
    reports = await store.report(legacy.shadow.database, now=clock.now(), hours=hours, route=route, recent=recent)
    return LegacyReportOut(hours=hours, routes=[RouteReportOut(**entry.as_json()) for entry in reports])


@router.get("/routes", responses=error_responses(401, 404, 429, 503))
async def legacy_routes(legacy: LegacyDep) -> RouteTableOut:
    return RouteTableOut(routes=[_route_out(route) for route in legacy.routes.current.routes])


@router.post("/routes/reload", responses=error_responses(401, 404, 422, 429, 503))
async def reload_legacy_routes(legacy: LegacyDep) -> RouteTableOut:
    try:
        table = legacy.routes.reload()
    except RouteTableError as exc:
        raise UnprocessableError(f"route table refused, the one in use is kept: {exc}") from exc
    return RouteTableOut(routes=[_route_out(route) for route in table.routes])
