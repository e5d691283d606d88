"""A database that cannot serve now is a 503 to retry, not a 500 (found under load: PostgreSQL's
`53300 too_many_connections` reached the client as an internal error)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from seawall.errors import ServiceUnavailableError
from seawall.web.errors import install_error_handlers, is_transient


class DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def dbapi_error(sqlstate: str | None, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, DriverError(sqlstate), connection_invalidated=invalidated)


@pytest.mark.parametrize("sqlstate", ["53300", "53100", "57P01", "57P03", "08006", "08001"])
def test_a_server_that_cannot_serve_now_is_transient(sqlstate: str) -> None:
    assert is_transient(dbapi_error(sqlstate))


@pytest.mark.parametrize("sqlstate", ["23505", "22P05", "42P01", None])
def test_a_statement_the_server_refuses_is_not(sqlstate: str | None) -> None:
    assert not is_transient(dbapi_error(sqlstate))


def test_a_connection_the_pool_dropped_is_transient_whatever_its_code() -> None:
    assert is_transient(dbapi_error(None, invalidated=True))


@pytest.mark.parametrize("error", [ConnectionRefusedError(111, "Connect call failed"), ConnectionResetError(),
                                   TimeoutError(), ServiceUnavailableError("the read replica failed")])
async def test_a_server_that_cannot_be_reached_is_a_503_to_retry_not_a_500(error: Exception) -> None:
    """asyncpg raises the socket's error, not a DBAPIError, when a new connection finds the server down
    (a restart under `seawall chaos` reached clients as 500s); Seawall's own `unavailable` (a replica
    read that failed mid-route) says when to retry too."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/reads")
    async def reads() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/reads")
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["type"] == "unavailable"
