"""One typed settings object, read once from `SEAWALL_*` environment variables.

Nothing reads the environment anywhere else. With no variables set, Seawall runs embedded: a SQLite
file under `./var/` and everything else in process.
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from seawall.legacy.keys import parse_signing_keys
from seawall.legacy.routes import load_table
from seawall.legacy.upstream import parse_upstream
from seawall.operator_keys import key_ring, parse_operator_keys

FIVE_DAYS_SECONDS = 5 * 24 * 3600.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_SCHEMES = ("postgresql+asyncpg", "sqlite+aiosqlite")
# A browser origin (RFC 6454): scheme, host, optional port; no path, no wildcard.
_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's cpuset), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parse_queue_slots(text: str) -> dict[str, int]:
    """`SEAWALL_WORKER_QUEUE_CONCURRENCY`'s `queue=slots,...` as {queue: slots}; blanks ignored.
    Raises `ValueError` for an entry that is not `name=positive integer`, or a queue named twice."""
    caps: dict[str, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, equals, number = (piece.strip() for piece in entry.partition("="))
        if not equals or not name or not number.isdigit() or int(number) < 1:
            raise ValueError(f"not `queue=slots` with slots >= 1: {entry!r}")
        if name in caps:
            raise ValueError(f"queue {name!r} is named twice")
        caps[name] = int(number)
    return caps


class SettingError(ValueError):
    """A setting that cannot work as given (checked beyond its type, e.g. a key required in server
    mode). `variable` names the environment variable; the CLI prints `seawall: <message>`, exit 2."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable


def is_secret_field(field: FieldInfo) -> bool:
    """A field typed `SecretStr` (or `SecretStr | None`)."""
    def holds_secret(annotation: Any) -> bool:
        if annotation is SecretStr:
            return True
        origin = typing.get_origin(annotation)
        return origin in (typing.Union, types.UnionType) and any(holds_secret(a) for a in typing.get_args(annotation))

    return holds_secret(field.annotation)


def reveal(value: SecretStr | str | None) -> str | None:
    """The plain text of a secret setting, at the one place it is used (a settings copy made with
    `model_copy(update=...)` may hold a plain `str`)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class SecretFileSource(PydanticBaseSettingsSource):
    """Every `SecretStr` setting `SEAWALL_X` may instead be read from the file named by
    `SEAWALL_X_FILE` (Docker and Kubernetes secrets): its whole content, less one trailing newline.

    Both variables set is a `SettingError` naming both; a file that cannot be read is a
    `SettingError` naming the variable and the OS's reason (never the content). Values given to
    the constructor win over both (this source only fills what they leave out).
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.config.get("env_prefix", "")).upper()
        environment = {name.upper(): value for name, value in os.environ.items()}
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            if not is_secret_field(field) or field_name in self.current_state:
                continue
            variable = f"{prefix}{field_name.upper()}"
            path = environment.get(f"{variable}_FILE")
            if path is None:
                continue
            if variable in environment:
                raise SettingError(f"{variable} and {variable}_FILE",
                                   "are both set: set one (the value, or the file that holds it)")
            found[field_name] = read_secret_file(f"{variable}_FILE", path)
        return found


def read_secret_file(variable: str, path: str) -> str:
    """The content of a secret file less one trailing newline (`\n` or `\r\n`)."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingError(variable, f"names a file that cannot be read ({reason})") from None
    if content.endswith("\r\n"):
        return content[:-2]
    return content[:-1] if content.endswith("\n") else content


class SeawallSettings(BaseSettings):
    """Adds `SecretFileSource` below the constructor's values and above the environment."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, SecretFileSource(settings_cls), env_settings, dotenv_settings, file_secret_settings)


class WebhookSettings(SeawallSettings):
    model_config = SettingsConfigDict(env_prefix="SEAWALL_WEBHOOKS_", extra="ignore", allow_inf_nan=False)

    # SSRF guard: private, loopback, link-local, CGNAT... destinations are refused unless this is set
    # (tests and the sandbox set it; production never should).
    allow_private: bool = False
    # The published retry schedule, multiplied by this (e.g. 0.001 to run it in seconds in tests).
    schedule_scale: float = Field(default=1.0, gt=0, le=1.0)
    # Up to this fraction of each scheduled delay is added at random, so retries do not arrive in waves.
    schedule_jitter: float = Field(default=0.1, ge=0, le=1.0)
    # An endpoint whose every attempt has failed for this long is disabled.
    disable_after_seconds: float = Field(default=FIVE_DAYS_SECONDS, gt=0)
    # How long an endpoint is slowed down after 429/502/503/504 without a Retry-After (scaled too).
    throttle_seconds: float = Field(default=60.0, ge=0)
    # A Retry-After longer than this is cut to it.
    max_retry_after_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Per attempt: connecting, and the whole request (the spec recommends 15-30 s).
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=15.0, gt=0)
    # Bulkhead: concurrent deliveries to one host from this process.
    max_concurrent_per_host: int = Field(default=4, ge=1)
    max_endpoints_per_user: int = Field(default=20, ge=1)


