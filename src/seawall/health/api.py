"""`/livez`: the process answers. `/readyz`: it should get traffic (database reachable, not draining)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from seawall.web.deps import DatabaseDep, LifecycleDep

router = APIRouter(tags=["health"])


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(database: DatabaseDep, lifecycle: LifecycleDep) -> JSONResponse:
    checks: dict[str, str] = {}
    if lifecycle.draining:
        checks["draining"] = "shutting down"
    try:
        await database.ping()
        checks["database"] = "ok"
    except Exception as exc:  # reported, not raised: readiness is an answer, not an error
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = checks.get("database") == "ok" and not lifecycle.draining
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)
