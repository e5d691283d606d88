"""Read the metric catalogue's current values in tests, as a scrape of this process would show them.

`catalogue_value("seawall_provider_calls_total", provider="stripe", outcome="error")` is the value
of the sample with exactly those labels (0.0 when it does not exist yet), read through
prometheus-client's `CollectorRegistry.get_sample_value` from a registry holding every metric of
`METRICS` as it stands now (the catalogue may have been rebuilt by `install`). Values are
process-wide and other tests count too: assert on differences (`CatalogueDelta`).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry

from seawall.observability.metrics import METRICS


def catalogue_value(name: str, **labels: str) -> float:
    registry = CollectorRegistry(auto_describe=True)
    for metric in vars(METRICS).values():
        registry.register(metric)
    return registry.get_sample_value(name, labels) or 0.0


class CatalogueDelta:
    """What a block of a test added to some samples: `delta = CatalogueDelta({"calls": (name, labels)})`
    before, `delta.changes()` after (`{"calls": 3.0}`)."""

    def __init__(self, samples: Mapping[str, tuple[str, Mapping[str, str]]]) -> None:
        self.samples = dict(samples)
        self.before = {key: catalogue_value(name, **labels) for key, (name, labels) in self.samples.items()}

    def changes(self) -> dict[str, float]:
        return {key: catalogue_value(name, **labels) - self.before[key]
                for key, (name, labels) in self.samples.items()}
