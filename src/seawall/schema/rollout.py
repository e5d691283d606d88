"""Is migrating now safe for a rolling deploy? (`seawall migrate --check`)

A rolling deploy runs the new release's migration first (the migration Job), then replaces the
running processes a few at a time: until the rollout ends, processes of the release the database
was at keep running, and restart, against the migrated schema. That is safe when they start against
it and run correctly on it: exactly one pending revision, declared expand
(`seawall.schema.declarations`), and a running release that knows the window (revision 0014 or
later, `seawall.schema.window`). Otherwise the check says why not and what to do instead. A
database ahead of this release is judged the other way round (a code rollback): safe when this
release starts against it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from seawall.schema.declarations import Compatibility, DeclaredRevision, ScriptHistory
from seawall.schema.window import FIRST_WINDOWED_REVISION, Position, SchemaState


@dataclass(frozen=True)
class RolloutCheck:
    database_revision: str | None
    code_head: str
    pending: tuple[DeclaredRevision, ...]  # this release's revisions the database lacks, oldest first
    extra: tuple[DeclaredRevision, ...]  # the database's revisions past this release's head, oldest first
    safe: bool
    verdict: str  # one sentence: what happens to the running processes
    advice: str  # what to do (empty when there is nothing to do)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_rollout(state: SchemaState, code: ScriptHistory) -> RolloutCheck:
    current, head = state.database_revision, state.code_head

    def verdict(safe: bool, text: str, advice: str, *, pending: tuple[DeclaredRevision, ...] = ()) -> RolloutCheck:
        return RolloutCheck(current, head, pending, state.ahead, safe, text, advice)

    if state.position is Position.CURRENT:
        return verdict(True, f"up to date: the database is at this release's head {head}", "")
    if state.position is Position.AHEAD_COMPATIBLE:
        return verdict(True, f"the database is one expand revision ({current}) ahead of this release, whose "
                             "processes start against it (a rolling deploy in progress, or a code rollback)",
                       f"nothing to migrate; to undo {current} as well, run `seawall migrate --to {head}` with "
                       "the release that migrated it, after every process runs this release")
    if state.position is Position.OUT_OF_WINDOW:
        return verdict(False, f"the database is ahead of this release and {state.problem}: this release's "
                              "processes refuse to start against it",
                       f"deploy the release that migrated it, or first roll the schema back with that release's "
                       f"`seawall migrate --to {head}`")
    pending = code.between(current, head)
    if current is None:
        return verdict(True, "a new database: no process runs against it yet",
                       "run `seawall migrate`, then start the processes", pending=pending)
    contracts = [p for p in pending if p.compatibility is Compatibility.CONTRACT]
    stop_first = (f"stop every process of revision {current}, run `seawall migrate`, then start this release "
                  "(a short downtime)")
    if code.knows(FIRST_WINDOWED_REVISION) and code.position(current) < code.position(FIRST_WINDOWED_REVISION):
        return verdict(False, f"processes of revision {current} start against their own revision only (the "
                              f"compatibility window came with {FIRST_WINDOWED_REVISION}): any of them that "
                              "restarts after the migration refuses to start", stop_first, pending=pending)
    if contracts:
        named = "; ".join(f"{c.revision} is a contract ({c.reason})" for c in contracts)
        return verdict(False, f"{named}: processes of revision {current} do not run correctly against it",
                       f"ship the expand part in one release and the contract in a later one, once no process "
                       f"of {current} runs; or {stop_first}", pending=pending)
    if len(pending) > 1:
        return verdict(False, f"the schema would be {len(pending)} revisions ahead of the running processes "
                              f"({current}), and they start at most one expand revision ahead",
                       f"deploy one release per revision (migrate, then roll out, each); or {stop_first}",
                       pending=pending)
    return verdict(True, f"{pending[0].revision} is an expand migration ({pending[0].reason}): processes of "
                         f"revision {current} keep running and restarting against it",
                   "run `seawall migrate` (the migration Job), then roll out this release", pending=pending)
