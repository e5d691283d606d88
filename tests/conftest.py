"""Shared fixtures: an isolated Seawall per test, on every database backend.

`settings` is parametrized by `backend`, the three deployment combinations:
- `sqlite`: the embedded default (its own var dir and SQLite file; everything else in process);
- `postgres`: a fresh PostgreSQL database per test on 127.0.0.1:5432 with the database transport (a copy
  of a template migrated once per run, made ahead of the test and dropped behind it);
- `full`: PostgreSQL + RabbitMQ (this run's vhost, the test's own queue prefix) + Redis (the test's
  own key prefix).
With `CI=true` the servers are required; elsewhere those variants skip with the reason when a server
is not reachable. `SEAWALL_TEST_BACKENDS=sqlite,postgres` runs some only. Tests that inspect the
SQLite file itself are marked `sqlite_only`; tests that run on some backends only are marked
`backends("full", ...)`.

Every fixture is defined once: here (the backends and `settings`, `runtime`, `servers`) and in the
`tests.support` plugins listed in `pytest_plugins` (the API in process, one-shot workers and the fake
clock, the sandbox providers, one handler alone on an in-memory database). A package or module
adjusts them through their parameters, which it overrides: `settings_overrides` (fields changed on
`settings`), `sandbox_options`, `app_clock`, `worker_runtime`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from seawall.config import Settings, reveal
from seawall.jobs import load_job_modules
from seawall.runtime import Runtime
from tests.support.database_copies import TemplateCopies
from tests.support.databases import (
    PG_ADMIN_DSN,
    create_migrated_sqlite_template,
    create_migrated_template,
    drop_postgres_database,
    require_postgres,
)
from tests.support.server import ServerFactory
from tests.support.services import (
    REDIS_URL,
    broker_url,
    create_vhost,
    delete_queues,
    delete_redis_keys,
    delete_vhost,
    require_rabbitmq,
    require_redis,
    unique_prefix,
)

ADMIN_KEY = "test-admin-key-0123456789"
SECRET_KEY = "test-secret-key-0123456789abcdef"
# Argon2id far below its production floor (no validation on `model_copy`) in the tests' own runtimes: a
# hash or a verify costs ~0.5 ms instead of ~20 ms, paid by every runtime (its dummy hash), sign-up and
# login. The parameters themselves are proven by tests that set the defaults back
# (tests/integration/accounts/test_signup.py) and by `seawall` processes, which keep them.
TEST_PASSWORD_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 256}
BACKENDS = [name.strip() for name in os.environ.get("SEAWALL_TEST_BACKENDS", "sqlite,postgres,full").split(",")
            if name.strip()]

pytest_plugins = [
    "tests.support.apps", "tests.support.handlers", "tests.support.sandboxes", "tests.support.workers",
    "tests.support.traces",  # span_exporter: tracing on, spans in memory
    "tests.support.fuzzing",  # --fuzz-requests and the fuzzing report
    "tests.support.openapi_coverage",  # fails the run on an answer the OpenAPI schema does not declare
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run only on these backends (the others skip)")


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    only = request.node.get_closest_marker("backends")
    if only is not None and name not in only.args:
        pytest.skip(f"runs on the {', '.join(only.args)} backend only")
    if name != "sqlite":
        if request.node.get_closest_marker("sqlite_only"):
            pytest.skip("this test inspects the embedded SQLite file itself")
        require_postgres()
    if name == "full":
        require_redis()
        require_rabbitmq()
    return name


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database per test run; each test gets a copy."""
    name = create_migrated_template()
    try:
        yield name
    finally:
        drop_postgres_database(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")


@pytest.fixture(scope="session")
def postgres_copies(postgres_template: str) -> Iterator[TemplateCopies]:
    """Copies of the template made ahead on a background thread and dropped behind the tests
    (`tests/support/database_copies.py`): each test still gets a fresh one, without waiting for it."""
    copies = TemplateCopies(postgres_template, admin_dsn=PG_ADMIN_DSN)
    try:
        yield copies
    finally:
        copies.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test run; each embedded test's `runtime` starts from a copy."""
    return create_migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    copies: TemplateCopies = request.getfixturevalue("postgres_copies")
    url = copies.take()
    try:
        yield url
    finally:
        copies.give_back(url)


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    """One RabbitMQ vhost per test run; each test uses its own queue prefix inside it."""
    name = create_vhost()
    try:
        yield name
    finally:
        delete_vhost(name)


@pytest.fixture
def services(backend: str, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Settings for the `full` backend's Redis and RabbitMQ (nothing for the others)."""
    if backend != "full":
        yield {}
        return
    key_prefix = unique_prefix("redis") + ":"
    url = broker_url(request.getfixturevalue("rabbitmq_vhost"))
    queue_prefix = unique_prefix("queue") + "."
    try:
        yield {"redis_url": REDIS_URL, "redis_key_prefix": key_prefix, "broker_url": url,
               "broker_queue_prefix": queue_prefix}
    finally:
        delete_redis_keys(key_prefix)
        delete_queues(url, queue_prefix)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Fields changed on `settings` (no validation: `model_copy(update=...)`); packages and modules
    override this to adjust timeouts, point providers at the sandbox, and so on."""
    return {}


@pytest.fixture
def settings(var_dir: Path, database_url: str | None, services: dict[str, str],
             settings_overrides: dict[str, Any]) -> Settings:
    load_job_modules(["tests.support.effects"])
    settings = Settings(
        **services,  # type: ignore[arg-type]
        var_dir=var_dir,
        database_url=database_url,
        secret_key=SECRET_KEY if database_url else None,
        admin_api_key=ADMIN_KEY,
        job_lease_seconds=30.0,  # the default: a test that needs a lease to expire sets a short one itself
        job_poll_interval_seconds=0.05,
        job_backoff_base_seconds=0.05,
        job_backoff_cap_seconds=0.2,
        job_drain_timeout_seconds=2.0,
        job_modules="tests.support.effects",
        log_level="WARNING",
    )
    return settings.model_copy(update={**TEST_PASSWORD_HASHING, **settings_overrides})


@pytest.fixture
async def runtime(settings: Settings, database_url: str | None, request: pytest.FixtureRequest
                  ) -> AsyncIterator[Runtime]:
    """The test's runtime on its database. A copy of the migrated template (the SQLite file copied here,
    or the `database_url` PostgreSQL copy) is at the head revision already; any other is migrated."""
    template_copy = database_url is not None and reveal(settings.database_url) == database_url
    if settings.database_url is None and not (settings.var_dir / "seawall.db").exists():
        shutil.copyfile(request.getfixturevalue("sqlite_template"), settings.var_dir / "seawall.db")
        template_copy = True
    runtime = Runtime.build(settings)
    if not template_copy:
        await runtime.database.migrate()
    from tests.support.effects import create_effects_table

    await create_effects_table(runtime.database)
    try:
        yield runtime
    finally:
        await runtime.aclose()


@pytest.fixture
async def make_runtime(runtime: Runtime) -> AsyncIterator[Callable[..., Runtime]]:
    """Another process-like Runtime on the same (already migrated) database, with settings overrides:
    `make_runtime(provider_max_concurrent_calls=2)`. Closed at the end of the test."""
    built: list[Runtime] = []

    def make(**overrides: Any) -> Runtime:
        other = Runtime.build(runtime.settings.model_copy(update=overrides))
        built.append(other)
        return other

    try:
        yield make
    finally:
        for other in built:
            await other.aclose()


@pytest.fixture
def servers(var_dir: Path, settings: Settings, runtime: Runtime, services: dict[str, str]) -> Iterator[ServerFactory]:
    """Real `seawall` processes on loopback, on the test's backends; every one is killed at the end."""
    factory = ServerFactory(var_dir=var_dir, admin_key=ADMIN_KEY, database_url=reveal(settings.database_url),
                            secret_key=SECRET_KEY if settings.database_url else None, services=services)
    try:
        yield factory
    finally:
        factory.close()
