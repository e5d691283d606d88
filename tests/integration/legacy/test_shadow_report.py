"""Promise (issue 16): the shadow comparisons are reported per route, with counts per result, the
agreement rate and the latest disagreements with their diffs, by `seawall legacy report` and by
`GET /admin/legacy/report`; the admin routes show the table in use and reload it (a refused file: 422 in
the one error shape, the table in use kept); without an upstream they do not exist (404). Old
comparisons are purged by the retention run."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from seawall.admin.legacy import LEGACY
from seawall.legacy import store
from seawall.legacy.compare import Comparison, Result
from seawall.maintenance.retention import RetentionPolicy, purge_expired
from seawall.runtime import Runtime
from tests.conftest import ADMIN_KEY
from tests.integration.jobs.harness import run_cli
from tests.integration.legacy.shadow_support import comparisons
from tests.support.apps import StartApp, asgi_client

pytestmark = pytest.mark.backends("sqlite")

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
ROUTE = "POST /v1/signups"
# The route table's parser and reload are the bridge's part of issue 16; these checks switch on with it.
BRIDGE = importlib.util.find_spec("seawall.legacy.bridge") is not None
needs_bridge = pytest.mark.skipif(not BRIDGE, reason="needs the bridge's route table (seawall.legacy.bridge)")


async def bridged_app(started_app: StartApp, **overrides: Any) -> FastAPI:
    app = await started_app(legacy_upstream="http://127.0.0.1:9", **overrides)
    LEGACY.provide(app, lambda: app.state.runtime.legacy)  # app.provide_services does it once the bridge lands
    return app


async def record_some(runtime: Runtime) -> None:
    now = runtime.clock.now()
    kinds = [Comparison(Result.AGREED)] * 3 + [
        Comparison(Result.BODY_DIFFERS, patch=[{"op": "replace", "path": "/user/plan", "value": "pro"}]),
        Comparison(Result.STATUS_DIFFERS, note="status 201 (legacy) != 409 (seawall)"),
        Comparison(Result.DROPPED),
    ]
    for index, comparison in enumerate(kinds):
        await store.record(runtime.database, store.Recorded(
            route=ROUTE, method="POST", path="/v1/signups", legacy_status=201,
            seawall_status=409 if comparison.result == Result.STATUS_DIFFERS else 201, comparison=comparison,
            request_id=f"req-{index}", legacy_seconds=0.01, seawall_seconds=0.02, at=now - timedelta(seconds=index)))
    await store.record(runtime.database, store.Recorded(  # outside a 24 h window
        route=ROUTE, method="POST", path="/v1/signups", legacy_status=201, seawall_status=500,
        comparison=Comparison(Result.STATUS_DIFFERS), request_id="old", legacy_seconds=None, seawall_seconds=None,
        at=now - timedelta(days=2)))


def check_report(document: dict[str, Any]) -> None:
    [route] = document["routes"]
    assert route["route"] == ROUTE
    assert route["counts"] == {"agreed": 3, "status_differs": 1, "body_differs": 1, "not_compared": 0,
                               "seawall_error": 0, "dropped": 1}
    assert route["agreement_rate"] == pytest.approx(3 / 5)
    newest, older = route["recent_disagreements"]
    assert (newest["result"], newest["patch"]) == ("body_differs", [{"op": "replace", "path": "/user/plan",
                                                                       "value": "pro"}])
    assert (older["result"], older["seawall_status"], older["request_id"]) == ("status_differs", 409, "req-4")


async def test_the_admin_report_shows_rates_and_recent_diffs(started_app: StartApp, runtime: Runtime) -> None:
    await record_some(runtime)
    app = await bridged_app(started_app)
    async with asgi_client(app) as http:
        response = await http.get("/admin/legacy/report", headers=ADMIN)
        assert response.status_code == 200, response.text
        check_report(response.json())
        other = await http.get("/admin/legacy/report", params={"route": "GET /nothing"}, headers=ADMIN)
        assert other.json()["routes"] == []
        refused = await http.get("/admin/legacy/report", params={"hours": "-1"}, headers=ADMIN)
        assert refused.status_code == 422 and set(refused.json()) == {"error"}
        assert (await http.get("/admin/legacy/report")).status_code == 401


async def test_the_cli_report_shows_rates_and_recent_diffs(runtime: Runtime) -> None:
    await record_some(runtime)
    result = run_cli(runtime.settings, "legacy", "report", "--json")
    assert result.returncode == 0, result.stderr
    check_report(json.loads(result.stdout))
    table = run_cli(runtime.settings, "legacy", "report", "--route", ROUTE)
    assert table.returncode == 0, table.stderr
    assert "60.0%" in table.stdout and "/user/plan" in table.stdout


async def test_without_an_upstream_the_admin_routes_answer_404(started_app: StartApp) -> None:
    app = await started_app()
    async with asgi_client(app) as http:
        response = await http.get("/admin/legacy/report", headers=ADMIN)
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


async def test_retention_purges_comparisons_past_their_days(runtime: Runtime) -> None:
    await record_some(runtime)
    now = runtime.clock.now()
    policy = dataclasses.replace(RetentionPolicy.from_settings(runtime.settings.model_copy(
        update={"legacy_shadow_retention_days": 1.0})), batch_size=1)
    report = await purge_expired(runtime.database, policy, now=now)
    assert report.purged.get("legacy_shadow_comparisons") == 1
    assert "old" not in {row.request_id for row in await comparisons(runtime.database)}
    assert len(await comparisons(runtime.database)) == 6


@needs_bridge
async def test_reload_swaps_a_good_table_and_refuses_a_bad_one(
    started_app: StartApp, tmp_path: Path,
) -> None:
    table = tmp_path / "routes.toml"
    table.write_text('[[route]]\npath = "/v1/signups"\nmethods = ["POST"]\nmode = "shadow"\n')
    app = await bridged_app(started_app, legacy_routes=table)
    async with asgi_client(app) as http:
        shown = await http.get("/admin/legacy/routes", headers=ADMIN)
        assert [route["mode"] for route in shown.json()["routes"]] == ["shadow"]
        table.write_text('[[route]]\npath = "/v1/signups"\nmode = "seawall"\n')
        reloaded = await http.post("/admin/legacy/routes/reload", headers=ADMIN)
        assert reloaded.status_code == 200, reloaded.text
        assert [route["mode"] for route in reloaded.json()["routes"]] == ["seawall"]
        table.write_text('[[route]]\npath = "/v1/signups"\nmode = "sideways"\n')
        refused = await http.post("/admin/legacy/routes/reload", headers=ADMIN)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["type"] == "unprocessable" and "routes.toml" in error["message"]
        kept = await http.get("/admin/legacy/routes", headers=ADMIN)
        assert [route["mode"] for route in kept.json()["routes"]] == ["seawall"]


@needs_bridge
def test_check_routes_names_the_problem(runtime: Runtime, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('[[route]]\npath = "/v1/signups"\nmethods = ["POST"]\nmode = "shadow"\nignore = ["id"]\n')
    bad.write_text('[[route]]\npath = "/admin/x"\nmode = "legacy"\n')
    ok = run_cli(runtime.settings, "legacy", "check-routes", str(good))
    assert ok.returncode == 0 and "1 route(s), usable" in ok.stdout, ok.stderr
    refused = run_cli(runtime.settings, "legacy", "check-routes", str(bad))
    assert refused.returncode == 1 and "bad.toml" in refused.stderr


