"""Promise: the arrows of the architecture point one way, and a change that bends one fails here.

Every module under `src/seawall` is parsed with `ast` (nothing is imported). Each `import` statement,
at module level or inside a function, is an edge; `from x import y` points at the submodule `x.y`
when there is one, else at `x`; importing `a.b.c` also loads the packages `a` and `a.b`, so it is an
edge to each of them too. Imports under `if TYPE_CHECKING:` are edges as well (a static coupling),
except that rule (d) lets `cli`/`bench`/`chaos` name sandbox types that way (it loads nothing).

The rules (domains: accounts, payments, notifications, webhooks, idempotency):
(a) `seawall.jobs` and `seawall.kit` import no domain, directly or transitively;
(b) `seawall.kit` imports nothing of Seawall outside `kit`;
(c) a domain reaches another only through its public modules (`PUBLIC_SURFACE`: the events it
    announces, its service, schemas, errors, the `auth` and idempotency route dependencies,
    payments' `plans`), never its models, repository, tasks, subscribers or internals;
(d) only `sandbox`, `cli`, `bench` and `chaos` (the `seawall chaos` scenarios, which run the sandbox
    like a bench) import `seawall.sandbox`, and `cli`/`bench`/`chaos` only inside a function (or for
    type checking only);
(e) nothing under `web`, `health`, `jobs`, `kit`, `admin` or a domain imports the composition root
    (`seawall.runtime`, `seawall.app`);
(f) no module of `seawall.jobs` imports an HTTP framework (`fastapi`, `starlette`) or the HTTP edge
    (`web`, `admin`, `health`).

`KNOWN_VIOLATIONS` lists violations another change in flight removes; a listed one that is no longer
found fails too, so the list cannot go stale.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import seawall

ROOT = "seawall"
DOMAINS = ("accounts", "payments", "notifications", "webhooks", "idempotency")
RUNTIME_FREE = ("web", "health", "jobs", "kit", "admin", *DOMAINS)
SANDBOX_LOADERS = ("cli", "bench", "chaos")
HTTP_FRAMEWORKS = ("fastapi", "starlette")
HTTP_EDGE = ("web", "admin", "health")
COMPOSITION_ROOT = (f"{ROOT}.runtime", f"{ROOT}.app")
# `auth` and `reads` are accounts' route dependencies: the signed-in caller, and the caller's reads that
# may be stale (routed to a read replica).
PUBLIC_SURFACE = ("events", "service", "schemas", "errors", "auth", "reads", "plans")
ROUTE_DEPENDENCIES = {"idempotency": ("api",)}  # `IdempotencyDep`, used by every creating route

# (rule, importer, imported) still present on this branch, each removed by a change in flight.
KNOWN_VIOLATIONS: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a module of the graph, or an outside top-level package (`fastapi`)
    line: int
    in_function: bool
    type_only: bool


@dataclass(frozen=True)
class Violation:
    rule: str
    importer: str
    imported: str
    detail: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.rule, self.importer, self.imported)

    def __str__(self) -> str:
        return f"({self.rule}) {self.importer} -> {self.imported}: {self.detail}"


@dataclass(frozen=True)
class ImportGraph:
    modules: frozenset[str]
    imports: tuple[Import, ...]

    def edges_from(self, module: str) -> Iterator[Import]:
        return (edge for edge in self.imports if edge.importer == module)


# -- building the graph ---------------------------------------------------------------------------------

def module_sources(package_dir: Path, package: str = ROOT) -> dict[str, tuple[str, bool]]:
    """{module name: (source, is_package)} for every `.py` file under `package_dir`."""
    sources: dict[str, tuple[str, bool]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        sources[".".join([package, *parts])] = (path.read_text(encoding="utf-8"), is_package)
    return sources


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST, *, in_function: bool = False,
                  type_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function, type_only
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield from _import_nodes(ast.Module(body=[statement], type_ignores=[]), in_function=in_function,
                                         type_only=True)
            for statement in child.orelse:
                yield from _import_nodes(ast.Module(body=[statement], type_ignores=[]), in_function=in_function,
                                         type_only=type_only)
        else:
            function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from _import_nodes(child, in_function=in_function or function, type_only=type_only)


def _with_parents(name: str, modules: frozenset[str]) -> list[str]:
    """`a.b.c` and the packages loading it loads (`a`, `a.b`), those that are modules of the graph."""
    parts = name.split(".")
    names = [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return [candidate for candidate in names if candidate in modules and candidate != ROOT] or [parts[0]]


def build_graph(sources: Mapping[str, tuple[str, bool]]) -> ImportGraph:
    modules = frozenset(sources)
    imports: list[Import] = []
    for module, (source, is_package) in sources.items():
        package = module if is_package else module.rpartition(".")[0]
        for node, in_function, type_only in _import_nodes(ast.parse(source, filename=module)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                for imported in _with_parents(target, modules):
                    if imported != module:
                        imports.append(Import(module, imported, node.lineno, in_function, type_only))
    return ImportGraph(modules=modules, imports=tuple(imports))


# -- the rules ------------------------------------------------------------------------------------------

def _area(module: str) -> str | None:
    """The top-level package or module of Seawall a module belongs to (`seawall.jobs.worker` -> `jobs`)."""
    parts = module.split(".")
    return parts[1] if parts[0] == ROOT and len(parts) > 1 else None


def _within(module: str, *areas: str) -> bool:
    return _area(module) in areas


def _shortest_path(graph: ImportGraph, start: str, goal: str) -> list[str]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        if current == goal:
            path = [goal]
            while path[-1] != start:
                path.append(previous[path[-1]])
            return path[::-1]
        for edge in graph.edges_from(current):
            if edge.imported not in previous and edge.imported != start:
                previous[edge.imported] = current
                queue.append(edge.imported)
    return [start, goal]


def _reachable(graph: ImportGraph, start: str) -> set[str]:
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        for edge in graph.edges_from(queue.popleft()):
            if edge.imported not in seen:
                seen.add(edge.imported)
                queue.append(edge.imported)
    return seen


def engine_and_kit_import_no_domain(graph: ImportGraph) -> list[Violation]:
    """(a), transitively: reported once per (jobs/kit module, domain), with the shortest way there."""
    found: list[Violation] = []
    for module in sorted(m for m in graph.modules if _within(m, "jobs", "kit")):
        paths: dict[str, list[str]] = {}
        for reached in sorted(m for m in _reachable(graph, module) if _within(m, *DOMAINS)):
            path = _shortest_path(graph, module, reached)
            domain = f"{ROOT}.{_area(reached)}"
            if domain not in paths or len(path) < len(paths[domain]):
                paths[domain] = path
        found += [Violation("a", module, domain, "via " + " -> ".join(path)) for domain, path in paths.items()]
    return found


def kit_imports_only_kit(graph: ImportGraph) -> list[Violation]:
    """(b)"""
    return [Violation("b", edge.importer, edge.imported, f"line {edge.line}") for edge in graph.imports
            if _within(edge.importer, "kit") and _area(edge.imported) is not None
            and not _within(edge.imported, "kit")]


def no_domain_reads_another_domains_tables(graph: ImportGraph) -> list[Violation]:
    """(c)"""
    found = []
    for edge in graph.imports:
        owner, importer_area = edge.imported.split("."), _area(edge.importer)
        if (importer_area in DOMAINS and len(owner) >= 3 and owner[0] == ROOT and owner[1] in DOMAINS
                and owner[1] != importer_area
                and owner[2] not in (*PUBLIC_SURFACE, *ROUTE_DEPENDENCIES.get(owner[1], ()))):
            found.append(Violation("c", edge.importer, edge.imported, f"line {edge.line}"))
    return found


def only_the_cli_loads_the_sandbox(graph: ImportGraph) -> list[Violation]:
    """(d)"""
    found = []
    for edge in graph.imports:
        if not _within(edge.imported, "sandbox") or _within(edge.importer, "sandbox"):
            continue
        if not _within(edge.importer, *SANDBOX_LOADERS):
            found.append(Violation("d", edge.importer, edge.imported, f"line {edge.line}: not a CLI module"))
        elif not (edge.in_function or edge.type_only):
            found.append(Violation("d", edge.importer, edge.imported, f"line {edge.line}: at module level"))
    return found


def nothing_below_imports_the_runtime(graph: ImportGraph) -> list[Violation]:
    """(e)"""
    return [Violation("e", edge.importer, edge.imported, f"line {edge.line}") for edge in graph.imports
            if edge.imported in COMPOSITION_ROOT and _within(edge.importer, *RUNTIME_FREE)]


def engine_has_no_http_code(graph: ImportGraph) -> list[Violation]:
    """(f)"""
    return [Violation("f", edge.importer, edge.imported, f"line {edge.line}") for edge in graph.imports
            if _within(edge.importer, "jobs")
            and (edge.imported.split(".")[0] in HTTP_FRAMEWORKS or _within(edge.imported, *HTTP_EDGE))]


RULES = (engine_and_kit_import_no_domain, kit_imports_only_kit, no_domain_reads_another_domains_tables,
         only_the_cli_loads_the_sandbox, nothing_below_imports_the_runtime, engine_has_no_http_code)


def violations(graph: ImportGraph) -> list[Violation]:
    return [violation for rule in RULES for violation in rule(graph)]


def seawall_graph() -> ImportGraph:
    return build_graph(module_sources(Path(seawall.__file__).parent))


# -- the tests ------------------------------------------------------------------------------------------

def test_seawall_breaks_no_import_rule() -> None:
    unexpected = [v for v in violations(seawall_graph()) if v.key not in KNOWN_VIOLATIONS]
    assert not unexpected, "import rules broken:\n" + "\n".join(map(str, unexpected))


def test_every_known_violation_is_still_there() -> None:
    """A change that removed one must also remove it from `KNOWN_VIOLATIONS`."""
    found = {v.key for v in violations(seawall_graph())}
    gone = sorted(KNOWN_VIOLATIONS - found)
    assert not gone, "no longer found; delete from KNOWN_VIOLATIONS:\n" + "\n".join(map(str, gone))


def test_the_graph_sees_the_whole_package() -> None:
    graph = seawall_graph()
    assert {"seawall.jobs.worker", "seawall.kit.clock", "seawall.payments.tasks", "seawall.runtime"} <= graph.modules
    edges = {(edge.importer, edge.imported) for edge in graph.imports}
    assert ("seawall.runtime", "seawall.payments.gateway") in edges  # `from x import y` on a module
    assert ("seawall.runtime", "seawall.payments") in edges  # loading a module loads its package
    demo = [e for e in graph.imports if (e.importer, e.imported) == ("seawall.cli.main", "seawall.cli.demo")]
    assert demo and all(edge.in_function for edge in demo)  # `seawall demo` imports it when run


def synthetic(**modules: str) -> ImportGraph:
    """A graph of tiny modules: keyword `jobs__worker` is module `seawall.jobs.worker`."""
    sources: dict[str, tuple[str, bool]] = {}
    for name, source in modules.items():
        dotted = f"{ROOT}.{name.replace('__', '.')}"
        sources[dotted] = (source, False)
        package = dotted.rpartition(".")[0]
        while package != ROOT and package not in sources:
            sources[package] = ("", True)
            package = package.rpartition(".")[0]
    return build_graph(sources)


def keys(graph: ImportGraph) -> set[tuple[str, str, str]]:
    return {v.key for v in violations(graph)}


def test_rule_a_sees_a_domain_reached_through_another_module() -> None:
    graph = synthetic(jobs__worker="from seawall.db import Database", db="import seawall.payments.models",
                      payments__models="")
    assert ("a", "seawall.jobs.worker", "seawall.payments") in keys(graph)
    assert ("a", "seawall.db", "seawall.payments") not in keys(graph)  # db is not the engine


def test_rule_b_sees_kit_importing_the_rest_of_seawall() -> None:
    graph = synthetic(kit__pagination="from seawall.errors import BadRequestError", kit__clock="", errors="")
    assert ("b", "seawall.kit.pagination", "seawall.errors") in keys(graph)
    assert not keys(synthetic(kit__pagination="from seawall.kit import clock", kit__clock=""))


def test_rule_c_sees_a_domain_reading_another_domains_tables() -> None:
    graph = synthetic(notifications__context="from seawall.payments import models, service, events",
                      webhooks__service="from seawall.payments import settlement",
                      payments__models="", payments__service="", payments__repository="", payments__events="",
                      payments__settlement="", payments__tasks="from seawall.payments import repository")
    assert keys(graph) == {("c", "seawall.notifications.context", "seawall.payments.models"),
                           ("c", "seawall.webhooks.service", "seawall.payments.settlement")}


def test_rule_d_sees_the_sandbox_loaded_at_module_level_or_outside_the_cli() -> None:
    graph = synthetic(sandbox__server="", app="from seawall.sandbox import server",
                      cli__main="import seawall.sandbox.server",
                      cli__demo="def run() -> None:\n    from seawall.sandbox.server import run\n",
                      bench__report="from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                    "    from seawall.sandbox.server import Server\n")
    found = {(rule, importer) for rule, importer, _ in keys(graph)}
    assert found == {("d", "seawall.app"), ("d", "seawall.cli.main")}


def test_rule_e_sees_the_edge_importing_the_composition_root() -> None:
    graph = synthetic(runtime="", web__deps="from seawall.runtime import Runtime",
                      idempotency__api="from .. import runtime", app="from seawall.runtime import Runtime",
                      accounts__service="import seawall.app")
    assert keys(graph) == {("e", "seawall.web.deps", "seawall.runtime"),
                           ("e", "seawall.idempotency.api", "seawall.runtime"),
                           ("e", "seawall.accounts.service", "seawall.app")}


def test_rule_f_sees_http_code_in_the_engine() -> None:
    graph = synthetic(jobs__api="from fastapi import APIRouter", admin__jobs="from fastapi import APIRouter",
                      web__deps="", jobs__worker="import seawall.web.deps")
    assert keys(graph) == {("f", "seawall.jobs.api", "fastapi"), ("f", "seawall.jobs.worker", "seawall.web"),
                           ("f", "seawall.jobs.worker", "seawall.web.deps")}
