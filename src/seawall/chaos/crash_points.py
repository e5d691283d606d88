"""Named crash points: instants in the job engine and the payment flow where a seeded chaos run can
make the process die at once (SIGKILL to itself), so the worst moments are hit on purpose.

Off unless `SEAWALL_CRASH_POINTS` is set (never in production): then `crash_point(name)` is a dict
lookup. The setting is `name=probability` pairs, comma separated (`jobs.after_handler=0.05,...`);
`*` stands for every point. `SEAWALL_CRASH_SEED` (an int) seeds the draws, so a run replays; each
process mixes its pid into the seed, so processes do not die in lockstep.

Points (where each is called says exactly which instant it is):
- `jobs.before_handler`: a job is claimed and leased; its handler has not run (before send).
- `jobs.after_handler`: the handler returned (its provider call happened); the outcome is not yet
  recorded (after send, before record).
- `jobs.after_commit`: the outcome is committed; the broker message is not yet acked (between
  commit and ack).
- `payments.after_provider_call`: the provider answered a charge or refund (taken, declined or
  refused); nothing of it is recorded yet.

In-process tests arm a point with an action instead (`arm`), e.g. one that raises `SimulatedCrash`,
a BaseException that no handler or engine code catches, to stand for the process dying there.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable

POINTS = ("jobs.before_handler", "jobs.after_handler", "jobs.after_commit", "payments.after_provider_call")

_ENV = "SEAWALL_CRASH_POINTS"
_SEED_ENV = "SEAWALL_CRASH_SEED"


class SimulatedCrash(BaseException):  # noqa: N818 - it stands for the process dying, not an error
    """Raised by an armed in-process crash point: the process "died" at `point`."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.point = point


def _kill_self(_point: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def parse(spec: str) -> dict[str, float]:
    """`name=probability,...` → {name: probability}; `*` expands to every point. ValueError names
    the bad entry (an unknown point, or a probability outside [0, 1])."""
    found: dict[str, float] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        name, _, value = entry.partition("=")
        name = name.strip()
        try:
            probability = float(value) if value.strip() else 1.0
        except ValueError:
            raise ValueError(f"{_ENV}: {entry!r} is not name=probability") from None
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{_ENV}: {entry!r}: the probability must be within [0, 1]")
        names = POINTS if name == "*" else (name,)
        for point in names:
            if point not in POINTS:
                raise ValueError(f"{_ENV}: unknown crash point {point!r} (known: {', '.join(POINTS)})")
            found[point] = probability
    return found


class CrashPoints:
    def __init__(self) -> None:
        self.armed: dict[str, tuple[float, Callable[[str], None]]] = {}
        self.rng = random.Random()
        self.hits: dict[str, int] = {}

    def load_environment(self) -> None:
        spec = os.environ.get(_ENV, "")
        if not spec:
            return
        try:
            seed = int(os.environ.get(_SEED_ENV, "0") or 0)
        except ValueError:
            raise ValueError(f"{_SEED_ENV}: must be an integer") from None
        self.rng = random.Random(seed * 1_000_003 + os.getpid())
        for point, probability in parse(spec).items():
            self.armed[point] = (probability, _kill_self)


_POINTS = CrashPoints()


def load_environment() -> None:
    """Arm the points `SEAWALL_CRASH_POINTS` names (every `seawall` command calls it at start-up, with
    its settings). Raises `SettingError` (one line, naming the variable) on a bad value."""
    from seawall.config import SettingError

    try:
        _POINTS.load_environment()
    except ValueError as exc:
        variable, _, problem = str(exc).partition(": ")
        raise SettingError(variable, problem) from None


def crash_point(name: str) -> None:
    """Die here if `name` is armed and the seeded draw says so; nothing otherwise (one dict lookup)."""
    armed = _POINTS.armed.get(name)
    if armed is None:
        return
    probability, action = armed
    if probability >= 1.0 or _POINTS.rng.random() < probability:
        _POINTS.hits[name] = _POINTS.hits.get(name, 0) + 1
        action(name)


def arm(name: str, action: Callable[[str], None], *, probability: float = 1.0,
        rng: random.Random | None = None) -> None:
    """Arm `name` in this process (tests): `action(name)` runs when the draw hits."""
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    _POINTS.armed[name] = (probability, action)
    if rng is not None:
        _POINTS.rng = rng


def disarm(name: str | None = None) -> None:
    """Disarm one point, or every point."""
    if name is None:
        _POINTS.armed.clear()
    else:
        _POINTS.armed.pop(name, None)


def raise_simulated_crash(point: str) -> None:
    """An `arm` action for in-process tests: the "process" dies at `point`."""
    raise SimulatedCrash(point)
