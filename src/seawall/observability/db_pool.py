"""Metrics of the database connection pool (PostgreSQL's and SQLite's alike: both use SQLAlchemy's
`AsyncAdaptedQueuePool`, `database_pool_size` connections, no overflow beyond SQLAlchemy's default).

- `seawall_db_pool_in_use`: connections checked out now (the pool's `checkout`/`checkin` events; on
  SQLite the writing and the reading engine's pools add up). Summed over live processes.
- `seawall_db_pool_waits_total`: checkouts that found no idle connection in the pool, so had to open
  one (the pool grows up to its size lazily, so each process's first few checkouts count) or wait for
  one to come back; `seawall_db_pool_wait_seconds`: how long those checkouts took, from asking the
  pool to holding a connection (opening it included; a checkout that timed out counts with its wait).
  SQLAlchemy has no event before a checkout, so `MeteredPool` measures inside the pool's own
  `_do_get` (where QueuePool hands out an idle connection, opens one, or blocks), which sees the
  number of idle connections at the moment of asking.
`pool_class(url)` is the pool for an engine when metrics are on (None: SQLAlchemy's default, e.g.
SQLite `:memory:`'s single static connection); `meter_pool(engine)` adds the in-use listeners.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from seawall.observability.metrics import METRICS


class MeteredPool(AsyncAdaptedQueuePool):
    # Log under SQLAlchemy's own pool logger (quiet unless asked for), not a `seawall.*` name.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def _do_get(self) -> ConnectionPoolEntry:
        if self.checkedin() > 0:  # an idle connection is there to take
            return super()._do_get()
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            METRICS.db_pool_waits.inc()
            METRICS.db_pool_wait_duration.observe(time.perf_counter() - started)


def pool_class(url: str) -> type[MeteredPool] | None:
    return None if ":memory:" in url or "mode=memory" in url else MeteredPool


def _checked_out(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    METRICS.db_pool_in_use.inc()


def _checked_in(_dbapi_connection: Any, _record: Any) -> None:
    METRICS.db_pool_in_use.dec()


def meter_pool(engine: Engine) -> None:
    """Count `engine`'s (a sync engine's) checked-out connections in `seawall_db_pool_in_use`."""
    event.listen(engine, "checkout", _checked_out)
    event.listen(engine, "checkin", _checked_in)
