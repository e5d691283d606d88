"""The FastAPI application factory.

`create_app(settings, run_worker=...)` builds the API; with `run_worker=True` (the all-in-one
`seawall serve`) the job worker runs inside the same process and event loop. On start, embedded
mode (SQLite) migrates the database; any other database must already be at the head revision, or
one expand revision ahead of it (`seawall.schema.window`: old processes during a rolling deploy).
On shutdown, readiness turns false, the worker drains, and pools close; served by uvicorn (the
factories below), SIGTERM starts that at once and closes the listener only after the readiness delay
(`web.shutdown`).

`create_api_app()` and `create_serve_app()` are the same built from the environment's settings: the
import strings `seawall api|serve --workers N` hand to uvicorn, which starts N processes that share
the listening socket and each build their own app. With more than one `serve` process and no Redis
the in-process read cache is off: each process's worker invalidates only its own process's cache.

This module and `runtime.py` are the composition root: routes never see the `Runtime`, only the
typed slots `provide_services` fills from it (`web.deps`, and each domain's `deps`).
`app.state.runtime` stays set for operators' scripts and tests that reach into the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from starlette.types import Scope

from seawall import __version__
from seawall.accounts import deps as accounts_deps
from seawall.accounts.api import router as accounts_router
from seawall.admin import router as admin_router
from seawall.config import Settings
from seawall.db import first_contact
from seawall.health.api import router as health_router
from seawall.jobs import load_job_modules
from seawall.jobs.worker import Worker
from seawall.kit.clock import Clock
from seawall.legacy.bridge import LEGACY, LegacyBridgeMiddleware
from seawall.legacy.reload import RouteReloader
from seawall.notifications.api import router as notifications_router
from seawall.observability import exposition, tracing
from seawall.observability.queue_stats import QueueStats
from seawall.payments import deps as payments_deps
from seawall.payments.api import router as payments_router
from seawall.payments.provider_api import router as payment_providers_router
from seawall.ratelimit import RateLimitMiddleware
from seawall.ratelimit.limits import client_address, parse_networks
from seawall.ratelimit.middleware import RATE_LIMITS
from seawall.replicas.middleware import ReadYourWritesMiddleware
from seawall.runtime import Runtime, configure_logging_for
from seawall.schema.window import prepare_schema
from seawall.web import deps as web_deps
from seawall.web.errors import install_error_handlers
from seawall.web.head import HeadAsGetMiddleware
from seawall.web.input_guard import InputGuardMiddleware
from seawall.web.load_shedding import LoadSheddingMiddleware
from seawall.web.metrics_endpoint import METRICS_SCRAPE, Scrape
from seawall.web.metrics_endpoint import router as metrics_router
from seawall.web.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from seawall.web.openapi import install_openapi
from seawall.web.query_params import refuse_unknown_query_params
from seawall.web.request_telemetry import RequestTelemetryMiddleware
from seawall.web.response_record import ResponseRecordMiddleware
from seawall.web.security_headers import StrictCORSMiddleware, install_security_headers
from seawall.web.shutdown import GracefulSignals
from seawall.webhooks import deps as webhooks_deps
from seawall.webhooks.api import router as webhooks_router

log = structlog.get_logger("seawall.app")


async def prepare_database(runtime: Runtime, *, warn: bool = True) -> None:
    """The start-up check of the schema (`seawall.schema.window`); `warn=False` when another check in
    the same process follows and logs a schema ahead of the code."""
    async with first_contact(runtime.settings):
        await prepare_schema(runtime.database, migrate=runtime.settings.is_embedded_database, warn=warn)


def provide_services(app: FastAPI, runtime: Runtime) -> None:
    """Fill every slot routes and middleware read; each getter reads the runtime's current attribute."""
    web_deps.SETTINGS.provide(app, lambda: runtime.settings)
    web_deps.DATABASE.provide(app, lambda: runtime.database)
    web_deps.CLOCK.provide(app, lambda: runtime.clock)
    web_deps.SECRET_KEY.provide(app, lambda: runtime.secret_key)
    web_deps.READ_CACHE.provide(app, lambda: runtime.cache)
    web_deps.LIFECYCLE.provide(app, lambda: runtime)
    web_deps.READ_ROUTER.provide(app, lambda: runtime.reads)
    accounts_deps.PASSWORDS.provide(app, lambda: runtime.passwords)
    accounts_deps.SESSION_CACHE.provide(app, lambda: runtime.sessions)
    accounts_deps.LEGACY_SESSIONS.provide(app, lambda: runtime.legacy.sessions if runtime.legacy is not None else None)
    payments_deps.PAYMENT_GATEWAY.provide(app, lambda: runtime.payments)
    webhooks_deps.WEBHOOK_CLIENT.provide(app, lambda: runtime.webhooks)
    RATE_LIMITS.provide(app, lambda: runtime.rate_limits)
    LEGACY.provide(app, lambda: runtime.legacy)  # None without an upstream (and then no bridge reads it)


