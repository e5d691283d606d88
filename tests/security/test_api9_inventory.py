"""OWASP API9:2023 Improper Inventory Management. Promise: the OpenAPI document (`/openapi.json`) is
the complete inventory of the API: every mounted route is documented with its methods, every
documented operation is mounted, the only routes outside the document are the document itself and
its viewer (`/docs`), and the operator routes disappear from both when no operator key is set. No
debug mode, no second documentation page, no forgotten test route."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import assert_error
from tests.security.wire import documented_operations, mounted_operations
from tests.support.apps import StartApp, asgi_client

# Routes deliberately outside the document: the document and the page that renders it.
UNDOCUMENTED = {("GET", "/openapi.json"), ("GET", "/docs")}


async def served_document(app: FastAPI) -> dict[str, object]:
    async with asgi_client(app) as http:
        answer = await http.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, object] = answer.json()
    return document


async def test_the_document_lists_exactly_the_mounted_routes(app: FastAPI) -> None:
    documented = documented_operations(await served_document(app))
    mounted = mounted_operations(app)
    assert mounted - UNDOCUMENTED - documented == set(), "mounted but not documented"
    assert documented - mounted == set(), "documented but not mounted"
    assert UNDOCUMENTED <= mounted
    assert any(path.startswith("/admin/") for _, path in documented)  # with a key, operators are in


async def test_every_documented_operation_answers_from_its_route(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Documented paths are really served: none answers the router's own 404/405 for an unknown route."""
    for method, path in sorted(documented_operations(await served_document(app))):
        concrete = path.replace("{job_id}", "1").replace("{", "x").replace("}", "")
        answer = await client.request(method, concrete, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert answer.status_code != 405, (method, path)
        if answer.status_code == 404:  # a domain's "no such object", never "no such route"
            assert answer.json()["error"]["message"] != "Not Found", (method, path)


async def test_without_an_operator_key_the_operator_routes_are_neither_mounted_nor_documented(
    started_app: StartApp,
) -> None:
    closed = await started_app(admin_api_key=None)
    documented = documented_operations(await served_document(closed))
    assert not [path for _, path in documented | mounted_operations(closed) if path.startswith("/admin")]
    assert documented == mounted_operations(closed) - UNDOCUMENTED


async def test_no_debug_mode_and_no_other_documentation_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert app.debug is False
    for path in ("/redoc", "/docs/oauth2-redirect", "/debug", "/admin", "/v1", "/v2/payments",
                 "/openapi.yaml", "/.env"):
        assert_error(await client.get(path), 404, "not_found")
    # The one other page, Prometheus's, answers nobody without an operator key.
    assert_error(await client.get("/metrics"), 401, "unauthorized")


async def test_every_operation_is_versioned_or_an_operator_or_health_route(app: FastAPI) -> None:
    """One inventory rule a reviewer can check: public routes live under /v1; besides them only operator
    routes (`/admin/`, `/metrics`) and the health probes are exposed."""
    for _, path in mounted_operations(app) - UNDOCUMENTED:
        assert path.startswith(("/v1/", "/admin/")) or path in ("/livez", "/readyz", "/metrics"), path
