"""Operator routes, behind an operator key (`web.deps.AdminDep`; absent, 404, when no key is set).
A `read` key may call the GET routes, an `operate` key every route; every call is audited.

- `jobs.py`: `/admin/jobs` — list, stats, show and replay jobs (the dead-letter queue);
- `payments.py`: `/admin/providers` — breaker, bulkhead and retry budget of each payment route;
- `audit.py`: `/admin/audit-events` — the audit log, newest first.

The job engine (`seawall.jobs`) has no HTTP code: these routes call its library functions.
`router` gathers them for `app.py` to mount.
"""

from fastapi import APIRouter

from seawall.admin.audit import router as audit_router
from seawall.admin.jobs import router as jobs_router
from seawall.admin.payments import router as payments_router

router = APIRouter()
router.include_router(jobs_router)
router.include_router(payments_router)
router.include_router(audit_router)

__all__ = ["router"]
