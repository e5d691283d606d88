"""Every series the Grafana dashboard and the Prometheus rules read is one Seawall exports (issue 13,
Deliver 5): a renamed metric, a typo or a label that does not exist fails here, not on a blank panel
or an alert that can never fire.

Exported: the catalogue (`observability/metrics.py`, built on a private registry and read back through
`registry.collect()`; counters are exposed as `<name>_total`, histograms as `_bucket`/`_sum`/`_count`),
the series computed at scrape time that its docstring names, and what Prometheus makes itself (`up`,
`ALERTS`). Recording rules defined in deploy/prometheus are names too.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from seawall.observability import metrics as catalogue
from seawall.observability.metrics import HTTP_LATENCY_BUCKETS, Metrics
from tests.deploy import artifacts
from tests.deploy.promql import reads

# Computed from the database or the build at scrape time, not in the catalogue's classes: the
# catalogue's docstring names them (checked below), with these labels.
SCRAPE_TIME_SERIES = {
    "seawall_queue_jobs": {"queue", "state"},
    "seawall_queue_oldest_due_age_seconds": {"queue"},
    "seawall_build_info": {"version"},
}
# Series Prometheus makes itself, and the labels it gives them. `None`: any label (ALERTS carries
# every alert's own labels).
# Labels Prometheus adds to every scraped series (the scrape config's target labels).
TARGET_LABELS = {"job", "instance"}
PROMETHEUS_SERIES: dict[str, set[str] | None] = {"up": TARGET_LABELS, "ALERTS": None}
# The series each family type is exposed as (Seawall turns prometheus-client's `_created` series off).
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("", "_sum", "_count"), "info": ("_info",)}


def exported_series() -> dict[str, set[str] | None]:
    """Series name -> the label names it carries (target labels included)."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    # prometheus-client has no public accessor for a metric's label names; `_labelnames` holds them.
    labels_of = {metric._name: set(metric._labelnames) for metric in vars(metrics).values()}
    series: dict[str, set[str] | None] = {}
    for family in registry.collect():
        for suffix in SUFFIXES[family.type]:
            extra = {"le"} if suffix == "_bucket" else set()
            series[family.name + suffix] = labels_of[family.name] | extra | TARGET_LABELS
    for name, labels in SCRAPE_TIME_SERIES.items():
        series[name] = labels | TARGET_LABELS
    series.update(PROMETHEUS_SERIES)
    for name in artifacts.recorded_names():
        series[name] = set()  # every recording rule of alerts.yml sums its labels away
    return series


def unknown_series(queries: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Series name -> where it is read, for every name that is not exported."""
    known = exported_series()
    unknown: dict[str, list[str]] = {}
    for where, expression in queries:
        for name in reads(expression).names - set(known):
            unknown.setdefault(name, []).append(where)
    return unknown


def unknown_labels(queries: list[tuple[str, str]]) -> dict[str, list[str]]:
    """`series{label}` -> where it is matched, for every label the series does not carry."""
    known = exported_series()
    unknown: dict[str, list[str]] = {}
    for where, expression in queries:
        for name, labels in reads(expression).labels.items():
            carried = known.get(name, set())
            if carried is None:
                continue
            for label in sorted(labels - carried):
                unknown.setdefault(f"{name}{{{label}}}", []).append(where)
    return unknown


def all_queries() -> list[tuple[str, str]]:
    return [*artifacts.dashboard_queries(), *artifacts.rule_queries()]


def test_the_check_reads_names_and_skips_functions_keywords_labels_and_variables() -> None:
    found = reads('histogram_quantile(0.99, sum by (route, le) (rate(seawall_http_request_duration_seconds_bucket'
                  '{route=~"$route"}[$__rate_interval]))) > 0.5 and on() vector(1) offset 5m')
    assert found.names == {"seawall_http_request_duration_seconds_bucket"}
    assert found.labels == {"seawall_http_request_duration_seconds_bucket": {"route"}}
    assert reads("label_values(seawall_queue_jobs, queue)").labels == {"seawall_queue_jobs": {"queue"}}
    assert reads("seawall:http_errors_per_request:ratio_rate1h / 0.001 + up").names == {
        "seawall:http_errors_per_request:ratio_rate1h", "up"}


def test_a_series_or_label_the_code_does_not_export_is_reported() -> None:
    queries = [("panel 'x'", 'sum(rate(seawall_http_requests_total{code="500"}[5m])) / seawall_payments_succeeded')]
    assert unknown_series(queries) == {"seawall_payments_succeeded": ["panel 'x'"]}
    assert unknown_labels(queries) == {"seawall_http_requests_total{code}": ["panel 'x'"]}
    # A counter is read with `_total`, a histogram through its bucket, sum and count: never bare.
    assert set(unknown_series([("rule", "seawall_http_requests + seawall_job_duration_seconds")])) == {
        "seawall_http_requests", "seawall_job_duration_seconds"}


def test_every_series_the_dashboard_and_the_rules_read_is_exported() -> None:
    queries = all_queries()
    assert len(queries) > 40
    unknown = unknown_series(queries)
    assert not unknown, "series the code does not export (name: where):\n" + "\n".join(
        f"  {name}: {', '.join(where)}" for name, where in sorted(unknown.items()))


def test_every_label_they_match_exists_on_its_series() -> None:
    unknown = unknown_labels(all_queries())
    assert not unknown, "labels these series do not carry:\n" + "\n".join(
        f"  {name}: {', '.join(where)}" for name, where in sorted(unknown.items()))


def test_the_scrape_time_series_are_the_ones_the_catalogue_names() -> None:
    assert catalogue.__doc__ is not None
    for name in SCRAPE_TIME_SERIES:
        assert name in catalogue.__doc__, f"{name} is no longer described in observability/metrics.py"


def test_latency_thresholds_are_bucket_bounds_of_the_request_histogram() -> None:
    """The latency SLO counts requests under `le="0.5"`: a bound the histogram does not have reads nothing."""
    bounds = {(where, bound) for where, expression in all_queries()
              for bound in re.findall(r'seawall_http_request_duration_seconds_bucket\{[^}]*le="([^"]+)"', expression)}
    assert {bound for _, bound in bounds} == {"0.5"}
    assert all(float(bound) in HTTP_LATENCY_BUCKETS for _, bound in bounds), HTTP_LATENCY_BUCKETS
