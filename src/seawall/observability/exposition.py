"""What a process exports to Prometheus, and how several processes add up to one scrape.

`install(settings)` runs early in every process that counts (each serving process of `seawall api|serve`,
`seawall worker`, the parent of N serving processes), before anything is counted, and chooses where
the catalogue (`observability/metrics.py`) keeps its values:
- one process: in memory; a scrape of the process reads them, plus the `process_*` and `python_*`
  series of prometheus-client's default collectors;
- multiprocess mode, when `PROMETHEUS_MULTIPROC_DIR` names a directory (prometheus-client's own
  variable): every process writes its values to memory-mapped files there, and a scrape of any one
  of them adds up the files of all (`MultiProcessCollector`; counters and histograms sum, gauges
  combine as their `multiprocess_mode` says). `seawall api|serve --workers N` (N > 1) makes such a
  directory for its N processes unless the operator set the variable, and removes it when it stops;
  an operator-set directory is the operator's (it must be empty before the first process starts).
- with `metrics_enabled` false, nothing is installed (the catalogue counts in memory, unexported).

prometheus-client picks a value's storage when the value is created (`values.ValueClass`), so
`install` switches the class and rebuilds the catalogue (`metrics.rebuild`); it does so once per
process, or again when the mode changes (tests).

`scrape_registry(*collectors)` is what one scrape renders: the catalogue (this process's, or every
process's in multiprocess mode), `seawall_build_info{version}` (always 1), and the given collectors
(`QueueStats`). `render(registry, accept)` is the body and content type, negotiated from `Accept`
by prometheus-client (`choose_encoder`: the classic text format unless OpenMetrics is asked for).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    disable_created_metrics,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from seawall import __version__
from seawall.config import Settings
from seawall.observability.metrics import rebuild

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class Installed:
    """The mode this process counts in: `directory` set means multiprocess mode."""

    directory: Path | None
    registry: CollectorRegistry | None  # the catalogue's registry (one process); None in multiprocess mode


_installed: Installed | None = None


def multiprocess_directory() -> Path | None:
    """The directory `PROMETHEUS_MULTIPROC_DIR` names, or None (one-process mode)."""
    value = os.environ.get(MULTIPROC_VARIABLE, "").strip()
    return Path(value) if value else None


def install(settings: Settings) -> Installed | None:
    """Choose this process's mode and rebuild the catalogue for it (once; again only if the mode changed).
    None when metrics are off."""
    global _installed
    if not settings.metrics_enabled:
        return None
    directory = multiprocess_directory()
    if _installed is not None and _installed.directory == directory:
        return _installed
    disable_created_metrics()  # no `*_created` series: multiprocess mode has none, so neither mode does
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        # A process started with the variable set already has the multiprocess class (chosen at import):
        # keep it, since a second one would map the same files twice.
        if not getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.MultiProcessValue()
        rebuild(None)
        _installed = Installed(directory=directory, registry=None)
    else:
        values.ValueClass = values.MutexValue
        registry = CollectorRegistry(auto_describe=True)
        rebuild(registry)
        _installed = Installed(directory=None, registry=registry)
    return _installed


def installed() -> Installed | None:
    return _installed


class BuildInfo(Collector):
    """`seawall_build_info{version}` = 1: which version each target runs."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("seawall_build_info", "The running Seawall's version (always 1).",
                                   labels=["version"])
        family.add_metric([__version__], 1.0)
        yield family


class _Catalogue(Collector):
    """This process's catalogue registry, looked up at each scrape (a later `install` may replace it)."""

    def collect(self) -> Iterator[Metric]:
        if _installed is not None and _installed.registry is not None:
            yield from _installed.registry.collect()


def scrape_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry rendering this process's (or, in multiprocess mode, every process's) metrics, the build
    info and `collectors`. Call `install` first."""
    registry = CollectorRegistry(auto_describe=False)
    directory = _installed.directory if _installed is not None else None
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))
    else:
        registry.register(_Catalogue())
        for default in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(default)
    registry.register(BuildInfo())
    for collector in collectors:
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and its Content-Type, in the format `accept` asks for."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def forget_process(pid: int) -> None:
    """A process of the multiprocess directory has exited: drop its live gauges (`livesum`, `livemax`,
    ...), keep its counters (totals must not go down)."""
    directory = multiprocess_directory()
    if directory is not None and directory.is_dir():
        mark_process_dead(pid, str(directory))
