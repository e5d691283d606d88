"""The metric catalogue: every Prometheus series Seawall exports, named once, in one place.

Call sites update metrics through the one `METRICS` object, looked up at use time
(`METRICS.jobs_started.labels(kind=..., queue=...).inc()`), never by keeping a metric in a
module-level name: `install()` rebuilds the catalogue once per process, after the process knows
whether it runs in prometheus-client's multiprocess mode (`uvicorn --workers N`, where one scrape
must add up every serving process's values from files in a shared directory).

Names follow Prometheus's conventions (https://prometheus.io/docs/practices/naming/): base units
(seconds, bytes), `_total` for counters (prometheus-client adds it), labels with few values only
(route templates, never raw paths; kinds, queues and providers, never ids).

`deploy/` (the Grafana dashboard and the alert rules) and `docs/operations.md` name these series; a
test checks that every series they name is one this catalogue exports.

Gauges say how multiprocess mode combines the values of several processes (`multiprocess_mode`):
`livesum` for things each process holds a share of, `livemax`/`livemin` for the worst process.
Series computed at scrape time from the database are not here but in `observability/queue_stats.py`,
with these names: `seawall_queue_jobs{queue, state}` (state: due, scheduled, running, dead; `dead` is
the dead-letter queue's size) and `seawall_queue_oldest_due_age_seconds{queue}` (how long the oldest
due job has waited; 0 when none is due). `seawall_build_info{version}` is 1.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Request latencies of a few milliseconds matter: the first buckets are 1, 2.5 and 5 ms. The SLO
# latency threshold (`deploy/prometheus`: 99 % of requests under 500 ms) must be one of the bounds.
HTTP_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Jobs and provider calls: from milliseconds (a local write) to the 30 s total provider timeout.
TASK_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# How long a due job waits for the relay to have the broker confirm it.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# Values of the `outcome` label of `seawall_jobs_finished_total`.
JOB_OUTCOMES = ("succeeded", "retried", "deferred", "dead", "released", "lease_lost")
# Values of the `outcome` label of the provider call series: the call's class, as the breaker sees it.
#   success  the provider answered as designed (a card decline included)
#   error    the provider failed (connection refused, 5xx, ...): counts toward opening the breaker
#   timeout  no answer within the total timeout: the outcome at the provider is unknown
#   rejected not sent: the breaker was open or the bulkhead full (see the bulkhead/breaker series)
PROVIDER_OUTCOMES = ("success", "error", "timeout", "rejected")
# Values of the `outcome` label of `seawall_payments_total` (a canceled intent settles as failed).
PAYMENT_OUTCOMES = ("succeeded", "failed")
# Values of the `outcome` label of `seawall_routine_runs_total` (`maintenance.models.RunOutcome`).
ROUTINE_OUTCOMES = ("ok", "problems", "error")
# Values of the `reason` label of `seawall_db_reads_total` (`replicas.routing`): why a read went where it did.
#   replica           the replica was healthy and the user had not written lately
#   read_your_writes  the user wrote within SEAWALL_DATABASE_REPLICA_READ_YOUR_WRITES_SECONDS: primary
#   marks_unavailable the user's read-your-writes mark could not be looked up (Redis unreachable): primary
#   replica_down      the replica did not answer its check, or is not in recovery: primary
#   replica_lagging   its lag behind the primary's WAL position exceeded SEAWALL_DATABASE_REPLICA_MAX_LAG_SECONDS
#   replica_error     the read failed on the replica and was served by the primary
#   not_configured    no SEAWALL_DATABASE_REPLICA_URL: primary
READ_REASONS = ("replica", "read_your_writes", "marks_unavailable", "replica_down", "replica_lagging", "replica_error",
                "not_configured")
# `seawall_breaker_state`: the numeric value of each state.
BREAKER_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    """Every metric, registered in `registry` (the default registry in production; a private one in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry

        # -- HTTP (RED per route template) ----------------------------------------------------------
        self.http_requests = Counter(
            "seawall_http_requests", "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"], registry=r)
        self.http_request_duration = Histogram(
            "seawall_http_request_duration_seconds", "Time from the request's arrival to the last byte of "
            "its answer, by route template.", ["method", "route"], buckets=HTTP_LATENCY_BUCKETS, registry=r)

        # -- overload: requests shed, queue slots (issue 14) -------------------------------------------
        self.http_requests_shed = Counter(
            "seawall_http_requests_shed", "Requests answered 503 `overloaded` at once because the process "
            "already had its maximum in flight (`SEAWALL_MAX_IN_FLIGHT_REQUESTS`).", registry=r)
        self.http_requests_in_flight = Gauge(
            "seawall_http_requests_in_flight", "Requests being served now (probes excluded), summed over "
            "the serving processes.", multiprocess_mode="livesum", registry=r)
        self.worker_slots_in_use = Gauge(
            "seawall_worker_slots_in_use", "Jobs running now, by queue (each queue's worker slots taken; "
            "`SEAWALL_WORKER_QUEUE_CONCURRENCY`).", ["queue"], multiprocess_mode="livesum", registry=r)

        # -- jobs --------------------------------------------------------------------------------------
        self.jobs_enqueued = Counter(
            "seawall_jobs_enqueued", "Jobs written to the outbox (a dedup-key hit is not counted).",
            ["kind", "queue"], registry=r)
        self.jobs_started = Counter(
            "seawall_jobs_started", "Job attempts started by a worker.", ["kind", "queue"], registry=r)
        self.jobs_finished = Counter(
            "seawall_jobs_finished", "Job attempts finished, by outcome: " + ", ".join(JOB_OUTCOMES) + ".",
            ["kind", "queue", "outcome"], registry=r)
        self.job_duration = Histogram(
            "seawall_job_duration_seconds", "Time a job attempt's handler ran, by outcome.",
            ["kind", "queue", "outcome"], buckets=TASK_LATENCY_BUCKETS, registry=r)

        # -- the RabbitMQ relay ------------------------------------------------------------------------
        self.relay_published = Counter(
            "seawall_relay_published", "Job messages the broker confirmed.", ["queue"], registry=r)
        self.relay_publish_lag = Histogram(
            "seawall_relay_publish_lag_seconds", "Time from a job being due to the broker confirming its "
            "message.", ["queue"], buckets=LAG_BUCKETS, registry=r)

        # -- providers and the resilience policy ---------------------------------------------------------
        self.provider_calls = Counter(
            "seawall_provider_calls", "Calls to an outside provider, by outcome class: "
            + ", ".join(PROVIDER_OUTCOMES) + ".", ["provider", "outcome"], registry=r)
        self.provider_call_duration = Histogram(
            "seawall_provider_call_duration_seconds", "Time a provider call took (rejected calls excluded).",
            ["provider", "outcome"], buckets=TASK_LATENCY_BUCKETS, registry=r)
        self.breaker_state = Gauge(
            "seawall_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open (the worst process).",
            ["provider"], multiprocess_mode="livemax", registry=r)
        self.breaker_transitions = Counter(
            "seawall_breaker_transitions", "Circuit breaker state changes.", ["provider", "from_state", "to_state"],
            registry=r)
        self.bulkhead_in_use = Gauge(
            "seawall_bulkhead_in_use", "Provider calls in flight (bulkhead slots taken).", ["provider"],
            multiprocess_mode="livesum", registry=r)
        self.bulkhead_rejections = Counter(
            "seawall_bulkhead_rejections", "Provider calls refused because the bulkhead was full.", ["provider"],
            registry=r)
        self.breaker_rejections = Counter(
            "seawall_breaker_rejections", "Provider calls refused because the breaker was open.", ["provider"],
            registry=r)
        self.retry_budget_tokens = Gauge(
            "seawall_retry_budget_tokens", "Tokens left in the provider's retry budget (the lowest process).",
            ["provider"], multiprocess_mode="livemin", registry=r)

        # -- domains -------------------------------------------------------------------------------------
        self.payments = Counter(
            "seawall_payments", "Payments that reached a final state: succeeded, failed (declined, refused "
            "or canceled).", ["outcome"], registry=r)
        for outcome in PAYMENT_OUTCOMES:  # exported at 0 from the start: rate() sees the first failure
            self.payments.labels(outcome=outcome)
        self.webhook_endpoints_disabled = Counter(
            "seawall_webhook_endpoints_disabled", "Webhook endpoints disabled automatically after failing "
            "deliveries.", registry=r)

        # -- the edge: idempotency, rate limits, caches --------------------------------------------------
        self.idempotency_requests = Counter(
            "seawall_idempotency_requests", "Requests carrying an Idempotency-Key, by outcome: new, replayed "
            "(the stored answer), conflict (same key, other request), in_progress (the first is still running).",
            ["outcome"], registry=r)
        self.rate_limit_rejections = Counter(
            "seawall_rate_limit_rejections", "Requests refused with 429 (or 503 when the limiter is down), by "
            "policy.", ["policy"], registry=r)
        self.cache_requests = Counter(
            "seawall_cache_requests", "Cache lookups, by cache (read, session) and result (hit, miss).",
            ["cache", "result"], registry=r)

        # -- maintenance: retention and routine checks (issue 14) ----------------------------------------
        self.routine_runs = Counter(
            "seawall_routine_runs", "Runs of the routine checks (routine: reconcile, ledger, purge), by outcome: "
            + ", ".join(ROUTINE_OUTCOMES) + ".", ["routine", "outcome"], registry=r)
        self.ledger_problems_found = Counter(
            "seawall_ledger_problems_found", "Problems the routine ledger check found (an unbalanced transaction, "
            "a payment or refund the ledger disagrees with); counted again at every check while they last.",
            registry=r)
        self.retention_purged_rows = Counter(
            "seawall_retention_purged_rows", "Rows deleted by the retention purge, by table.", ["table"], registry=r)
        # -- the legacy bridge's shadow calls (legacy.shadow; result: legacy.compare.Result) ----------------
        self.legacy_shadow = Counter(
            "seawall_legacy_shadow", "Shadow calls of shadowed legacy routes, by route and how the answers "
            "compared (agreed, status_differs, body_differs, not_compared, seawall_error, dropped).",
            ["route", "result"], registry=r)

        # -- the database pool ---------------------------------------------------------------------------
        self.db_pool_in_use = Gauge(
            "seawall_db_pool_in_use", "Database connections checked out of the pool.",
            multiprocess_mode="livesum", registry=r)
        self.db_pool_waits = Counter(
            "seawall_db_pool_waits", "Checkouts that found no idle connection and had to wait or open one.",
            registry=r)
        # -- the read replica (issue 15: seawall/replicas) ------------------------------------------------
        self.db_reads = Counter(
            "seawall_db_reads", "User-facing reads that may be stale, by where they went (target: replica, "
            "primary) and why (reason: " + ", ".join(READ_REASONS) + ").", ["target", "reason"], registry=r)
        self.db_replica_lag = Gauge(
            "seawall_db_replica_lag_seconds", "The read replica's replay lag at its last check: how long ago "
            "the primary was at a WAL position the replica has not replayed (0 when it has replayed up to the "
            "primary's position); the worst process's figure.", multiprocess_mode="livemax", registry=r)
        self.db_replica_fallback = Gauge(
            "seawall_db_replica_fallback", "1 while this process sends the reads meant for the read replica to "
            "the primary because of the replica (down, not in recovery or lagging), else 0; the worst process's "
            "figure.", multiprocess_mode="livemax", registry=r)
        self.db_pool_wait_duration = Histogram(
            "seawall_db_pool_wait_seconds", "Time a checkout waited for a connection.",
            buckets=TASK_LATENCY_BUCKETS, registry=r)


# The process's catalogue. Before `install()` (unit tests, tools) it counts in memory, unexported.
METRICS = Metrics(CollectorRegistry(auto_describe=True))


def rebuild(registry: CollectorRegistry | None) -> None:
    """Replace every metric of `METRICS` in place (same object; call sites look attributes up at use)."""
    METRICS.__init__(registry)  # type: ignore[misc]
