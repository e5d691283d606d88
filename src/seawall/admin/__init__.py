"""Operator routes, behind an operator key (`web.deps.AdminDep`; absent, 404, when no key is set).
A `read` key may call the GET routes, an `operate` key every route, a `metrics` key none (403); every
call is audited.

- `jobs.py`: `/admin/jobs` — list, stats, show and replay jobs (the dead-letter queue);
- `payments.py`: `/admin/providers` — breaker, bulkhead and retry budget of each payment route;
- `audit.py`: `/admin/audit-events` — the audit log, newest first;
- `legacy.py`: `/admin/legacy` — the legacy bridge's shadow report and route table (reload).

The job engine (`seawall.jobs`) has no HTTP code: these routes call its library functions.
`router` gathers them (`ROUTERS`) for `app.py` to mount.
"""

from fastapi import APIRouter
from fastapi.routing import APIRoute

from seawall.admin.audit import router as audit_router
from seawall.admin.jobs import router as jobs_router
from seawall.admin.legacy import router as legacy_router
from seawall.admin.payments import router as payments_router
from seawall.web.errors import error_responses

ROUTERS = (jobs_router, payments_router, audit_router, legacy_router)


def _declare_scope_refusal(admin_router: APIRouter) -> None:
    """Every admin route answers 403 to a key whose scope does not reach it (`metrics` reaches none,
    `read` only GET): declare it on each (also on routes added later), so the OpenAPI document lists
    every status the route can answer."""
    for route in admin_router.routes:
        if isinstance(route, APIRoute):
            route.responses.setdefault(403, error_responses(403)[403])


router = APIRouter()
for _admin_router in ROUTERS:
    _declare_scope_refusal(_admin_router)
    router.include_router(_admin_router)

__all__ = ["router"]
