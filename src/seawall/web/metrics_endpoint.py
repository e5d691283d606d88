"""`GET /metrics` on the API (mounted when metrics are on and no `SEAWALL_METRICS_PORT` is set).

Behind an operator key (`Authorization: Bearer <key>`, `seawall.operator_keys`): a key of scope
`metrics` (made for a Prometheus server: it opens no /admin route), `read` or `operate`. 404 while no
operator key is configured; 401 for a missing or unknown key (an unknown key is audited as
`operator.key_refused`, as on /admin). A successful scrape is not audited: Prometheus scrapes every
few seconds, and a scrape must keep answering while the database is down.

The answer is the process's scrape registry (`METRICS_SCRAPE`, filled by the app factory): in
multiprocess mode every serving process's metrics added up, plus the queue statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry

from seawall import audit
from seawall.config import reveal
from seawall.errors import NotFoundError, UnauthorizedError
from seawall.observability.exposition import render
from seawall.observability.queue_stats import QueueStats
from seawall.operator_keys import key_ring
from seawall.web.deps import BearerDep, ClockDep, DatabaseDep, SettingsDep
from seawall.web.errors import error_responses
from seawall.web.services import ServiceSlot


@dataclass(frozen=True)
class Scrape:
    """What `GET /metrics` renders: the registry, and the collector to refresh before rendering."""

    registry: CollectorRegistry
    queue_stats: QueueStats | None = None


METRICS_SCRAPE: ServiceSlot[Scrape] = ServiceSlot("metrics_scrape")
ScrapeDep = Annotated[Scrape, Depends(METRICS_SCRAPE)]


async def require_scrape_key(request: Request, settings: SettingsDep, credentials: BearerDep,
                             database: DatabaseDep, clock: ClockDep) -> None:
    ring = key_ring(reveal(settings.operator_keys), reveal(settings.admin_api_key))
    if not ring.keys:
        raise NotFoundError("/metrics needs an operator key (SEAWALL_OPERATOR_KEYS), or set SEAWALL_METRICS_PORT")
    key = ring.find(credentials.credentials) if credentials is not None else None
    if key is None:
        if credentials is not None:
            await audit.record_apart(database, audit.AuditEntry(
                action="operator.key_refused", outcome=UnauthorizedError.error_type, actor_type="operator",
                route=f"{request.method} /metrics"), clock=clock)
        raise UnauthorizedError("an operator API key is required (scope metrics, read or operate)")


router = APIRouter(tags=["operations"])

TEXT_FORMAT = {"text/plain": {"schema": {"type": "string"}}}


@router.get("/metrics", response_class=Response, dependencies=[Depends(require_scrape_key)],
            responses={200: {"description": "Prometheus text format (OpenMetrics when `Accept` asks for it)",
                             "content": TEXT_FORMAT},
                       **error_responses(401, 404)})
async def metrics(request: Request, scrape: ScrapeDep) -> Response:
    """Every metric of the API's processes, for Prometheus (see docs/configuration.md, Metrics)."""
    if scrape.queue_stats is not None:
        await scrape.queue_stats.refresh()
    body, content_type = render(scrape.registry, request.headers.get("accept"))
    return Response(content=body, headers={"Content-Type": content_type})
