"""The rule files pass `promtool check rules`, their unit tests pass `promtool test rules` (the SLO
burn alerts fire for a 5xx burst and not for a blip; a replayed provider outage fires each relevant
alert within its stated detection time: deploy/prometheus/tests/*.yml), every dashboard query is valid
PromQL, and the example configuration is a valid Prometheus configuration (issue 13, Deliver 5).

promtool comes with Debian's `prometheus` package (`.ci/run` installs it). With `CI=true` a missing
promtool fails these tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import artifacts
from tests.support.services import require_command

TIMEOUT_SECONDS = 120
# Grafana's variables, replaced by what they stand for so promtool can parse the query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def promtool() -> str:
    return require_command("promtool", "Debian: apt-get install prometheus")


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                            cwd=artifacts.ROOT)
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))}:\n{result.stdout}\n{result.stderr}"
    return result


def test_the_rule_files_pass_promtool_check() -> None:
    assert artifacts.RULE_FILES
    run_promtool("check", "rules", *artifacts.RULE_FILES)


@pytest.mark.parametrize("test_file", artifacts.RULE_TEST_FILES, ids=lambda path: path.stem)
def test_the_rule_unit_tests_pass(test_file: Path) -> None:
    output = run_promtool("test", "rules", test_file).stdout
    assert "SUCCESS" in output


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """Each query, its Grafana variables replaced, as a recording rule that `promtool check rules` parses."""
    rules = []
    for number, (where, expression) in enumerate(artifacts.dashboard_queries()):
        if expression.startswith("label_values("):
            expression = expression.removeprefix("label_values(").rsplit(",", 1)[0]
        for variable, value in GRAFANA_VARIABLES.items():
            expression = expression.replace(variable, value)
        expression = re.sub(r"\$[a-zA-Z_]+", ".*", expression)
        rules.append({"record": f"dashboard_query_{number}", "expr": expression, "labels": {"where": where}})
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run_promtool("check", "rules", path)


def test_the_example_configuration_is_valid() -> None:
    # --syntax-only: the scrape key's file exists only where Prometheus runs.
    run_promtool("check", "config", "--syntax-only", artifacts.EXAMPLE_CONFIG)


def test_a_missing_promtool_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required when CI=true"):
        promtool()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="promtool not on PATH"):
        promtool()
