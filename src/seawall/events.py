"""Domain events: how one domain's change makes other domains act, inside the same transaction.

A domain announces what happened (`payments.events.PaymentSucceeded`, `accounts.events.UserActivated`)
with `await publish(session, event, clock=clock)`; every subscriber of that event type (or of a base
class of it) runs at once, in order, on the same session, before `publish` returns. Subscribers only
write rows and enqueue jobs: anything that leaves the process still goes through the job engine, so
an effect happens if and only if the publisher's transaction commits. This is the message bus of
*Architecture Patterns with Python* (cosmicpython, ch. 8), synchronous and in process, with one
difference: a subscriber's exception is not logged and skipped, it propagates and the publisher's
transaction rolls back.

Subscriptions are declared next to the handler, in the subscribing domain's `subscribers.py`:

    @subscriber(PaymentSucceeded)
    async def activate_paid_sign_up(session: AsyncSession, event: PaymentSucceeded, *, clock: Clock) -> None: ...

Every `seawall.<package>.subscribers` module is imported before the first event is published, by
convention (like job handlers), so a process cannot publish to a half-registered bus.
`subscriptions()` lists them (a test pins the list).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from seawall.kit.clock import Clock
from seawall.kit.modules import submodules_named


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Base of every domain event: an immutable record of something that happened, carrying ids and
    the values subscribers need (JSON-able primitives), never ORM objects."""


E = TypeVar("E", bound=DomainEvent)
E_contra = TypeVar("E_contra", bound=DomainEvent, contravariant=True)


class Subscriber(Protocol[E_contra]):
    __qualname__: str
    __module__: str

    def __call__(self, session: AsyncSession, event: E_contra, *, clock: Clock) -> Awaitable[None]: ...


class EventBus:
    """Event type → subscribers, in registration order. `discover` names the package whose
    `<package>.<sub>.subscribers` modules register on first use."""

    def __init__(self, *, discover: str | None = None) -> None:
        self._subscribers: dict[type[DomainEvent], list[Subscriber[Any]]] = {}
        self._discover = discover
        self._discovered = discover is None

    def subscriber(self, event_type: type[E]) -> Callable[[Subscriber[E]], Subscriber[E]]:
        """Decorator: run the function whenever an event of `event_type` (or a subclass) is published."""

        def register(handler: Subscriber[E]) -> Subscriber[E]:
            handlers = self._subscribers.setdefault(event_type, [])
            if handler not in handlers:
                handlers.append(handler)
            return handler

        return register

    def unsubscribe(self, event_type: type[E], handler: Subscriber[E]) -> None:
        """Undo `subscriber` (tests that add a subscriber for one case)."""
        self._subscribers.get(event_type, []).remove(handler)

    async def publish(self, session: AsyncSession, event: DomainEvent, *, clock: Clock) -> None:
        """Run every subscriber of `event`, in order, in the caller's transaction. A subscriber's
        exception propagates unchanged (the caller's transaction then rolls back)."""
        self.discover()
        for handler in self.handlers_for(type(event)):
            await handler(session, event, clock=clock)

    def handlers_for(self, event_type: type[DomainEvent]) -> list[Subscriber[Any]]:
        handlers: list[Subscriber[Any]] = []
        for cls in reversed(event_type.__mro__):  # base-class subscribers first
            handlers.extend(self._subscribers.get(cls, ()))
        return handlers

    def subscriptions(self) -> dict[str, list[str]]:
        """`{"payments.events.PaymentSucceeded": ["accounts.subscribers.activate_paid_sign_up", …]}`."""
        self.discover()
        return {_name(event_type): [_name(handler) for handler in handlers]
                for event_type, handlers in sorted(self._subscribers.items(), key=lambda item: _name(item[0]))}

    def discover(self) -> None:
        if self._discovered or self._discover is None:
            return
        for name in submodules_named(self._discover, "subscribers"):
            importlib.import_module(name)
        self._discovered = True


def _name(thing: Any) -> str:
    module = str(thing.__module__).removeprefix("seawall.")
    return f"{module}.{thing.__qualname__}"


bus = EventBus(discover="seawall")
subscriber = bus.subscriber
publish = bus.publish
subscriptions = bus.subscriptions
