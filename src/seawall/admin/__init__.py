"""Operator routes, behind `SEAWALL_ADMIN_API_KEY` (absent, 404, when no key is set).

- `jobs.py`: `/admin/jobs` — list, stats, show and replay jobs (the dead-letter queue);
- `payments.py`: `/admin/providers` — breaker, bulkhead and retry budget of each payment route.

The job engine (`seawall.jobs`) has no HTTP code: these routes call its library functions.
`router` gathers them for `app.py` to mount.
"""

from fastapi import APIRouter

from seawall.admin.jobs import router as jobs_router
from seawall.admin.payments import router as payments_router

router = APIRouter()
router.include_router(jobs_router)
router.include_router(payments_router)

__all__ = ["router"]
