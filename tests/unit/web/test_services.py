"""Promise: routes never meet an empty slot. Every `ServiceSlot` a route or middleware can ask for
is filled by the app factory (`provide_services`), with the runtime's live object; one never
provided answers `LookupError` (a wiring bug), not None."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI

import seawall
from seawall.app import provide_services
from seawall.runtime import Runtime
from seawall.web.services import ServiceSlot


def every_slot() -> list[ServiceSlot[Any]]:
    """The slots defined at module level anywhere in the edge: `web.deps`, each `<area>.deps`, middleware."""
    names = ["seawall.web.deps", "seawall.ratelimit.middleware", "seawall.legacy.bridge"]
    names += [f"seawall.{module.name}.deps" for module in pkgutil.iter_modules(seawall.__path__)
              if module.ispkg and importlib.util.find_spec(f"seawall.{module.name}.deps") is not None]
    return [value for name in names for value in vars(importlib.import_module(name)).values()
            if isinstance(value, ServiceSlot)]


def test_every_slot_is_provided_from_the_runtime() -> None:
    attributes = ["settings", "database", "clock", "secret_key", "cache", "passwords", "sessions", "payments",
                  "webhooks", "rate_limits", "reads"]
    runtime = SimpleNamespace(**{name: object() for name in attributes}, draining=False,
                              legacy=SimpleNamespace(sessions=object()))  # a bridge with legacy sessions
    app = FastAPI()
    provide_services(app, cast(Runtime, runtime))
    slots = every_slot()
    assert len(slots) >= 10
    missing = [slot for slot in slots if slot.find(app.state) is None]
    assert not missing, f"not provided by the app factory: {missing}"
    runtime.database = replaced = object()  # read live: a swapped object is seen at once
    assert any(slot.get(app.state) is replaced for slot in slots)


def test_a_slot_never_provided_is_a_wiring_error() -> None:
    slot: ServiceSlot[int] = ServiceSlot("nothing")
    app = FastAPI()
    assert slot.find(app.state) is None
    with pytest.raises(LookupError, match="nothing"):
        slot.get(app.state)
