"""A loopback TCP port for a server this process is about to start (the demo, chaos runs, tests).

The kernel's own pick (`bind(("127.0.0.1", 0))`) comes from the ephemeral range
(`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 on Linux), which is also where every outgoing
connection takes its local port. Between choosing a port and the server binding it, a client
connection anywhere on the machine could take it, and the server then fails with EADDRINUSE. So
`free_port` picks at random from below the ephemeral range (never handed to outgoing connections),
checks the port can be bound now, and never returns the same port twice in one process. Another
process choosing the same port in the same seconds is possible but rare (1 in ~12,000 per pair).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000  # above the ports well-known servers listen on (PostgreSQL 5432, RabbitMQ 5672, Redis 6379, ...)
_ATTEMPTS = 200
_given: set[int] = set()


def _highest() -> int:
    """The port below the kernel's ephemeral range (32767 where the range cannot be read)."""
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32767
    return low - 1 if low - 1 > _LOWEST + 1000 else 32767


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now, outside the ephemeral range, not given before
    by this process. Falls back to the kernel's pick after 200 taken candidates."""
    highest = _highest()
    for _ in range(_ATTEMPTS):
        port = random.randint(_LOWEST, highest)  # noqa: S311 - a port number, not a secret
        if port not in _given and _bindable(port, host):
            _given.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    _given.add(port)
    return port
