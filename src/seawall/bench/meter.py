"""CPU time and memory of a group of processes (a server and its children), for `seawall bench …`.

Figures come from the kernel's accounting through psutil (`/proc` on Linux), never from wall time:
CPU seconds are user + system time, summed over each process and every descendant alive at the
reading (uvicorn's `--workers` children included). A child that exits between two readings takes
its CPU time with it, so readings are taken while the group is still running.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class GroupReading:
    """One reading of a process group: CPU seconds per pid, and resident memory per pid in bytes."""

    cpu_seconds: dict[int, float]
    rss_bytes: dict[int, int]

    @property
    def total_cpu_seconds(self) -> float:
        return sum(self.cpu_seconds.values())

    def cpu_seconds_since(self, earlier: GroupReading) -> float:
        """CPU used between two readings by every process seen in this one (new ones count whole)."""
        return sum(cpu - earlier.cpu_seconds.get(pid, 0.0) for pid, cpu in self.cpu_seconds.items())

    @property
    def max_rss_mb(self) -> float:
        return max(self.rss_bytes.values(), default=0) / 2**20

    @property
    def total_rss_mb(self) -> float:
        return sum(self.rss_bytes.values()) / 2**20


class ProcessGroupMeter:
    """Reads CPU time and RSS of the given root pids and all their descendants.

    `only_leaves=True` leaves out a root that has children (uvicorn's supervisor, which serves no
    request) from the RSS figures; its CPU time still counts.
    """

    def __init__(self, pids: Iterable[int]) -> None:
        self.roots = [psutil.Process(pid) for pid in pids]

    def _members(self) -> list[psutil.Process]:
        members: dict[int, psutil.Process] = {}
        for root in self.roots:
            try:
                members[root.pid] = root
                for child in root.children(recursive=True):
                    members[child.pid] = child
            except psutil.NoSuchProcess:
                continue
        return list(members.values())

    def read(self, *, only_leaves: bool = False) -> GroupReading:
        cpu: dict[int, float] = {}
        rss: dict[int, int] = {}
        for process in self._members():
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    cpu[process.pid] = times.user + times.system
                    if not (only_leaves and process.children()):
                        rss[process.pid] = process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return GroupReading(cpu_seconds=cpu, rss_bytes=rss)
