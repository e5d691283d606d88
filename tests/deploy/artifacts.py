"""The files under `deploy/` and what they hold: rule groups, alerts, dashboard queries.

Shared by the tests of this package; no test here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted(PROMETHEUS.glob("*.yml"))
RULE_TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
EXAMPLE_CONFIG = PROMETHEUS / "example" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "seawall.json"
OPERATIONS = ROOT / "docs" / "operations.md"


def rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every rule (alert or recording) of every rule file, with its file."""
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield path, rule


def alerts() -> list[dict[str, Any]]:
    return [rule for _, rule in rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for _, rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> list[dict[str, Any]]:
    """Every panel, those nested in collapsed rows included; rows themselves left out."""
    found = []
    for panel in dashboard()["panels"]:
        found.extend(panel.get("panels", []))
        if panel["type"] != "row":
            found.append(panel)
    return found


def dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query of the dashboard: panel targets, variables, annotations."""
    model = dashboard()
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target.get('refId')}", target.get("expr", "")
    for variable in model["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"variable {variable['name']!r}", query["query"] if isinstance(query, dict) else query
    for annotation in model["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"]


def rule_queries() -> Iterator[tuple[str, str]]:
    for path, rule in rules():
        yield f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"]


def rule_tests() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every test case of the promtool rule tests, with its file."""
    for path in RULE_TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            yield path, case
