"""Job kinds and their handlers, registered with a decorator.

A kind is named `"<domain>.<verb>"`. Its handler is `async def handler(ctx: JobContext[R]) -> None`,
`R` being the Protocol of what it uses of the process runtime (`ctx.runtime`, see `context.py`);
it gets the job (ids as JSON primitives in `ctx.payload`) and `ctx.session`, whose writes commit in
the same transaction as the job's completion. Handlers must be safe to run twice.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seawall.jobs.errors import UnknownJobKindError
from seawall.kit.modules import submodules_named

if TYPE_CHECKING:
    from seawall.jobs.context import JobContext

Handler = Callable[["JobContext[Any]"], Awaitable[None]]  # each handler names its own runtime Protocol


@dataclass(frozen=True)
class JobKind:
    name: str
    queue: str
    handler: Handler
    max_attempts: int | None = None  # None: the settings default
    backoff_base_seconds: float | None = None
    backoff_cap_seconds: float | None = None
    timeout_seconds: float = 300.0
    permanent_errors: tuple[type[BaseException], ...] = ()
    every_seconds: float | None = None  # periodic: enqueued once per period by some worker


@dataclass
class JobRegistry:
    kinds: dict[str, JobKind] = field(default_factory=dict)

    def handler(
        self,
        name: str,
        *,
        queue: str,
        max_attempts: int | None = None,
        backoff_base_seconds: float | None = None,
        backoff_cap_seconds: float | None = None,
        timeout_seconds: float = 300.0,
        permanent_errors: tuple[type[BaseException], ...] = (),
        every_seconds: float | None = None,
        aliases: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Register `name`; each of `aliases` (a kind's former names) runs the same handler, so jobs
        queued by an earlier version under an old name still run after an upgrade."""
        for kind_name in (name, *aliases):
            if "." not in kind_name:
                raise ValueError(f"job kinds are named '<domain>.<verb>', got {kind_name!r}")

        def register(function: Handler) -> Handler:
            for kind_name in (name, *aliases):
                existing = self.kinds.get(kind_name)
                if existing is not None and existing.handler is not function:
                    raise ValueError(f"job kind {kind_name!r} is already registered")
                self.kinds[kind_name] = JobKind(
                    name=kind_name,
                    queue=queue,
                    handler=function,
                    max_attempts=max_attempts,
                    backoff_base_seconds=backoff_base_seconds,
                    backoff_cap_seconds=backoff_cap_seconds,
                    timeout_seconds=timeout_seconds,
                    permanent_errors=permanent_errors,
                    every_seconds=every_seconds,
                )
            return function

        return register

    def get(self, name: str) -> JobKind:
        try:
            return self.kinds[name]
        except KeyError:
            raise UnknownJobKindError(f"no handler is registered for job kind {name!r}") from None

    def names_for_queues(self, queues: list[str]) -> list[str]:
        return sorted(kind.name for kind in self.kinds.values() if kind.queue in queues)

    def periodic(self) -> list[JobKind]:
        return [kind for kind in self.kinds.values() if kind.every_seconds]


registry = JobRegistry()
job_handler = registry.handler



def load_job_modules(extra: list[str] | None = None) -> None:
    """Import every `seawall.<domain>.tasks` module, plus `extra` (from `SEAWALL_JOB_MODULES`).

    Discovery by convention: a new domain's handlers register without a hand-kept list.
    """
    for name in submodules_named("seawall", "tasks"):
        importlib.import_module(name)
    for name in extra or []:
        importlib.import_module(name)
