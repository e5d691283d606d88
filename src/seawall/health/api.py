"""`/livez`: the process answers. `/readyz`: it should get traffic (database reachable, not draining)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from seawall.web.deps import DatabaseDep, LifecycleDep

router = APIRouter(tags=["health"])


class ReadinessOut(BaseModel):
    """`status`: "ready" or "not_ready"; `checks`: each check ("database", "draining") and its finding."""

    status: str
    checks: dict[str, str]


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None,
            responses={200: {"model": ReadinessOut, "description": "Ready for traffic"},
                       503: {"model": ReadinessOut, "description": "Not ready: draining, or the database unreachable"}})
async def readyz(database: DatabaseDep, lifecycle: LifecycleDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await database.ping()
        checks["database"] = "ok"
    except Exception as exc:  # reported, not raised: readiness is an answer, not an error
        checks["database"] = f"unreachable: {type(exc).__name__}"
    # Read once, after the ping: SIGTERM may land while it awaits, and the answer must say why it is 503.
    draining = lifecycle.draining
    if draining:
        checks["draining"] = "shutting down"
    ready = checks["database"] == "ok" and not draining
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)
