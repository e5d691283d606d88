"""Promise: a kept label child is never one of a replaced metric (after `exposition.install` rebuilt
the catalogue), and each label combination is looked up once."""

from __future__ import annotations

from prometheus_client import Counter

from seawall.observability.label_cache import Children


def test_children_are_kept_per_values_and_dropped_with_their_metric() -> None:
    first = Counter("things", "Things.", ["kind"], registry=None)
    second = Counter("things", "Things.", ["kind"], registry=None)
    current = [first]
    children = Children(lambda: current[0])
    child = children("a")
    assert children("a") is child is first.labels("a")
    assert children("b") is not child
    current[0] = second  # the catalogue was rebuilt
    children("a").inc()
    assert second.labels("a")._value.get() == 1 and first.labels("a")._value.get() == 0
