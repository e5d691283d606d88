"""`Children`: a metric's label children, looked up once per label values, for the hot paths.

prometheus-client's `.labels(...)` validates and locks on every call (a few microseconds, more than
the increment itself); a call site that runs on every request keeps its children here instead:

    _OUTCOMES = Children(lambda: METRICS.idempotency_requests)
    _OUTCOMES("replayed").inc()

Values are positional, in the order of the metric's label names. The metric is looked up through the
given function at each call, and the kept children are dropped when it is no longer the same object
(the catalogue was rebuilt by `exposition.install`), so no child of a replaced metric is ever used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


class Children(Generic[M]):
    def __init__(self, metric: Callable[[], M]) -> None:
        self._metric = metric
        self._of: M | None = None
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        metric = self._metric()
        if metric is not self._of:
            self._of = metric
            self._children = {}
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = metric.labels(*values)
        return child
