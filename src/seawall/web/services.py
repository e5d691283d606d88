"""Typed slots on `app.state` for the objects routes need, filled by the app factory.

A `ServiceSlot[T]` names one thing a route may need (the clock, the database, the payment
gateway...). The app factory (the composition root) calls `slot.provide(app, getter)` once per slot
at start-up, with a getter that returns the live object (a test that swaps an object on the runtime
is seen at once); mypy checks there that the getter returns a `T`. A route asks for the object with
the slot's `Annotated` alias (`ClockDep = Annotated[Clock, Depends(CLOCK)]`), never for the whole
runtime, so the edge and the domains' routes do not import the composition root.

Contract:
- `slot.get(state)` returns the object, or raises `LookupError` if the slot was never provided (a
  wiring bug: the route answers 500).
- `slot.find(state)` returns None instead (for middleware that also runs before start-up).
- A slot is itself a FastAPI dependency: `Depends(slot)` resolves `slot.get(request.app.state)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from fastapi import Request
from starlette.applications import Starlette

T = TypeVar("T")

_GETTERS = "service_getters"  # the attribute of `app.state` holding {slot name: getter}


def _getters(state: Any) -> dict[str, Callable[[], object]]:
    getters: dict[str, Callable[[], object]] | None = getattr(state, _GETTERS, None)
    if getters is None:
        getters = {}
        setattr(state, _GETTERS, getters)
    return getters


class ServiceSlot(Generic[T]):
    """One named, typed object of the process, read by routes through `Depends(slot)`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ServiceSlot({self.name!r})"

    def provide(self, app: Starlette, getter: Callable[[], T]) -> None:
        """Fill the slot for `app`: `getter()` is called on every read and must return a `T`."""
        _getters(app.state)[self.name] = getter

    def find(self, state: Any) -> T | None:
        """The object, or None when the slot was not provided (e.g. before the app started)."""
        getter = _getters(state).get(self.name)
        return None if getter is None else cast(T, getter())

    def get(self, state: Any) -> T:
        """The object; `LookupError` when the slot was not provided."""
        getter = _getters(state).get(self.name)
        if getter is None:
            raise LookupError(f"{self!r} was not provided by the app factory")
        return cast(T, getter())

    async def __call__(self, request: Request) -> T:
        """Async, so FastAPI calls it on the event loop rather than in its thread pool."""
        return self.get(request.app.state)
