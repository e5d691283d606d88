"""What the legacy app remembers while it runs: each side effect counted, and each request seen."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LegacyState:
    effects: Counter[str] = field(default_factory=Counter)  # e.g. {"order.created": 2}
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.effects.clear()
        self.requests.clear()


STATE = LegacyState()
