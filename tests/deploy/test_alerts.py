"""Each alert is one an operator can act on (issue 13, Deliver 5 and 7): a severity, a summary and a
description, a runbook section in docs/operations.md that exists, and a detection time that a promtool
test proves (the alert fires in a test case) and that the operations guide states."""

from __future__ import annotations

import re

import pytest

from tests.deploy import artifacts

ALERTS = artifacts.alerts()
SEVERITIES = {"page", "ticket"}


def alert_ids(alert: dict) -> str:
    return str(alert["alert"])


def test_alert_names_are_unique_and_there_is_one_per_failure_the_issue_names() -> None:
    names = [alert["alert"] for alert in ALERTS]
    assert len(names) == len(set(names))
    assert {"SeawallApiAvailabilityFastBurn", "SeawallApiAvailabilitySlowBurn", "SeawallApiAvailabilityBudgetBurn",
            "SeawallApiLatencyFastBurn", "SeawallApiLatencySlowBurn", "SeawallApiLatencyBudgetBurn",
            "SeawallDeadLettersGrowing", "SeawallQueueStuck", "SeawallBreakerOpen",
            "SeawallPaymentFailureRateHigh", "SeawallWebhookEndpointDisabled", "SeawallTargetDown",
            "SeawallApiDown"} <= set(names)


@pytest.mark.parametrize("alert", ALERTS, ids=alert_ids)
def test_each_alert_says_how_urgent_what_happened_and_how_fast_it_is_detected(alert: dict) -> None:
    assert alert["labels"]["severity"] in SEVERITIES
    annotations = alert["annotations"]
    assert {"summary", "description", "runbook_url", "detection_time"} <= set(annotations)
    assert re.search(r"\d+ (min|h)\b", annotations["detection_time"]), annotations["detection_time"]


@pytest.mark.parametrize("alert", ALERTS, ids=alert_ids)
def test_each_alert_links_a_runbook_section_that_exists(alert: dict) -> None:
    path, _, anchor = alert["annotations"]["runbook_url"].partition("#")
    assert path == "docs/operations.md" and anchor
    assert f'<a id="{anchor}"></a>' in artifacts.OPERATIONS.read_text(), f"no section {anchor} in {path}"


def test_each_alert_is_shown_firing_by_a_promtool_test() -> None:
    shown = {check["alertname"] for _, case in artifacts.rule_tests()
             for check in case.get("alert_rule_test", []) if check.get("exp_alerts")}
    assert shown == {alert["alert"] for alert in ALERTS}


def test_the_promtool_tests_expect_the_alerts_own_labels_and_annotations() -> None:
    """promtool compares every label and annotation: the tests must quote the rules' current text."""
    by_name = {alert["alert"]: alert for alert in ALERTS}
    for path, case in artifacts.rule_tests():
        for check in case.get("alert_rule_test", []):
            alert = by_name[check["alertname"]]
            for expected in check.get("exp_alerts") or []:
                assert expected["exp_labels"]["severity"] == alert["labels"]["severity"], (path.name, case["name"])
                assert expected["exp_annotations"]["detection_time"] == alert["annotations"]["detection_time"], (
                    path.name, case["name"])


def test_the_operations_guide_states_each_alerts_detection_time() -> None:
    guide = artifacts.OPERATIONS.read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in guide.splitlines()
            if line.startswith("| `Seawall")}
    for alert in ALERTS:
        assert alert["alert"] in rows, f"{alert['alert']} is not in the detection-time table of docs/operations.md"
        assert alert["annotations"]["detection_time"] in rows[alert["alert"]], (
            f"docs/operations.md states another detection time for {alert['alert']} than "
            f"{alert['annotations']['detection_time']!r}")
