"""The OpenAPI check's own mechanism: an answer a route does not declare is reported; the schema
declares errors in the one shape only."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI, Response

from seawall.app import create_app
from seawall.config import Settings
from seawall.web.errors import error_responses
from seawall.web.openapi import install_openapi
from seawall.web.response_record import ResponseRecordMiddleware, SeenResponse, read_records
from tests.support.openapi_coverage import compare, format_report


def tiny_app(directory: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}", responses=error_responses(404))
    async def get_thing(thing_id: str) -> Response:
        if thing_id == "teapot":
            return Response(status_code=418)  # declared nowhere
        if thing_id == "missing":
            return Response(status_code=404)
        return Response(status_code=200)

    install_openapi(app)
    app.add_middleware(ResponseRecordMiddleware, directory=directory)
    return app


async def test_an_undeclared_status_is_reported_and_a_declared_one_is_not(tmp_path: Path) -> None:
    app = tiny_app(tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        for thing in ("teapot", "teapot", "missing", "ok"):
            await http.get(f"/things/{thing}")
        await http.get("/nowhere")  # no documented route: not recorded

    seen = read_records(tmp_path)
    assert seen == {SeenResponse("GET", "/things/{thing_id}", status) for status in (200, 404, 418)}
    report = compare(app.openapi(), seen)
    assert report.failed
    assert report.undeclared == [SeenResponse("GET", "/things/{thing_id}", 418)]
    assert "  GET /things/{thing_id} -> 418" in format_report(report)


async def test_declared_statuses_never_seen_are_listed_without_failing(tmp_path: Path) -> None:
    app = tiny_app(tmp_path)
    report = compare(app.openapi(), {SeenResponse("GET", "/things/{thing_id}", 200)})
    assert not report.failed
    assert report.unseen == {"GET /things/{thing_id}": [404, 413, 422]}  # 413, 422: on every operation


def test_every_operation_declares_413_and_422_in_the_one_error_shape(tmp_path: Path) -> None:
    """The body-size middleware answers 413 and the input guard 422 on any route, so the schema says so
    on every one."""
    schema = tiny_app(tmp_path).openapi()
    for operations in schema["paths"].values():
        for operation in operations.values():
            for status in ("413", "422"):
                assert operation["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}


def test_a_run_that_must_record_and_recorded_nothing_fails(tmp_path: Path) -> None:
    report = compare(tiny_app(tmp_path).openapi(), set(), require_records=True)
    assert report.failed and report.required_but_empty


def test_every_error_answer_in_the_schema_has_the_one_error_shape(tmp_path: Path) -> None:
    schema = create_app(Settings(var_dir=tmp_path), run_worker=False).openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400 and path != "/readyz":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/ErrorBody", (method, path, code)


def test_a_paid_signup_is_documented_as_accepted(tmp_path: Path) -> None:
    responses = create_app(Settings(var_dir=tmp_path), run_worker=False).openapi()["paths"]["/v1/signups"]["post"][
        "responses"]
    assert {"201", "202", "409", "422", "429"} <= set(responses)
