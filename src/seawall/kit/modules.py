"""Finding modules by convention (every `<package>.<sub>.tasks`, every `<package>.<sub>.subscribers`)
without importing what does not hold one."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path


def submodules_named(package: str, name: str) -> list[str]:
    """`<package>.<sub>.<name>` for every subpackage of `package` with a `<name>.py`, sorted by name.

    The file is looked for on disk, so the subpackages without one are not imported (importing a
    package runs its `__init__`: asking `importlib.util.find_spec` would load every one of them).
    """
    root = importlib.import_module(package)
    found = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda info: info.name):
        directory = getattr(info.module_finder, "path", None)
        if info.ispkg and directory is not None and (Path(directory) / info.name / f"{name}.py").is_file():
            found.append(f"{package}.{info.name}.{name}")
    return found
