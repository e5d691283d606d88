"""Promise: every job kind the code enqueues has a registered handler (no job is born unrunnable)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest

import seawall
from seawall.jobs import JobRegistry, load_job_modules, registry

SOURCE_ROOT = Path(seawall.__file__).resolve().parent


def module_name(path: Path) -> str:
    relative = path.relative_to(SOURCE_ROOT.parent).with_suffix("")
    return ".".join(relative.parts).removesuffix(".__init__")


def resolve(expression: ast.expr, namespace: dict[str, Any]) -> Any:
    """A string literal, or a (dotted) name defined in the calling module."""
    if isinstance(expression, ast.Constant):
        return expression.value
    if isinstance(expression, ast.Name):
        return namespace[expression.id]
    if isinstance(expression, ast.Attribute):
        return getattr(resolve(expression.value, namespace), expression.attr)
    raise LookupError(ast.unparse(expression))


def kind_argument(call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "kind":
            return keyword.value
    return call.args[1] if len(call.args) > 1 else None


def is_enqueue_call(node: ast.AST) -> bool:
    """A call of Seawall's `enqueue` (by name, or as `jobs.enqueue` / `outbox.enqueue`), not another
    library's method of that name (the PgQueuer peer's `queries.enqueue`)."""
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    if isinstance(function, ast.Name):
        return function.id == "enqueue"
    return (isinstance(function, ast.Attribute) and function.attr == "enqueue"
            and isinstance(function.value, ast.Name) and function.value.id in {"jobs", "outbox"})


def enqueued_kinds() -> list[tuple[str, str]]:
    """(where, kind) for every `enqueue(session, KIND, ...)` call outside the engine itself."""
    found: list[tuple[str, str]] = []
    for path in sorted(SOURCE_ROOT.rglob("*.py")):
        if "jobs" in path.relative_to(SOURCE_ROOT).parts[:1]:
            continue  # the engine enqueues registered kinds only (periodic jobs, by their spec)
        tree = ast.parse(path.read_text(), filename=str(path))
        calls = [node for node in ast.walk(tree) if is_enqueue_call(node)]
        if not calls:
            continue
        namespace = vars(importlib.import_module(module_name(path)))
        for call in calls:
            assert isinstance(call, ast.Call)
            if any(keyword.arg == "registry" for keyword in call.keywords):
                continue  # a private registry (the benchmark's), not the one workers use
            where = f"{path.relative_to(SOURCE_ROOT)}:{call.lineno}"
            argument = kind_argument(call)
            assert argument is not None, f"{where}: enqueue() without a kind"
            try:
                kind = resolve(argument, namespace)
            except LookupError:
                pytest.fail(f"{where}: enqueue() kind must be a literal or a module constant, got "
                            f"{ast.unparse(argument)}")
            assert isinstance(kind, str), f"{where}: kind is {kind!r}"
            found.append((where, kind))
    return found


def test_every_enqueued_kind_is_registered() -> None:
    load_job_modules()
    found = enqueued_kinds()
    assert found, "found no enqueue() calls: the scan is broken"
    unregistered = [(where, kind) for where, kind in found if kind not in registry.kinds]
    assert unregistered == []


def test_known_kind_constants_are_registered() -> None:
    from seawall.accounts.service import PASSWORD_RESET_JOB

    load_job_modules()
    assert PASSWORD_RESET_JOB in registry.kinds


def test_every_registered_kind_runs_on_a_default_worker_queue() -> None:
    from seawall.config import Settings

    load_job_modules()
    default_queues = Settings.model_fields["worker_queues"].default.split(",")
    stranded = {name: kind.queue for name, kind in registry.kinds.items()
                if kind.queue not in default_queues and not name.startswith("tests.")}
    assert stranded == {}


def test_kind_names_must_be_domain_dot_verb() -> None:
    with pytest.raises(ValueError):
        JobRegistry().handler("nodot", queue="default")


def test_a_kind_cannot_be_registered_twice_with_different_handlers() -> None:
    local = JobRegistry()

    async def first(_ctx: Any) -> None: ...

    async def second(_ctx: Any) -> None: ...

    local.handler("tests.twice", queue="default")(first)
    local.handler("tests.twice", queue="default")(first)  # re-import of the same module: fine
    with pytest.raises(ValueError):
        local.handler("tests.twice", queue="default")(second)
