"""What `seawall doctor` says about the read replica: configured?, reachable and in recovery?, its lag.

`replica_report(settings, primary)` measures on a replica engine of its own, disposed before it returns, with
the checks of `ReplicaHealth` (the lag against the primary's WAL position): one check, then one every
`POLL_SECONDS` while the replica is usable but behind, until it has replayed up to the primary's position,
turns out down or lagging past the bound, or `SEAWALL_DATABASE_REPLICA_MAX_LAG_SECONDS` have passed (so at
most that long plus the checks' timeouts). `ok` is False when the replica is configured but down or not in
recovery (reads then all go to the primary); a replica lagging past the bound is `ok` with
`reads_go_to: primary`.
"""

from __future__ import annotations

import asyncio
import time

from seawall.config import Settings
from seawall.db import Database
from seawall.replicas.engine import ReplicaEngine
from seawall.replicas.health import ReplicaHealth

POLL_SECONDS = 0.1


async def replica_report(settings: Settings, primary: Database) -> dict[str, object]:
    replica = ReplicaEngine.build(settings)
    if replica is None:
        return {"configured": False, "ok": True,
                "detail": "SEAWALL_DATABASE_REPLICA_URL is not set: every read goes to the primary"}
    max_lag = settings.database_replica_max_lag_seconds
    health = ReplicaHealth(replica, primary=primary, max_lag_seconds=max_lag, check_interval_seconds=POLL_SECONDS)
    try:
        started = time.monotonic()
        state = await health.measure()
        while (state.verdict == "usable" and state.lag_seconds and state.primary_error is None
               and time.monotonic() - started < max_lag):
            await asyncio.sleep(POLL_SECONDS)
            state = await health.measure()
            health.state = state
    finally:
        await replica.dispose()
    report: dict[str, object] = {
        "configured": True, "url": replica.url_text, "ok": state.verdict != "replica_down",
        "in_recovery": state.in_recovery, "lag_seconds": state.lag_seconds, "max_lag_seconds": max_lag,
        "reads_go_to": "replica" if state.verdict == "usable" else f"primary ({state.verdict})",
    }
    if state.error:
        report["error"] = state.error
    if state.primary_error:
        report["primary_error"] = state.primary_error
    return report
