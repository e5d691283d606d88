"""The seeded disruption schedule of a chaos run: which role is SIGKILLed when, and when each private
server (PostgreSQL, RabbitMQ, Redis) is restarted.

The schedule is a pure function of the seed and the options (`plan_disruptions`), so a failing run
replays exactly with the same `--seed`: the same roles are hit at the same offsets from the start of
the load. Which process of a role is hit is drawn at the moment (`Disruption.pick`, a number in
[0, 1) scaled over the processes of that role that are up then).

Kills are spread over the window `[lead_in, duration]`: the window is cut into `kills` equal slots
and each kill falls at a random point of its own slot, so they never bunch up at one end; the roles
are dealt from a shuffled deck holding each role `kills / len(roles)` times (spread, not left to
luck). Server restarts fall at random points of the middle of the window, each server once, never
two at the same instant (they are run one after the other anyway).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ROLES = ("api", "worker")
SERVERS = ("postgres", "rabbitmq", "redis")


@dataclass(frozen=True)
class Disruption:
    """`at`: seconds after the load starts; `kind`: "kill" (SIGKILL a Seawall process of `target`, a
    role) or "restart" (restart the private server `target`); `pick`: which process of the role."""

    at: float
    kind: str
    target: str
    pick: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"at": round(self.at, 3), "kind": self.kind, "target": self.target}


def plan_disruptions(*, seed: int, kills: int, duration: float, roles: tuple[str, ...] = ROLES,
                     servers: tuple[str, ...] = (), lead_in: float = 1.0) -> list[Disruption]:
    """The run's disruptions, sorted by time. `kills` ≥ 0 SIGKILLs over `roles`; one restart of each of
    `servers`. `duration` (seconds) > `lead_in` ≥ 0; ValueError otherwise."""
    if kills < 0:
        raise ValueError("kills must be >= 0")
    if duration <= lead_in:
        raise ValueError(f"duration must be longer than the lead-in ({lead_in} s)")
    if not roles and kills:
        raise ValueError("kills need at least one role")
    rng = random.Random(seed)
    deck = [roles[index % len(roles)] for index in range(kills)]
    rng.shuffle(deck)
    slot = (duration - lead_in) / max(kills, 1)
    planned = [Disruption(at=lead_in + slot * (index + rng.random()), kind="kill", target=role, pick=rng.random())
               for index, role in enumerate(deck)]
    middle = (lead_in + (duration - lead_in) * 0.2, lead_in + (duration - lead_in) * 0.8)
    server_slot = (middle[1] - middle[0]) / max(len(servers), 1)
    order = list(servers)
    rng.shuffle(order)
    planned += [Disruption(at=middle[0] + server_slot * (index + 0.2 + 0.6 * rng.random()), kind="restart",
                           target=server) for index, server in enumerate(order)]
    return sorted(planned, key=lambda disruption: disruption.at)
