"""Reproducible installs (issue 12, Deliver 7): `constraints.txt` pins the whole tested dependency set,
and the installed one is what it says; `seawall/sqlite_driver.py`'s private reach into aiosqlite and
SQLAlchemy is re-checked whenever either library changes version.

These fail loudly, with what to do, when a dependency changes without `make lock`, or when the two
libraries move away from the versions the driver was read against.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from seawall import sqlite_driver

ROOT = Path(__file__).resolve().parents[2]
RELOCK = "change pyproject.toml if needed, run `make lock`, commit constraints.txt"


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version
    return pins


def dependency_closure() -> dict[str, set[str]]:
    """Every distribution seawall[dev] needs (name -> the extras asked of it), from pyproject.toml down
    through the installed packages' own requirements, markers evaluated for this interpreter."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [(Requirement(text), "") for text in
               [*project["dependencies"], *project["optional-dependencies"]["dev"]]]
    needed: dict[str, set[str]] = {}
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        new_extras = set(requirement.extras) - needed.get(name, set())
        if name in needed and not new_extras:
            continue
        needed.setdefault(name, set()).update(requirement.extras)
        for text in metadata.requires(name) or []:
            for asked in ["", *needed[name]]:
                pending.append((Requirement(text), asked))
    return needed


def test_every_package_seawall_needs_is_locked_and_installed_at_its_pin() -> None:
    pins = locked()
    needed = dependency_closure()
    missing = sorted(name for name in needed if name not in pins)
    assert not missing, f"not in constraints.txt: {missing}; {RELOCK}"
    wrong = {name: (metadata.version(name), pins[name]) for name in needed
             if metadata.version(name) != pins[name]}
    assert not wrong, (f"installed != locked (installed, locked): {wrong}; "
                       f"reinstall with `make install-dev`, or {RELOCK}")


def test_the_lock_holds_nothing_seawall_does_not_need() -> None:
    stale = sorted(set(locked()) - set(dependency_closure()))
    assert not stale, f"constraints.txt pins packages nothing needs any more: {stale}; {RELOCK}"


def test_sqlite_driver_runs_on_the_versions_it_was_read_against() -> None:
    installed = {name: metadata.version(name) for name in sqlite_driver.CHECKED_AGAINST}
    assert installed == sqlite_driver.CHECKED_AGAINST, (
        f"aiosqlite/SQLAlchemy changed: installed {installed}, sqlite_driver.CHECKED_AGAINST "
        f"{sqlite_driver.CHECKED_AGAINST}. seawall/sqlite_driver.py uses private parts of both (aiosqlite's "
        "Connection._execute and ._conn; SQLAlchemy's AsyncAdapt_aiosqlite_connection._execute_mutex and "
        "._connection, the cursor's _rows). Re-read it against the new versions, run "
        "tests/integration/test_embedded_database.py, then update CHECKED_AGAINST and pyproject.toml's pins.")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {canonicalize_name(Requirement(text).name): str(Requirement(text).specifier)
              for text in project["dependencies"]}
    for name, version in sqlite_driver.CHECKED_AGAINST.items():
        assert pinned[canonicalize_name(name)] == f"=={version}", f"pyproject.toml must pin {name}=={version}"
