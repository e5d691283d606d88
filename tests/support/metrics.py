"""Read Prometheus exposition text in tests: `samples(text)` and `sample(text, name, **labels)`.

`samples` parses a scrape (the text format `GET /metrics` answers) with prometheus-client's own parser
into `{(sample name, frozenset of (label, value)): value}`; sample names are as exposed
(`seawall_http_requests_total`, `..._bucket`, `..._count`). `sample` adds up the samples of one name
whose labels include the given ones (so `sample(text, "seawall_http_requests_total", route="/livez")`
is the sum over methods and statuses), 0.0 when none match. `registry_text(registry)` renders a
`CollectorRegistry` (e.g. one a unit test built) in the same format.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

SampleKey = tuple[str, frozenset[tuple[str, str]]]


def samples(text: str) -> dict[SampleKey, float]:
    found: dict[SampleKey, float] = {}
    for family in text_string_to_metric_families(text):
        for entry in family.samples:
            found[(entry.name, frozenset(entry.labels.items()))] = float(entry.value)
    return found


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0.0 when there is none)."""
    wanted = set(labels.items())
    return sum(value for (sample_name, sample_labels), value in samples(text).items()
               if sample_name == name and wanted <= sample_labels)


def registry_text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()