class Settings(SeawallSettings):
    # populate_by_name: `Settings(mail_drop_dir=...)` by field name, as every other field.
    model_config = SettingsConfigDict(env_prefix="SEAWALL_", extra="ignore", allow_inf_nan=False,
                                      populate_by_name=True)

    # Where state lives. Unset database URL -> SQLite file in `var_dir`.
    var_dir: Path = Path("var")
    # Secret: may hold a password (also `SEAWALL_DATABASE_URL_FILE`); printed only with the password masked.
    database_url: SecretStr | None = None
    database_pool_size: int = Field(default=10, ge=1)
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # PostgreSQL: how long opening one connection may take (TCP, TLS, authentication) before it fails;
    # asyncpg's own default is 60 s, long for a migration Job or a start-up check facing a dead server.
    database_connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Test each pooled connection with a round trip before use (SQLAlchemy's "pessimistic" handling).
    # Off: a connection broken by a database restart fails the one statement that finds it (503),
    # and the pool then drops every connection older than the failure.
    database_pool_pre_ping: bool = False
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)

    # Read replica (issue 15: seawall/replicas): reads that may be stale go to a streaming replica of the
    # PostgreSQL primary; a user's reads right after their own write, and every read while the replica is
    # down or lagging, go to the primary.
    # A PostgreSQL URL like SEAWALL_DATABASE_URL (also `SEAWALL_DATABASE_REPLICA_URL_FILE`); only with a
    # PostgreSQL primary. Unset: every read goes to the primary, as without this feature.
    database_replica_url: SecretStr | None = None
    # Reads go to the primary while the replica's last measured replay lag is above this.
    database_replica_max_lag_seconds: float = Field(default=5.0, gt=0, le=3600)
    # How often each process measures the replica's lag and health (one short query; no query per request).
    database_replica_check_interval_seconds: float = Field(default=1.0, gt=0, le=300)
    # Read-your-writes: a signed-in user's reads go to the primary for this long after a request of theirs
    # that wrote. Must exceed max lag + check interval (a replica read then always sees the write).
    database_replica_read_your_writes_seconds: float = Field(default=10.0, gt=0, le=24 * 3600)

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Serving processes of `seawall api` / `seawall serve` (uvicorn's own multi-process mode; `--workers`
    # overrides). Unset: the CPU count in server mode; 1 on the embedded SQLite file, whose one write lock
    # is not shared fairly across processes and whose in-process read cache only its own process's
    # worker invalidates (with more than one process and no Redis that cache is switched off).
    web_workers: int | None = Field(default=None, ge=1, le=256)
    # Operator keys for /admin (see `seawall.operator_keys`): `name:scope:sha256-hex` entries, scope
    # read or operate, comma/whitespace separated. Several valid at once = rotation. Admin routes are off
    # (404) while neither this nor `admin_api_key` is set.
    operator_keys: SecretStr | None = None
    admin_api_key: SecretStr | None = None  # one more operator key, named `admin`, scope operate
    # Browser origins allowed to call the API cross-origin (CORS), comma separated, each
    # `scheme://host[:port]` as the browser sends it in `Origin`. Empty (the default): none.
    cors_allowed_origins: str = Field(default="", max_length=4096)
    # `Strict-Transport-Security: max-age=<this>` on every answer of Seawall's own, and on each answer
    # the legacy bridge forwards that carries none of its own; 0 (the default) sends none. Set it only
    # when every client reaches the API over HTTPS (a TLS proxy in front), e.g. 31536000 (a year).
    hsts_max_age_seconds: int = Field(default=0, ge=0, le=2 * 365 * 24 * 3600)
    # Test tooling: append each (method, route, status) the app answers to JSON lines in this directory,
    # for the suite's check of the OpenAPI schema (see `web.response_record`). Production leaves it unset.
    record_responses_dir: Path | None = None
    secret_key: SecretStr | None = None  # derives reset tokens; embedded mode keeps one in var_dir

    # Job engine
    worker_queues: str = "default,notifications,payments,webhooks,maintenance"
    worker_concurrency: int = Field(default=8, ge=1)
    job_lease_seconds: float = Field(default=30.0, gt=0)
    job_poll_interval_seconds: float = Field(default=0.25, gt=0)
    job_backoff_base_seconds: float = Field(default=1.0, gt=0)
    job_backoff_cap_seconds: float = Field(default=600.0, gt=0)
    job_modules: str = ""  # extra modules to import so their job handlers register (comma separated)

    # Graceful shutdown (issue 14: cli/roles.py, web/shutdown)
    # On SIGTERM/SIGINT a serving process answers /readyz 503 at once and keeps serving normally for
    # `shutdown_readiness_delay` seconds (load balancers stop routing to it), then stops accepting; in-flight
    # requests get `shutdown_timeout` seconds after that, and a worker's running jobs `shutdown_timeout`
    # seconds from the signal before they are handed back. A stop takes at most delay + timeout (+ closing
    # pools): the defaults, 5 + 20, fit Kubernetes' default 30 s grace period. See docs/operations.md.
    shutdown_timeout: float = Field(default=20.0, ge=0, le=3600)
    shutdown_readiness_delay: float = Field(default=5.0, ge=0, le=300)
    # Deprecated old name of `shutdown_timeout` (jobs only), still read when SEAWALL_SHUTDOWN_TIMEOUT is unset.
    job_drain_timeout_seconds: float | None = Field(default=None, ge=0, le=3600)

    # Overload: in-flight limit per API process and per-queue worker slots (issue 14: web/load_shedding, jobs)
    # Requests one API process works on at once (probes excluded); beyond it, 503 `overloaded` with
    # `Retry-After: overload_retry_after_seconds` at once, instead of queueing (web/load_shedding).
    max_in_flight_requests: int = Field(default=100, ge=1, le=100_000)
    overload_retry_after_seconds: int = Field(default=1, ge=1, le=3600)
    # Worker slots one queue may take, `queue=slots,...` (jobs/slots); a queue not named may take half the
    # worker's slots (rounded up; all of them in a worker of one queue), so one slow queue cannot take them
    # all. A cap above the worker's slots is moot.
    worker_queue_concurrency: str = Field(default="", max_length=4096)

    # Retention and routine checks (issue 14: seawall/maintenance)
    # Finished work is purged by the `maintenance` queue's periodic jobs once it is older than these
    # (days after it finished or ended), and never before SEAWALL_IDEMPOTENCY_TTL_HOURS has passed since
    # its last change (see `seawall.maintenance.retention`). Each table is purged in batches of
    # `retention_batch_size` rows, one short transaction per batch, at most `retention_max_rows_per_run`
    # rows per table per run (every 5 minutes); the rest waits for the next run.
    retention_jobs_days: float = Field(default=7.0, ge=1, le=3660)  # succeeded jobs and their attempts
    # Dead-lettered jobs (the DLQ, replayable): unset keeps them until an operator replays or purges them.
    retention_dead_jobs_days: float | None = Field(default=None, ge=1, le=3660)
    retention_sessions_days: float = Field(default=7.0, ge=0, le=3660)  # after the session ended
    retention_notifications_days: float = Field(default=90.0, ge=1, le=3660)  # sent or failed ones
    retention_webhook_deliveries_days: float = Field(default=30.0, ge=1, le=3660)  # succeeded or failed ones
    retention_routine_runs_days: float = Field(default=30.0, ge=1, le=3660)  # the routine checks' own records
    retention_batch_size: int = Field(default=500, ge=1, le=10_000)
    retention_max_rows_per_run: int = Field(default=50_000, ge=1, le=10_000_000)

    # Idempotency
    idempotency_ttl_hours: float = Field(default=24.0, ge=24.0, le=24.0 * 366)  # a year at most

    # Accounts
    # A session ends `session_ttl_hours` after login however much it is used (absolute), and after
    # `session_idle_minutes` without a request (idle; OWASP ASVS 3.3). The last use is written at most
    # every min(idle / 24, 5 min) per session, so a session can end up to that much before the idle
    # window has fully passed, never after.
    session_ttl_hours: float = Field(default=24.0 * 14, gt=0, le=24.0 * 366)  # a year at most
    session_idle_minutes: float = Field(default=24.0 * 60, ge=1, le=24.0 * 60 * 90)
    password_reset_ttl_minutes: float = Field(default=30.0, gt=0, le=7 * 24 * 60)  # a week at most
    # Successful bearer-token lookups are kept per process this long (0: every request reads the
    # database). A session revoked through another process keeps working there for at most this long.
    session_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    session_cache_max_entries: int = Field(default=10_000, ge=1)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_memory_kib: int = Field(default=19_456, ge=19_456)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Threads that hash and verify passwords (each hash takes tens of ms of CPU and ~19 MiB of memory
    # bandwidth). Unset: one fewer than the CPUs (at least one), so a burst of sign-ups or logins queues
    # for the pool instead of taking every core from requests and jobs.
    password_hashing_threads: int | None = Field(default=None, ge=1, le=64)

    # Notifications. Email goes over SMTP when `smtp_host` is set, else to .eml files in the mail drop
    # directory (development). SMS needs a Twilio-style API base.
    # `SEAWALL_OUTBOX_DIR` is its deprecated old name, still read when `SEAWALL_MAIL_DROP_DIR` is unset.
    mail_drop_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("SEAWALL_MAIL_DROP_DIR", "SEAWALL_OUTBOX_DIR"))
    email_from: str = "Seawall <no-reply@seawall.invalid>"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Connections kept open between messages (each closed after 30 s unused, or at its first error).
    smtp_max_idle_connections: int = Field(default=8, ge=0, le=100)
    sms_api_base: str | None = None
    sms_account_sid: str = "AC_seawall_sandbox"
    sms_auth_token: SecretStr = SecretStr("sandbox-auth-token")
    sms_from: str = "+15005550006"

    # Payments: a Stripe-compatible provider, and optionally a second one as the fallback route.
    stripe_api_key: SecretStr = SecretStr("sk_test_seawall_sandbox")
    stripe_api_base: str = "http://127.0.0.1:12111"  # the sandbox (`seawall sandbox`) by default
    payments_fallback_api_base: str | None = None
    payments_fallback_api_key: SecretStr | None = None
    provider_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    provider_read_timeout_seconds: float = Field(default=10.0, gt=0)
    provider_total_timeout_seconds: float = Field(default=15.0, gt=0)
    # Bulkhead, per provider (payments, SMTP, SMS) per process; unset: the payments queue's worker slots
    # (with the default caps, every queue's), so the bulkhead refuses a call before the queue runs out of slots.
    provider_max_concurrent_calls: int | None = Field(default=None, ge=1)
    breaker_failure_rate_threshold: float = Field(default=50.0, gt=0, le=100)
    breaker_slow_call_rate_threshold: float = Field(default=100.0, gt=0, le=100)
    breaker_slow_call_duration_seconds: float = Field(default=60.0, gt=0)
    breaker_sliding_window_size: int = Field(default=100, ge=1)
    breaker_minimum_number_of_calls: int = Field(default=100, ge=1)
    breaker_wait_duration_in_open_seconds: float = Field(default=60.0, gt=0)
    breaker_permitted_calls_in_half_open: int = Field(default=10, ge=1)
    retry_budget_capacity: float = Field(default=500.0, gt=0)
    retry_budget_retry_cost: float = Field(default=5.0, ge=0)
    retry_budget_timeout_cost: float = Field(default=10.0, ge=0)
    # Inbound Stripe webhooks (`POST /v1/providers/stripe/events`): the endpoint signing secrets
    # (`whsec_...`), comma separated; a request signed by any one passes, so a rotation keeps the
    # old and the new secret here until Stripe stops signing with the old. Unset: the route is off (404).
    stripe_webhook_secrets: SecretStr | None = None
    # How far the signed timestamp may be from now, either side (Stripe's libraries default to 300 s).
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)


    # Redis (server mode): rate limits, cache and shared breaker state. Unset -> all in process.
    redis_url: SecretStr | None = None  # may hold a password: a secret
    redis_key_prefix: str = "seawall:"  # every key Seawall writes starts with this
    redis_socket_timeout_seconds: float = Field(default=0.5, gt=0)
    # Rate limiting (moving window). Limits use the `limits` notation, e.g. "100/minute;2000/hour".
    # [rate limiting settings: owned by the rate-limit module]
    rate_limit_enabled: bool = True
    # Multiplies every limit below (e.g. 100 for a load test or the demo driven from one IP).
    rate_limit_scale: float = Field(default=1.0, gt=0)
    rate_limit_per_ip: str = "1200/minute"  # every route but health, per client IP (IPv6: per /64)
    rate_limit_per_user: str = "600/minute"  # per session token (hashed), on top of the IP limit
    rate_limit_per_api_key: str = "1200/minute"  # per operator key (hashed) on /admin
    rate_limit_login_per_ip: str = "30/minute;300/hour"  # POST /v1/sessions
    rate_limit_login_per_email: str = "10/minute;50/hour"
    rate_limit_signup_per_ip: str = "20/minute;200/hour"  # POST /v1/signups
    rate_limit_password_reset_per_ip: str = "10/minute;50/hour"  # POST /v1/password-resets
    rate_limit_password_reset_per_email: str = "3/minute;10/hour"
    # Per signed-in user (by user id, however many sessions it holds), on the routes that make Seawall
    # send something: charges, refunds, webhook deliveries sent again.
    rate_limit_payments_per_user: str = "30/minute;300/hour"  # POST /v1/payments
    rate_limit_refunds_per_user: str = "20/minute;200/hour"  # POST /v1/payments/{id}/refunds
    rate_limit_refunds_per_payment: str = "10/minute;50/hour"  # the same route, per (user, payment)
    # POST /v1/webhook-endpoints/{id}/deliveries/{id}/replay and /recover
    rate_limit_webhook_sends_per_user: str = "30/minute;300/hour"
    # Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed. Empty (the
    # default): the client is the socket peer.
    rate_limit_trusted_proxies: str = ""
    # Redis unreachable: true = serve, limited per process meanwhile (and log); false = 503 + Retry-After.
    rate_limit_fail_open: bool = True

    @field_validator(
        "rate_limit_per_ip", "rate_limit_per_user", "rate_limit_per_api_key", "rate_limit_login_per_ip",
        "rate_limit_login_per_email", "rate_limit_signup_per_ip", "rate_limit_password_reset_per_ip",
        "rate_limit_password_reset_per_email", "rate_limit_payments_per_user", "rate_limit_refunds_per_user",
        "rate_limit_refunds_per_payment", "rate_limit_webhook_sends_per_user",
    )
    @classmethod
    def _parse_limits(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a limit in the `limits` notation (e.g. '100/minute;2000/hour'): {exc}") from exc
        return value

    @field_validator("worker_queue_concurrency")
    @classmethod
    def _parse_queue_slots(cls, value: str) -> str:
        parse_queue_slots(value)
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _parse_origins(cls, value: str) -> str:
        for origin in (part.strip() for part in value.split(",")):
            if origin and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"not an origin (scheme://host[:port], no path or '*'): {origin!r}")
        return value

    # Cache-aside for hot reads.
    # [cache settings: owned by the cache module]
    cache_enabled: bool = True
    cache_ttl_seconds: float = Field(default=30.0, gt=0)  # a backstop: every write invalidates after commit
    cache_max_entries: int = Field(default=10_000, ge=1)  # the in-process cache (embedded mode)
    cache_lock_seconds: float = Field(default=2.0, gt=0)  # one loader per key across processes (Redis lock)

    # RabbitMQ job transport (server mode). Unset -> workers claim straight from the jobs table.
    broker_url: SecretStr | None = None  # holds the broker's password: a secret
    broker_queue_prefix: str = "seawall."  # queue names: <prefix><seawall queue>, e.g. seawall.payments
    # [broker settings: owned by the jobs transport]
    # Unacknowledged deliveries per worker process (basic.qos); unset -> the worker's concurrency.
    broker_prefetch_count: int | None = Field(default=None, ge=1, le=10_000)
    # Quorum queue `x-delivery-limit`: a message redelivered more often is dead-lettered to <queue>.dead.
    broker_delivery_limit: int = Field(default=20, ge=1, le=1000)
    # The relay: due rows published per transaction, and how often it looks (unset -> job_poll_interval).
    broker_relay_batch_size: int = Field(default=200, ge=1, le=10_000)
    broker_relay_interval_seconds: float | None = Field(default=None, gt=0, le=60)
    # While the broker is up, workers still claim from the table this often (lost or dead-lettered messages).
    broker_sweep_interval_seconds: float = Field(default=30.0, gt=0)
    broker_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    broker_reconnect_interval_seconds: float = Field(default=5.0, gt=0, le=300)
    broker_confirm_timeout_seconds: float = Field(default=10.0, gt=0, le=300)  # publisher confirm wait

    # The legacy bridge (issue 16; `seawall.legacy`, docs/legacy-bridge.md). Unset upstream -> no bridge:
    # Seawall serves every route itself. Set -> each request is served here, forwarded to the upstream or
    # shadowed, by the route table; a path the table does not name goes to the upstream. The target is only
    # ever this base URL (http/https, no query or credentials) plus the request's path and query.
    legacy_upstream: str | None = None
    # The route table (TOML, docs/legacy-bridge.md). Unset: an empty table (everything forwarded). Reloaded
    # on SIGHUP, `POST /admin/legacy/routes/reload`, and (when > 0) whenever its file changes, checked this
    # often; a table that does not parse is refused and the one in use kept.
    legacy_routes: Path | None = None
    legacy_routes_reload_seconds: float = Field(default=0.0, ge=0, le=3600)
    # [legacy proxy settings: owned by legacy/proxy.py] Per forwarded request: connecting; the gap between
    # two reads (also the wait for the answer's head); the whole exchange, bodies included.
    legacy_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=120)
    legacy_read_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    legacy_total_timeout_seconds: float = Field(default=120.0, gt=0, le=24 * 3600)
    # The connection pool to the upstream, per process, and the bulkhead (requests in flight to it).
    legacy_max_connections: int = Field(default=100, ge=1, le=10_000)
    legacy_max_keepalive_connections: int = Field(default=20, ge=0, le=10_000)
    legacy_max_concurrent_requests: int = Field(default=100, ge=1, le=10_000)
    # Largest request body forwarded (streamed, never held whole); larger -> 413 before or while sending.
    legacy_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # [legacy shadow settings: owned by legacy/shadow.py] Shadow calls in flight per process (more are
    # dropped and counted, never queued); each call's deadline; the bodies compared (a larger request or
    # answer is recorded as not compared); how long comparisons are kept.
    legacy_shadow_max_concurrent: int = Field(default=4, ge=1, le=1000)
    legacy_shadow_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    legacy_shadow_max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    legacy_shadow_retention_days: float = Field(default=7.0, gt=0, le=365)
    # [legacy auth settings: owned by legacy/identity.py and legacy/introspection.py] Keys Seawall signs
    # the `Seawall-User` header with for the legacy app: `key-id:secret` entries, comma separated, the
    # first signs (legacy accepts any it knows; docs/legacy-bridge.md has the rotation). Unset: no header.
    legacy_auth_keys: SecretStr | None = None
    # The legacy session Seawall accepts during the move: the cookie's name and the upstream path that
    # introspects it (RFC 7662 shape); each answer is kept this long. Both unset: not accepted; one without
    # the other, or either without the upstream: refused at start (validate_default: the missing half is
    # checked even when unset).
    legacy_session_cookie: str | None = None
    legacy_session_introspection_path: str | None = Field(default=None, validate_default=True)
    legacy_session_cache_seconds: float = Field(default=30.0, ge=0, le=3600)

    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)  # SEAWALL_WEBHOOKS_*

    # Logs (observability.logging): one JSON object per line on stderr, or `console` for people.
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    log_json: bool | None = None  # deprecated: false means log_format=console, unless log_format is set
    # The client address on request lines (`client_ip`): as is, `hashed` (HMAC-SHA256 keyed by a key
    # derived from SEAWALL_SECRET_KEY, 16 hex digits), or `none` (left out). Audit rows keep it as is.
    log_client: Literal["full", "hashed", "none"] = "full"
    access_log: bool = True  # one `http.request` line per request (web.request_telemetry)

    # Metrics (Prometheus; `observability/exposition.py`). Off: nothing is exported and the HTTP metrics
    # middleware is not installed. No port: the API serves GET /metrics behind an operator key; a port:
    # every role serves the metrics there, unauthenticated (keep it off the public network), and the
    # API has no /metrics route.
    metrics_enabled: bool = True
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"  # bind address of metrics_port
    # How long one scrape's database figures (queue depth, oldest due job) serve the next scrapes.
    metrics_queue_stats_seconds: float = Field(default=5.0, ge=0, le=300)

    # Tracing (issue 13; `observability/tracing.py`): the OpenTelemetry SDK reads the standard OTEL_*
    # variables. This also appends every finished span, one JSON object a line, to a file (traces on
    # one machine without a collector); setting it turns tracing on.
    traces_file: Path | None = None

    @field_validator("operator_keys")
    @classmethod
    def _parse_operator_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_operator_keys(value.get_secret_value())
        return value

    @field_validator("admin_api_key")
    @classmethod
    def _admin_key_is_one_more_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """With `operator_keys`, the ring must still name each key once and hold each key once (else which
        scope a key has would depend on the order of the entries)."""
        if value is not None and info.data.get("operator_keys") is not None:
            key_ring(reveal(info.data["operator_keys"]), value.get_secret_value())
        return value

    @field_validator("legacy_upstream")
    @classmethod
    def _legacy_upstream_is_a_base_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host, and optionally a path prefix; no query, fragment or credentials."""
        if value is None or not value.strip():
            return None
        return parse_upstream(value.strip()).base

    @staticmethod
    def _needs_legacy_upstream(info: ValidationInfo) -> None:
        """A legacy setting is given: the upstream must be too, or the setting would be silently ignored
        (no upstream, no bridge). An invalid upstream is its own line, so nothing more is said here."""
        if "legacy_upstream" in info.data and info.data["legacy_upstream"] is None:
            raise ValueError("needs SEAWALL_LEGACY_UPSTREAM: without it there is no bridge and this is ignored")

    @field_validator("legacy_routes")
    @classmethod
    def _legacy_routes_parse(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """The route table file must be readable and valid at start (`legacy.routes.load_table`): a process
        never starts with a table it cannot use. Reloads while running keep the table in use instead."""
        if value is not None:
            cls._needs_legacy_upstream(info)
            load_table(value)
        return value

    @field_validator("legacy_max_keepalive_connections")
    @classmethod
    def _keepalive_within_pool(cls, value: int, info: ValidationInfo) -> int:
        """Idle connections kept are connections of the pool: no more than SEAWALL_LEGACY_MAX_CONNECTIONS."""
        limit = info.data.get("legacy_max_connections")
        if limit is not None and value > limit:
            raise ValueError(f"must not exceed SEAWALL_LEGACY_MAX_CONNECTIONS ({limit})")
        return value

    @field_validator("legacy_auth_keys")
    @classmethod
    def _legacy_auth_keys_parse(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            cls._needs_legacy_upstream(info)
            parse_signing_keys(value.get_secret_value())
            return value
        return None

    @field_validator("legacy_session_cookie")
    @classmethod
    def _session_cookie_needs_upstream(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        cls._needs_legacy_upstream(info)
        return value.strip()

    @field_validator("legacy_session_introspection_path")
    @classmethod
    def _introspection_is_a_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A path on the upstream (never another host): starts with one `/`. Set together with
        SEAWALL_LEGACY_SESSION_COOKIE, or neither (half of the pair would be silently ignored)."""
        path = None if value is None or not value.strip() else value
        if path is not None:
            if "legacy_session_cookie" in info.data:  # else the cookie's line already asks for the upstream
                cls._needs_legacy_upstream(info)
            if not path.startswith("/") or path.startswith("//") or "?" in path or "#" in path:
                raise ValueError("must be a path on the upstream, e.g. /internal/session")
        if "legacy_session_cookie" in info.data:  # else the cookie is invalid: its own line says so
            cookie = info.data["legacy_session_cookie"]
            if cookie is not None and path is None:
                raise ValueError("must be set with SEAWALL_LEGACY_SESSION_COOKIE (the upstream path that "
                                 "introspects that cookie), or unset both")
            if cookie is None and path is not None:
                raise ValueError("needs SEAWALL_LEGACY_SESSION_COOKIE (the legacy session cookie's name), "
                                 "or unset both")
        return path

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, secret: SecretStr | None) -> SecretStr | None:
        """PostgreSQL through asyncpg, or SQLite through aiosqlite; `postgres://` and `postgresql://` (the
        spelling most hosts hand out) mean the former. The messages never quote the URL (a secret)."""
        value = secret.get_secret_value() if secret is not None else None
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, separator, rest = value.partition("://")
        if not separator:
            raise ValueError("must be a URL such as postgresql+asyncpg://user:password@host:5432/seawall")
        if scheme in ("postgres", "postgresql"):
            return SecretStr(f"postgresql+asyncpg://{rest}")
        if scheme not in DATABASE_SCHEMES:
            raise ValueError(f"scheme {scheme!r} is not supported: use one of {', '.join(DATABASE_SCHEMES)}, "
                             "or leave it unset for the embedded SQLite file")
        return SecretStr(value)

    @field_validator("database_replica_url")
    @classmethod
    def _replica_of_postgresql(cls, secret: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """The replica URL, normalised as `database_url`; PostgreSQL only, and only with a PostgreSQL primary
        (a streaming replica is PostgreSQL's; the embedded SQLite file has none)."""
        url = cls._supported_database(secret)
        if url is None:
            return None
        if not url.get_secret_value().startswith("postgresql+asyncpg://"):
            raise ValueError("must be a PostgreSQL URL (postgresql://user:password@host:5432/seawall): "
                             "a read replica is a PostgreSQL streaming replica")
        if "database_url" not in info.data:
            return url  # SEAWALL_DATABASE_URL is invalid itself: that is the one line to print
        primary = info.data["database_url"]
        if primary is None or not primary.get_secret_value().startswith("postgresql+asyncpg://"):
            raise ValueError("needs a PostgreSQL primary: set SEAWALL_DATABASE_URL to PostgreSQL too, or unset "
                             "this (the embedded SQLite file has no replica)")
        return url

    @field_validator("database_replica_read_your_writes_seconds")
    @classmethod
    def _window_outlasts_lag(cls, window: float, info: ValidationInfo) -> float:
        """Longer than the lag bound plus the check interval: past the window a replica read is allowed only
        while the lag (measured at most one interval ago) is under the bound, so it sees the user's write."""
        lag = info.data.get("database_replica_max_lag_seconds")
        interval = info.data.get("database_replica_check_interval_seconds")
        if lag is not None and interval is not None and window <= lag + interval:
            raise ValueError(f"must be longer than SEAWALL_DATABASE_REPLICA_MAX_LAG_SECONDS + "
                             f"SEAWALL_DATABASE_REPLICA_CHECK_INTERVAL_SECONDS ({lag:g} + {interval:g} s)")
        return window

    @property
    def resolved_log_format(self) -> Literal["json", "console"]:
        """`log_format`, or `console` when only the deprecated `log_json=false` says so."""
        if self.log_json is False and "log_format" not in self.model_fields_set:
            return "console"
        return self.log_format

    @property
    def resolved_shutdown_timeout(self) -> float:
        """`shutdown_timeout` (seconds), or the deprecated `job_drain_timeout_seconds` when only it is set."""
        if self.job_drain_timeout_seconds is not None and "shutdown_timeout" not in self.model_fields_set:
            return self.job_drain_timeout_seconds
        return self.shutdown_timeout

    @property
    def resolved_database_url(self) -> str:
        """The database URL in plain text (it may hold a password: never log it; see `kit.urls`)."""
        if self.database_url:
            return reveal(self.database_url) or ""
        return f"sqlite+aiosqlite:///{(self.var_dir / 'seawall.db').resolve()}"

    @property
    def is_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_web_workers(self) -> int:
        """`web_workers`, else 1 embedded and the CPU count in server mode."""
        if self.web_workers is not None:
            return self.web_workers
        return 1 if self.is_embedded_database else usable_cpus()

    @property
    def resolved_mail_drop_dir(self) -> Path:
        """`mail_drop_dir`, else `<var_dir>/outbox` (the directory's name is kept for existing installs)."""
        return self.mail_drop_dir if self.mail_drop_dir is not None else self.var_dir / "outbox"

    @property
    def stripe_webhook_secret_list(self) -> list[str]:
        """`stripe_webhook_secrets` split on commas, blanks dropped; empty when unset."""
        if self.stripe_webhook_secrets is None:
            return []
        return [part.strip() for part in self.stripe_webhook_secrets.get_secret_value().split(",") if part.strip()]

    @property
    def queue_names(self) -> list[str]:
        return [name.strip() for name in self.worker_queues.split(",") if name.strip()]

    def queue_slots(self, queues: list[str] | None = None, concurrency: int | None = None) -> dict[str, int]:
        """{queue: the worker slots it may take} for `queues` (default `queue_names`) out of `concurrency`
        slots (default `worker_concurrency`): its `worker_queue_concurrency` entry, else half the slots
        rounded up, or all of them for a worker of one queue; never more than `concurrency`."""
        total = concurrency or self.worker_concurrency
        names = self.queue_names if queues is None else queues
        named = parse_queue_slots(self.worker_queue_concurrency)
        unnamed = total if len(names) == 1 else -(-total // 2)
        return {queue: min(total, named.get(queue, unnamed)) for queue in names}

    @property
    def resolved_provider_max_concurrent_calls(self) -> int:
        """`provider_max_concurrent_calls`, else the payments queue's worker slots (`queue_slots`)."""
        if self.provider_max_concurrent_calls is not None:
            return self.provider_max_concurrent_calls
        return self.queue_slots(list(dict.fromkeys(["payments", *self.queue_names])))["payments"]

    @property
    def job_module_names(self) -> list[str]:
        return [name.strip() for name in self.job_modules.split(",") if name.strip()]

    @property
    def admin_enabled(self) -> bool:
        """Whether the operator routes (`/admin/*`) are mounted (and documented) at all: some operator
        key is configured (`operator_keys` or `admin_api_key`)."""
        return bool(key_ring(reveal(self.operator_keys), reveal(self.admin_api_key)).keys)

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allowed_origins.split(",") if origin.strip()]


def secret_texts(settings: BaseSettings) -> dict[str, str]:
    """{plain text: what stands for it in a report} for every secret setting of `settings` and its
    nested settings: a URL with a password shows as the URL with `***` for the password (and the
    password alone as `***`); a URL without one is not hidden; any other secret is `***`."""
    from seawall.kit.urls import redacted_url

    found: dict[str, str] = {}
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, BaseSettings):
            found.update(secret_texts(value))
            continue
        text = reveal(value) if is_secret_field(field) else None
        if not text:
            continue
        try:
            password = urlsplit(text).password if "://" in text else None
        except ValueError:
            password = None
        if "://" not in text:
            found[text] = "***"
        elif password:
            found[text] = redacted_url(text)
            found[password] = "***"
    return {text: shown for text, shown in found.items() if len(text) >= 4}


