"""The Grafana dashboard (deploy/grafana/seawall.json) is a model Grafana imports: valid JSON, the
Prometheus data source chosen through a `datasource` variable (so it imports into any Grafana, by the
UI or by provisioning), a query in every panel, and the rows issue 13 asks for."""

from __future__ import annotations

from tests.deploy import artifacts

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_the_dashboard_is_an_importable_model_with_a_datasource_variable() -> None:
    model = artifacts.dashboard()
    assert model["uid"] and model["title"] and model["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE


def test_every_panel_queries_prometheus_through_the_variable() -> None:
    panels = artifacts.dashboard_panels()
    ids = [panel["id"] for panel in artifacts.dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"panel {panel['title']!r} {target['refId']}: empty query"
            assert target["datasource"] == DATASOURCE, panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]


def test_the_dashboard_has_the_rows_the_issue_asks_for() -> None:
    rows = " ".join(panel["title"].lower() for panel in artifacts.dashboard()["panels"] if panel["type"] == "row")
    for subject in ("http", "queues", "job outcomes", "providers", "payments", "edge", "relay"):
        assert subject in rows, f"no row about {subject}"
    queries = " ".join(expr for _, expr in artifacts.dashboard_queries())
    for series in ("seawall_http_request_duration_seconds_bucket", "seawall_queue_oldest_due_age_seconds",
                   "seawall_jobs_finished_total", "seawall_breaker_state",
                   "seawall_provider_call_duration_seconds_bucket", "seawall_payments_total",
                   "seawall_rate_limit_rejections_total", "seawall_idempotency_requests_total",
                   "seawall_cache_requests_total", "seawall_db_pool_in_use",
                   "seawall_relay_publish_lag_seconds_bucket"):
        assert series in queries, f"no panel reads {series}"
