"""The OpenAPI schema says only what routes declare.

Every route lists the error statuses it answers with `web.errors.error_responses(...)`, in the one
error shape (`ErrorBody`). FastAPI adds its own generic 422 (`HTTPValidationError`, a shape Seawall
never sends) to any operation with parameters that did not declare 422; `install_openapi(app)` drops
those, and the then unused `HTTPValidationError`/`ValidationError` components, from the schema.

Two statuses are declared for every operation here rather than per route, because middleware answers
them whatever the method and route: 413 `payload_too_large` (the body-size limit, `web.middleware`) and
422 `validation_error` (the input guard, `web.input_guard`: a NUL character in the path or query, a
body nested too deep or not strict JSON).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from seawall.web.errors import ERROR_DESCRIPTIONS

GENERIC_422_REF = "#/components/schemas/HTTPValidationError"
ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def without_generic_422(schema: dict[str, Any]) -> dict[str, Any]:
    """Remove FastAPI's generic 422 answers from `schema` (in place) and return it."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            content = responses.get("422", {}).get("content", {})
            if content.get("application/json", {}).get("schema", {}).get("$ref") == GENERIC_422_REF:
                del responses["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def with_every_operation_answering(schema: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Add `answers` (`{"413": {...}}`) to every operation of `schema` that lacks them (in place)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, answer in answers.items():
                responses.setdefault(status, answer)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `app.openapi_url`) give `without_generic_422` of FastAPI's schema,
    which FastAPI builds once per version of the routes and caches (removing again is a no-op)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return with_every_operation_answering(without_generic_422(generate()), {
            str(status): {"description": ERROR_DESCRIPTIONS[status],
                          "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}}
            for status in (413, 422)})

    app.openapi = openapi  # type: ignore[method-assign]
