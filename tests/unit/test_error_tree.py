"""The error tree drawn in `seawall.errors`'s docstring is the real one: every `SeawallError`
subclass in the package (every module imported first) is drawn under its real parent, in the
column of the domain whose `errors.py` defines it, with its HTTP status and `error_type`."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import seawall
from seawall import errors
from seawall.errors import SeawallError

SKIPPED_PACKAGES = ("seawall.migrations",)  # Alembic's env.py runs migrations when imported
TREE_LINE = re.compile(r"^    (?P<indent>(?:[│ ]   )*)(?:[├└]── )?(?P<name>\w+Error)\s+(?:(?P<domain>[a-z_]+)\s+)?"
                       r"(?P<status>\d{3}) (?P<type>\w+)")


@dataclass(frozen=True)
class Drawn:
    parent: str | None
    domain: str | None
    status: int
    error_type: str


def drawn_tree() -> dict[str, Drawn]:
    assert errors.__doc__ is not None
    drawn: dict[str, Drawn] = {}
    path: list[str] = []  # the names on the way down to the current line
    for line in errors.__doc__.splitlines():
        match = TREE_LINE.match(line)
        if match is None:
            continue
        depth = len(match["indent"]) // 4 + (0 if line.startswith("    SeawallError") else 1)
        del path[depth:]
        drawn[match["name"]] = Drawn(parent=path[-1] if path else None, domain=match["domain"],
                                     status=int(match["status"]), error_type=match["type"])
        path.append(match["name"])
    return drawn


def every_error_class() -> list[type[SeawallError]]:
    for module in pkgutil.walk_packages(seawall.__path__, "seawall."):
        if not module.name.startswith(SKIPPED_PACKAGES):
            importlib.import_module(module.name)
    found: list[type[SeawallError]] = []
    pending: list[type[SeawallError]] = [SeawallError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_class_is_drawn_under_its_parent_with_its_status_and_type() -> None:
    drawn = drawn_tree()
    classes = every_error_class()
    assert set(drawn) == {cls.__name__ for cls in classes}, "draw new classes, remove deleted ones"
    for cls in classes:
        parents = [base for base in cls.__bases__ if issubclass(base, SeawallError)]
        module = cls.__module__.split(".")
        expected = Drawn(
            parent=parents[0].__name__ if parents else None,
            domain=None if cls.__module__ == "seawall.errors" else module[1],
            status=cls.status_code,
            error_type=cls.error_type,
        )
        assert drawn[cls.__name__] == expected, cls


def test_every_error_lives_in_an_errors_module() -> None:
    for cls in every_error_class():
        assert cls.__module__.endswith(".errors") or cls.__module__ == "seawall.errors", cls
