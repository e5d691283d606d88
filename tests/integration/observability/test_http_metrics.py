"""Promise 8 (observable): the API's `/metrics` shows RED per route template, rate-limit rejections and
idempotency outcomes as they happen, to an operator key only; with a metrics port or metrics off
there is no route, and off installs no middleware. One backend: nothing here depends on the database.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from seawall.operator_keys import key_digest
from seawall.web.request_telemetry import RequestTelemetryMiddleware
from tests.conftest import ADMIN_KEY
from tests.integration.accounts.wire import assert_error, bearer, new_email, new_key, sign_up
from tests.support.apps import StartApp, asgi_client
from tests.support.metrics import sample

pytestmark = pytest.mark.backends("sqlite")

SCRAPER_KEY = "swop_test-scraper-key-0123456789"
SCRAPER_ENTRY = SecretStr(f"prometheus:metrics:{key_digest(SCRAPER_KEY)}")


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics", headers=bearer(SCRAPER_KEY))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


async def test_requests_are_counted_per_route_template_and_status_with_their_duration(started_app: StartApp) -> None:
    app = await started_app(operator_keys=SCRAPER_ENTRY)
    async with asgi_client(app) as http:
        before = await scrape(http)
        for _ in range(3):
            assert (await http.get("/livez")).status_code == 200
        payment_path = "/v1/payments/pay_does-not-exist"
        assert (await http.get(payment_path)).status_code == 401  # no session: refused, routed
        for path in ("/nowhere/1", "/nowhere/2"):
            assert (await http.get(path)).status_code == 404
        after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("seawall_http_requests_total", method="GET", route="/livez", status="200") == 3
    assert delta("seawall_http_request_duration_seconds_count", method="GET", route="/livez") == 3
    assert delta("seawall_http_request_duration_seconds_bucket", route="/livez", le="10.0") == 3
    assert delta("seawall_http_requests_total", route="/v1/payments/{payment_id}", status="401") == 1
    assert delta("seawall_http_requests_total", route="unmatched", status="404") == 2  # not one series per path
    assert delta("seawall_http_requests_total", route="/metrics") == 0  # scrapes are not counted
    assert not [line for line in after.splitlines() if "/nowhere" in line]
    assert sample(after, "seawall_build_info", version=app.version) == 1


async def test_a_rate_limit_rejection_is_counted_by_policy_and_as_a_429_of_its_route(started_app: StartApp) -> None:
    app = await started_app(operator_keys=SCRAPER_ENTRY, rate_limit_per_ip="2/minute")
    async with asgi_client(app, ip="203.0.113.9") as http, asgi_client(app, ip="203.0.113.10") as scraper:
        before = await scrape(scraper)
        statuses = [(await http.get("/v1/me")).status_code for _ in range(3)]
        after = await scrape(scraper)
    assert statuses == [401, 401, 429]
    assert sample(after, "seawall_rate_limit_rejections_total", policy="ip-60s") - sample(
        before, "seawall_rate_limit_rejections_total", policy="ip-60s") == 1
    # refused before routing, still counted under its route's template
    assert sample(after, "seawall_http_requests_total", route="/v1/me", status="429") - sample(
        before, "seawall_http_requests_total", route="/v1/me", status="429") == 1


async def test_idempotency_outcomes_count_new_replayed_and_conflict(started_app: StartApp) -> None:
    app = await started_app(operator_keys=SCRAPER_ENTRY)
    async with asgi_client(app) as http:
        before = await scrape(http)
        email, key = new_email("metrics"), new_key()
        assert (await sign_up(http, email, key=key)).status_code == 201
        for _ in range(2):
            assert (await sign_up(http, email, key=key)).headers["idempotent-replayed"] == "true"
        assert (await sign_up(http, new_email("other"), key=key)).status_code == 422
        after = await scrape(http)
    outcomes = {outcome: sample(after, "seawall_idempotency_requests_total", outcome=outcome)
                - sample(before, "seawall_idempotency_requests_total", outcome=outcome)
                for outcome in ("new", "replayed", "conflict", "in_progress")}
    assert outcomes == {"new": 1, "replayed": 2, "conflict": 1, "in_progress": 0}


async def test_the_metrics_route_answers_operator_keys_only(started_app: StartApp) -> None:
    app = await started_app(operator_keys=SCRAPER_ENTRY)
    async with asgi_client(app) as http:
        assert_error(await http.get("/metrics"), 401, "unauthorized")
        assert_error(await http.get("/metrics", headers=bearer("swop_wrong")), 401, "unauthorized")
        assert (await http.get("/metrics", headers=bearer(ADMIN_KEY))).status_code == 200  # operate may scrape
        openmetrics = await http.get("/metrics", headers={**bearer(SCRAPER_KEY),
                                                           "Accept": "application/openmetrics-text; version=1.0.0"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.rstrip().endswith("# EOF")
        # a scraper's key opens no operator route
        assert_error(await http.get("/admin/jobs", headers=bearer(SCRAPER_KEY)), 403, "forbidden")
    no_keys = await started_app(admin_api_key=None, operator_keys=None)
    async with asgi_client(no_keys) as http:
        assert_error(await http.get("/metrics", headers=bearer(SCRAPER_KEY)), 404)


def counts_requests(app: FastAPI) -> bool:
    """Whether the app's request telemetry records RED metrics."""
    return any(entry.cls is RequestTelemetryMiddleware and entry.kwargs["metrics"]  # type: ignore[comparison-overlap]
               for entry in app.user_middleware)


async def test_with_a_metrics_port_or_metrics_off_the_api_has_no_metrics_route(started_app: StartApp) -> None:
    on_a_port = await started_app(operator_keys=SCRAPER_ENTRY, metrics_port=9)  # never bound by an app
    off = await started_app(operator_keys=SCRAPER_ENTRY, metrics_enabled=False)
    for app in (on_a_port, off):
        async with asgi_client(app) as http:
            assert (await http.get("/metrics", headers=bearer(SCRAPER_KEY))).status_code == 404
        assert "/metrics" not in app.openapi()["paths"]
    assert counts_requests(on_a_port)
    assert not counts_requests(off)
