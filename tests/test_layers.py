"""The import graph of ``twin/``: no circles, and no module importing from a stage above it.

The graph is read with ``ast`` (nothing is imported), so the test is fast and sees every
import: at module level, inside functions (where circles hide) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "twin"
# Sample repositories the demo serves as data (their own packages, never imported by twin).
NOT_MODULES = (PACKAGE / "demo" / "data",)

# The layers, lowest first. A module belongs to the layer of its longest matching prefix and may
# import from its own layer and the layers below, never from one above. The order follows the
# flow of data (DESIGN.md): the shared model and settings; the stores and clusters every stage
# reaches; then the stages in pipeline order; serving; the entry points that drive them.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("twin", "twin.settings", "twin.domain", "twin.net", "twin.logs",
              "twin.progress", "twin.terminal", "twin.processes", "twin.prompting",
              "twin.markup")),
    ("infrastructure", ("twin.raycluster", "twin.rayjobs", "twin.warehouse", "twin.deltasource",
                        "twin.vectorstore", "twin.registry", "twin.prefect_client",
                        "twin.llm.models")),
    ("collect and features", ("twin.collect", "twin.features", "twin.report", "twin.voice",
                              "twin.posts")),
    # The retrieval primitive reads what ingest writes; the dataset stage retrieves each
    # sample's material with it.
    ("ingest and datasets", ("twin.ingest", "twin.ingest_runner", "twin.retrieval",
                             "twin.datasets")),
    ("train", ("twin.train",)),
    ("retrieval and generation", ("twin.rag", "twin.llm")),
    ("evaluate", ("twin.evaluate",)),
    # Each stage's typed request/result and the call into the stage's own module.
    ("stages", ("twin.stages",)),
    ("operations", ("twin.services", "twin.deployments", "twin.migrate")),
    ("serving", ("twin.serving",)),
    ("entry points", ("twin.cli", "twin.ui", "twin.orchestration", "twin.demo",
                      "twin.reference")),
]



@dataclass(frozen=True)
class Import:
    """One import of a twin module by another."""

    source: str
    target: str
    line: int
    scope: str  # "module" (runs on import), "function" (runs when called), "typing"

    def __str__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target} ({self.scope})"


def module_name(path: Path) -> str:
    """``twin/collect/base.py`` -> ``twin.collect.base``; a package's ``__init__`` is the
    package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def twin_modules() -> dict[str, Path]:
    """Every module of the package, by name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))
            if not any(path.is_relative_to(skip) for skip in NOT_MODULES)}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """The twin modules one file imports, with the scope each import runs in."""

    def __init__(self, name: str, is_package: bool, modules: set[str]) -> None:
        self.name, self.is_package, self.modules = name, is_package, modules
        self.scope = "module"
        self.found: list[Import] = []

    def _known(self, dotted: str) -> str | None:
        while dotted and dotted not in self.modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def _add(self, dotted: str, line: int) -> None:
        target = self._known(dotted)
        if target and target != self.name:
            self.found.append(Import(self.name, target, line, self.scope))

    def _within(self, scope: str, node: ast.AST) -> None:
        outer, self.scope = self.scope, scope if self.scope != "typing" else "typing"
        self.generic_visit(node)
        self.scope = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802 (ast's names)
        self._within("function", node)

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815
    visit_Lambda = visit_FunctionDef  # noqa: N815

    def visit_If(self, node: ast.If) -> None:  # noqa: N802
        if _is_type_checking(node.test):
            outer, self.scope = self.scope, "typing"
            for child in node.body:
                self.visit(child)
            self.scope = outer
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        for alias in node.names:
            if alias.name.split(".")[0] == "twin":
                self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        if node.level:
            base = self.name.split(".")
            if not self.is_package:
                base.pop()
            base = base[:len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module.split(".")[0] != "twin":
            return
        submodules = [f"{module}.{a.name}" for a in node.names
                      if f"{module}.{a.name}" in self.modules]
        for dotted in submodules:
            self._add(dotted, node.lineno)
        if len(submodules) < len(node.names):  # names defined in the module itself
            self._add(module, node.lineno)


def import_graph() -> list[Import]:
    """Every import between twin modules."""
    modules = twin_modules()
    found: list[Import] = []
    for name, path in modules.items():
        visitor = _Imports(name, path.name == "__init__.py", set(modules))
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        found += visitor.found
    return found


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of a module's layer (longest prefix wins)."""
    best, best_length = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def cycles(imports: list[Import]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _describe(component: list[str], imports: list[Import]) -> str:
    members = set(component)
    arrows = [str(i) for i in imports if i.source in members and i.target in members]
    return " / ".join(component) + ":\n    " + "\n    ".join(sorted(arrows))


def test_the_graph_is_read() -> None:
    """The walk finds the modules and arrows it must (a broken walk would pass everything)."""
    imports = import_graph()
    arrows = {(i.source, i.target) for i in imports}
    assert ("twin.collect.base", "twin.domain") in arrows
    assert ("twin.ingest", "twin.vectorstore") in arrows
    assert any(i.scope == "function" for i in imports)
    assert len(twin_modules()) > 80


def test_the_checks_catch_a_circle_and_an_upward_arrow() -> None:
    """A circle closed inside a function is found; the registry reading a training module, or
    the model loader importing an engine, would be arrows upward."""
    lazy_circle = [Import("twin.a", "twin.b", 1, "module"), Import("twin.b", "twin.a", 9,
                                                                   "function")]
    assert cycles(lazy_circle) == [["twin.a", "twin.b"]]
    assert cycles(lazy_circle[:1]) == []
    assert layer_of("twin.train.common") > layer_of("twin.registry")
    assert layer_of("twin.llm.engines") > layer_of("twin.llm.models")
    assert layer_of("twin.cli") == len(LAYERS) - 1


def test_every_module_has_a_layer() -> None:
    """A new top-level module or package must be placed in LAYERS."""
    unplaced = [name for name in twin_modules() if layer_of(name) < 0]
    assert not unplaced, f"add these to LAYERS: {unplaced}"


def test_no_import_circle_at_import_time() -> None:
    """Module-level imports form no circle (each module can be imported first)."""
    imports = [i for i in import_graph() if i.scope == "module"]
    found = cycles(imports)
    assert not found, "import circles:\n" + "\n".join(_describe(c, imports) for c in found)


def test_no_import_circle_through_functions() -> None:
    """Imports inside functions close no circle either: a lazy import is for a heavy or
    optional dependency, never to hide a circle."""
    imports = [i for i in import_graph() if i.scope != "typing"]
    found = cycles(imports)
    assert not found, ("import circles through imports inside functions:\n"
                       + "\n".join(_describe(c, imports) for c in found))


def test_no_module_imports_from_a_layer_above() -> None:
    """No upward arrows, at module level, inside functions or for type checking."""
    upward = [i for i in import_graph() if layer_of(i.target) > layer_of(i.source)]
    unexplained = [f"{i} [{LAYERS[layer_of(i.source)][0]} -> {LAYERS[layer_of(i.target)][0]}]"
                   for i in upward]
    assert not unexplained, "imports from a layer above:\n" + "\n".join(unexplained)


