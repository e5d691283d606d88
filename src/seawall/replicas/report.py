"""What `seawall doctor` says about the read replica: configured?, reachable and in recovery?, its lag.

`replica_report(settings)` checks once (`health.measure`, bounded by its timeout) on an engine of its own,
disposed before it returns. `ok` is False when the replica is configured but down or not in recovery
(reads then all go to the primary); a replica lagging past the bound is `ok` with `reads_go_to: primary`.
"""

from __future__ import annotations

from seawall.config import Settings
from seawall.replicas.engine import ReplicaEngine
from seawall.replicas.health import measure


async def replica_report(settings: Settings) -> dict[str, object]:
    replica = ReplicaEngine.build(settings)
    if replica is None:
        return {"configured": False, "ok": True,
                "detail": "SEAWALL_DATABASE_REPLICA_URL is not set: every read goes to the primary"}
    try:
        state = await measure(replica, max_lag_seconds=settings.database_replica_max_lag_seconds)
    finally:
        await replica.dispose()
    report: dict[str, object] = {
        "configured": True, "url": replica.url_text, "ok": state.verdict != "replica_down",
        "in_recovery": state.in_recovery, "lag_seconds": state.lag_seconds,
        "max_lag_seconds": settings.database_replica_max_lag_seconds,
        "reads_go_to": "replica" if state.verdict == "usable" else f"primary ({state.verdict})",
    }
    if state.error:
        report["error"] = state.error
    return report
