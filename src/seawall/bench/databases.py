"""A fresh database for one bench run: a new PostgreSQL database on the given server, or the embedded file.

PostgreSQL: `seawall_bench_<random hex>` is created through the given URL's server (its own
database is only used to connect), and dropped (`WITH (FORCE)`) when the run ends, whatever
happened. Embedded: `url` is None and Seawall makes `seawall.db` in its var dir.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from seawall.bench.scratch import admin_execute, drop_database


def postgres_server_url(url: str) -> str:
    """A PostgreSQL server URL in any usual spelling (`postgres://`, `postgresql://`,
    `postgresql+asyncpg://`) as Seawall's SQLAlchemy URL; `ValueError` for any other database."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"--database-url must be a PostgreSQL URL, not {parsed.drivername}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@dataclass(frozen=True)
class BenchDatabase:
    url: str | None  # Seawall's SQLAlchemy URL (postgresql+asyncpg://…); None: the embedded file
    name: str = "seawall.db"  # the PostgreSQL database's name, or the embedded file's

    @property
    def kind(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

    @property
    def asyncpg_dsn(self) -> str:
        assert self.url is not None
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def sqlalchemy_url(self, var_dir: Path) -> str:
        """The URL another SQLAlchemy app uses for the same database (stock aiosqlite for the file)."""
        return self.url or f"sqlite+aiosqlite:///{(var_dir / 'seawall.db').resolve()}"

    @classmethod
    @contextmanager
    def create(cls, server_url: str | None) -> Iterator[BenchDatabase]:
        if server_url is None:
            yield cls(url=None)
            return
        server = make_url(postgres_server_url(server_url))
        name = f"seawall_bench_{secrets.token_hex(4)}"
        admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
        asyncio.run(admin_execute(admin_dsn, f'CREATE DATABASE "{name}"'))
        try:
            yield cls(url=server.set(drivername="postgresql+asyncpg", database=name)
                      .render_as_string(hide_password=False), name=name)
        finally:
            asyncio.run(drop_database(admin_dsn, name))