def redact_secrets(text: str, settings: BaseSettings) -> str:
    """`text` with every secret setting's value replaced (see `secret_texts`): for reports that quote a
    backend's error message, which may echo what it was given."""
    for secret, shown in sorted(secret_texts(settings).items(), key=lambda item: len(item[0]), reverse=True):
        text = text.replace(secret, shown)
    return text


def usable_var_dir(settings: Settings) -> Path:
    """`settings.var_dir`, created if missing; `SettingError` naming SEAWALL_VAR_DIR when it cannot be
    (a file in the way, no permission, a read-only or virtual file system)."""
    try:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingError("SEAWALL_VAR_DIR", f"cannot be used as the data directory: {exc.strerror or exc}") from None
    return settings.var_dir


_SETTINGS_CLASSES: dict[str, type[BaseSettings]] = {"Settings": Settings, "WebhookSettings": WebhookSettings}
_SECRET_WORDS = ("key", "secret", "token", "password", "url")  # a URL may carry a password


def describe_invalid_settings(error: ValidationError) -> list[str]:
    """One line per invalid setting of a `Settings()`/`WebhookSettings()` validation error, naming
    its environment variable: `SEAWALL_PORT: Input should be a valid integer (got 'eighty')`.

    The given value is shown unless the setting is a secret (a `SecretStr`, or its name says so).
    """
    settings_class = _SETTINGS_CLASSES.get(error.title, Settings)
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    lines = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = f"{prefix}{field.upper()}" if field else prefix.rstrip("_")
        secret = any(word in field for word in _SECRET_WORDS) or (
            field in settings_class.model_fields and is_secret_field(settings_class.model_fields[field]))
        given = "" if secret else f" (got {problem.get('input')!r})"
        lines.append(f"{variable}: {problem['msg']}{given}")
    return lines
