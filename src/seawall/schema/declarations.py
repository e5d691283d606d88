"""What each migration promises the release before it: expand or contract.

Every script in `seawall/migrations/versions` says, at module level (`script.py.mako` writes both
lines, unfilled):

    compatibility = "expand"        # or "contract"
    compatibility_reason = "why the previous release still runs against this schema (or does not)"

- **expand**: the code of the previous revision keeps running correctly against the schema this
  migration leaves, side by side with the new code: new tables, nullable columns or columns with a
  server default, new indexes, data backfills that old and new code read alike.
- **contract**: it does not: the migration drops or renames something the previous release uses,
  adds a NOT NULL column without a server default that its INSERTs omit, or changes what a row
  means, so that rows one release writes are misread by the other.

This is the expand/contract ("parallel change") pattern: a change that breaks old code is shipped as
an expand in one release and the contract in a later one, once no process of the old release runs.
`seawall.schema.window` lets a process start against one expand revision past its own head, and
`seawall.schema.rollout` judges a pending migration by these declarations.

`ScriptHistory` reads the scripts of one script directory (the package's by default), which must form
one line (no branches): `declaration_of` raises `ValueError` naming the script that lacks a valid
declaration, and the history refuses a branched directory the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alembic.script import Script, ScriptDirectory

from seawall.db import MIGRATIONS_DIR


class Compatibility(StrEnum):
    EXPAND = "expand"
    CONTRACT = "contract"


@dataclass(frozen=True)
class DeclaredRevision:
    """One revision as a release knows it: from its own script, or from the database's
    `schema_revisions` row (`seawall.schema.history`) when the script belongs to a later release."""

    revision: str
    down_revision: str | None
    compatibility: Compatibility
    reason: str


def declaration_of(script: Script) -> DeclaredRevision:
    """The declaration of one Alembic script; `ValueError` when it is missing, unfilled or invalid."""
    module = script.module
    value = getattr(module, "compatibility", None)
    reason = getattr(module, "compatibility_reason", None)
    where = f"migration {script.revision} ({Path(script.path).name})"
    if value not in {c.value for c in Compatibility}:
        raise ValueError(f"{where}: set `compatibility` to \"expand\" or \"contract\" (found {value!r})")
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"{where}: set `compatibility_reason` to one line saying why it is {value}")
    down = script.down_revision
    if isinstance(down, (tuple, list)):
        raise ValueError(f"{where}: merges {', '.join(down)}; Seawall's revisions form one line")
    return DeclaredRevision(revision=script.revision, down_revision=down, compatibility=Compatibility(value),
                            reason=" ".join(reason.split()))


class ScriptHistory:
    """The revisions of one script directory, oldest first, each with its declaration."""

    def __init__(self, location: Path = MIGRATIONS_DIR) -> None:
        self.location = location
        self.scripts = ScriptDirectory(str(location))
        heads = self.scripts.get_heads()
        if len(heads) != 1:
            raise ValueError(f"{location}: {len(heads)} heads ({', '.join(heads)}); Seawall's revisions form one line")
        ordered = [declaration_of(script) for script in self.scripts.walk_revisions()]
        ordered.reverse()
        self.revisions: Sequence[DeclaredRevision] = tuple(ordered)
        self._index = {declared.revision: index for index, declared in enumerate(ordered)}

    @property
    def head(self) -> str:
        return self.revisions[-1].revision

    def __iter__(self) -> Iterator[DeclaredRevision]:
        return iter(self.revisions)

    def knows(self, revision: str) -> bool:
        return revision in self._index

    def position(self, revision: str | None) -> int:
        """0-based place of `revision` in the line; -1 for none (an empty database, `base`)."""
        return -1 if revision is None else self._index[revision]

    def between(self, older: str | None, newer: str | None) -> tuple[DeclaredRevision, ...]:
        """The revisions after `older` up to and including `newer` (both known), oldest first."""
        return tuple(self.revisions[self.position(older) + 1:self.position(newer) + 1])

    def resolve(self, target: str) -> str | None:
        """A revision id as Alembic accepts it (`head`, `base`, an id or a unique prefix of one) → the
        full id (None for `base`); `ValueError` with a one-line reason otherwise (an unknown id, or a
        prefix of several, listed)."""
        if target == "base":
            return None
        try:
            script = self.scripts.get_revision(target)
        except Exception as exc:  # alembic raises CommandError / ResolutionError / RangeNotAncestorError
            candidates = [declared.revision for declared in self.revisions if declared.revision.startswith(target)]
            if len(candidates) == 1:  # Alembic matches a prefix only from 4 characters on
                return candidates[0]
            if candidates:
                raise ValueError(f"ambiguous revision {target!r}: the start of {', '.join(candidates)}") from exc
            raise ValueError(f"unknown revision {target!r}: {exc}") from exc
        if script is None:
            raise ValueError(f"unknown revision {target!r}")
        return script.revision