def provide_scrape(app: FastAPI, runtime: Runtime) -> None:
    """What `GET /metrics` renders: this process's (or every serving process's) metrics and the queue
    statistics of the runtime's database, registered in this scrape registry only."""
    settings = runtime.settings
    stats = QueueStats(runtime.database, queues=settings.queue_names,
                       max_age_seconds=settings.metrics_queue_stats_seconds, clock=runtime.clock)
    scrape = Scrape(registry=exposition.scrape_registry(stats), queue_stats=stats)
    METRICS_SCRAPE.provide(app, lambda: scrape)


def create_app(settings: Settings, *, run_worker: bool = False, clock: Clock | None = None,
               in_process_cache: bool | None = None, graceful_signals: bool = False) -> FastAPI:
    """`in_process_cache` (embedded mode, no Redis): cache reads in this process; by default only
    when the worker runs here too, since a worker in another process could not invalidate it.
    `graceful_signals` (the uvicorn factories): while the app runs, SIGTERM/SIGINT mark it draining at
    once and reach uvicorn `shutdown_readiness_delay` seconds later (`web.shutdown`)."""
    load_job_modules(settings.job_module_names)
    exposition.install(settings)  # before anything counts: where this process keeps its metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        local_cache = run_worker if in_process_cache is None else in_process_cache
        runtime = Runtime.build(settings, clock=clock, in_process_cache=local_cache)
        await prepare_database(runtime)
        app.state.runtime = runtime
        provide_services(app, runtime)
        runtime.reads.log_start()
        if settings.metrics_enabled and settings.metrics_port is None:
            provide_scrape(app, runtime)
        worker: Worker | None = None
        worker_task: asyncio.Task[None] | None = None
        if run_worker:
            worker = Worker(database=runtime.database, settings=settings, clock=runtime.clock, runtime=runtime)
            worker_task = asyncio.create_task(worker.run(), name="seawall-worker")
        app.state.worker = worker

        def begin_draining() -> None:  # at SIGTERM: readiness 503 and the worker's drain, while still serving
            runtime.draining = True
            if worker is not None:
                worker.stop()

        reloader: RouteReloader | None = None
        if runtime.legacy is not None:  # the route table: SIGHUP and the file's poll (legacy.reload)
            reloader = RouteReloader(runtime.legacy.routes, poll_seconds=settings.legacy_routes_reload_seconds)
            reloader.start(signals=graceful_signals)
        signals = GracefulSignals(begin=begin_draining, hand_on=True, delay=settings.shutdown_readiness_delay,
                                  loop=asyncio.get_running_loop())
        if graceful_signals and not signals.install():
            log.warning("app.signals_not_taken", note="not in the main thread: uvicorn alone handles SIGTERM")
        log.info("app.started", worker=run_worker, database=runtime.database.engine.url.render_as_string(),
                 event_loop=type(asyncio.get_running_loop()).__module__)
        try:
            yield
        finally:
            try:
                runtime.draining = True
                if worker is not None and worker_task is not None:
                    worker.stop()
                    await worker_task
                if reloader is not None:
                    await reloader.stop()
                await runtime.aclose()
            finally:
                signals.uninstall()  # after the drain: until then the same signal again exits at once
            log.info("app.stopped")

    app = FastAPI(
        title="Seawall",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,  # one documentation page (`/docs`); fewer routes outside the schema
        swagger_ui_oauth2_redirect_url=None,  # Seawall has no OAuth2 flow for it to complete
        dependencies=[Depends(refuse_unknown_query_params)],  # 422 for a query parameter no route reads
        telemetry=tracing.FASTAPI_NATIVE_TELEMETRY,  # off: `instrument_app` traces, when tracing is on
    )
    install_error_handlers(app)
    app.add_middleware(HeadAsGetMiddleware)  # innermost: a HEAD is served by its GET route (`web.head`)
    app.add_middleware(InputGuardMiddleware)  # a refused body has spent its rate-limit quotas
    if settings.database_replica_url is not None:  # marks a user's writes before the answer goes out
        app.add_middleware(ReadYourWritesMiddleware)
    app.add_middleware(RateLimitMiddleware)  # request ids and the body size limit apply first
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outside the body reader and the rate limiter (a shed request costs neither), inside the telemetry
    # (each shed answer is logged and counted) and CORS (a browser can read the 503 and its Retry-After).
    app.add_middleware(LoadSheddingMiddleware, max_in_flight=settings.max_in_flight_requests,
                       retry_after_seconds=settings.overload_retry_after_seconds)
    app.add_middleware(StrictCORSMiddleware, origins=settings.cors_origins)
    if settings.legacy_upstream is not None:  # inside the request id and telemetry (a forwarded request is
        # logged and counted), outside CORS, shedding, body size, rate limits, input guard (Seawall's own
        # routes' rules): the legacy bridge (`seawall.legacy.bridge`)
        app.add_middleware(LegacyBridgeMiddleware, shadow_max_body_bytes=settings.legacy_shadow_max_body_bytes)
    if settings.access_log or settings.metrics_enabled:  # inside the request id (bound on its line), outside
        app.add_middleware(RequestTelemetryMiddleware,  # every refusal and preflight (logged and counted too)
                           access_log=settings.access_log, metrics=settings.metrics_enabled)
    app.add_middleware(RequestIdMiddleware, client_of=_client_of(settings))
    if settings.record_responses_dir is not None:  # the test suite's OpenAPI check; outermost, sees every answer
        app.add_middleware(ResponseRecordMiddleware, directory=settings.record_responses_dir)
    app.include_router(health_router)
    app.include_router(accounts_router)
    app.include_router(payments_router)
    app.include_router(payment_providers_router)
    app.include_router(notifications_router)
    app.include_router(webhooks_router)
    if settings.metrics_enabled and settings.metrics_port is None:  # else: on the metrics port, or off
        app.include_router(metrics_router)
    if settings.admin_enabled:  # off: the operator routes do not exist (404) and are not documented
        app.include_router(admin_router)
    install_openapi(app)
    # Server spans while tracing is on, around every middleware but the security headers below (the
    # instrumentation expects to wrap Starlette's own stack, so it goes first).
    tracing.instrument_app(app)
    install_security_headers(app, hsts_max_age_seconds=settings.hsts_max_age_seconds)
    return app


def _client_of(settings: Settings) -> Callable[[Scope], str]:
    """The client address of a request as the rate limiter sees it (trusted proxies honoured)."""
    trusted = parse_networks(settings.rate_limit_trusted_proxies)

    def client_of(scope: Scope) -> str:
        peer = scope["client"][0] if scope.get("client") else None
        forwarded = None
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")  # the last one, as the rate limiter reads it
        return client_address(peer, forwarded, trusted)

    return client_of


def _settings_from_environment(role: str) -> Settings:
    settings = Settings()
    configure_logging_for(settings)
    tracing.configure_tracing(settings, role=role)
    return settings


def create_api_app() -> FastAPI:
    """uvicorn factory (`factory=True`) for `seawall api`: settings from `SEAWALL_*` variables."""
    return create_app(_settings_from_environment("api"), run_worker=False, graceful_signals=True)


def create_serve_app() -> FastAPI:
    """uvicorn factory for `seawall serve`; caches reads in process only when it is the one process."""
    settings = _settings_from_environment("serve")
    return create_app(settings, run_worker=True, in_process_cache=settings.resolved_web_workers == 1,
                      graceful_signals=True)
