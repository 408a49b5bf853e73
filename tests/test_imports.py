"""The package's import structure (issue 11, scope 6): no private module or name imported across packages, no
import cycle between modules, and no helper imported from one CLI command module into another.

Every module under ``src/atomnet`` is parsed with :mod:`ast` (nothing is imported): ``import a.b``,
``from a.b import c`` and relative imports are resolved to module names, lazy imports inside functions
included. Private means a path component or an imported name with a leading underscore (``atomnet.x._y``,
``from atomnet.x import _helper``); it is private to the package above it (``atomnet.x``), so
``atomnet.cli._db`` may import ``atomnet.cli._render`` but ``atomnet.cli._search`` may not import
``atomnet.search._build``. Cycles are the strongly connected components of the graph of module-level imports
(those that run when the module is imported; ``if TYPE_CHECKING:`` blocks excluded), with the implicit import
of a module's parent packages (``import atomnet.spec._lower`` first imports ``atomnet.spec``); none is allowed.
Cycles closed by lazy imports (inside functions) are listed by a second, not yet enforced, test."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "atomnet"


@dataclass(frozen=True)
class Edge:
    """One import statement's effect: ``importer`` imports ``target`` (a module of ours) at ``line``;
    ``name`` is the imported name for ``from target import name`` (empty otherwise)."""

    importer: str
    target: str
    line: int
    module_level: bool
    name: str = ""
    typing_only: bool = False  # under ``if TYPE_CHECKING:``: never runs

    def where(self) -> str:
        rel = self.importer.replace(".", "/")
        path = f"src/{rel}/__init__.py" if is_package(self.importer) else f"src/{rel}.py"
        return f"{path}:{self.line}"


def module_files() -> dict[str, Path]:
    """Module name → file, for every module under ``src/atomnet``."""
    out: dict[str, Path] = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = module_files()


def is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(body: list[ast.stmt], module_level: bool, typing_only: bool = False
                ) -> Iterator[tuple[ast.stmt, bool, bool]]:
    """Every statement with whether it runs at import time (not inside a function, not under TYPE_CHECKING)
    and whether it runs at all (not under TYPE_CHECKING)."""
    for node in body:
        yield node, module_level, typing_only
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _statements(node.body, False, typing_only)
        elif isinstance(node, ast.ClassDef):
            yield from _statements(node.body, module_level, typing_only)
        elif isinstance(node, ast.If):
            if _is_type_checking(node.test):
                yield from _statements(node.body, False, True)
            else:
                yield from _statements(node.body, module_level, typing_only)
            yield from _statements(node.orelse, module_level, typing_only)
        elif isinstance(node, ast.Try) or (sys.version_info >= (3, 11) and isinstance(node, ast.TryStar)):
            for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _statements(part, module_level, typing_only)
        elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            yield from _statements(node.body, module_level, typing_only)
            yield from _statements(getattr(node, "orelse", []), module_level, typing_only)


def _base(importer: str, level: int, module: str | None) -> str:
    """The absolute module of ``from <level dots><module> import ...`` inside ``importer``."""
    if level == 0:
        return module or ""
    pkg = importer.split(".") if is_package(importer) else importer.split(".")[:-1]
    pkg = pkg[: len(pkg) - (level - 1)]
    return ".".join([*pkg, module] if module else pkg)


def edges_of(name: str, path: Path) -> list[Edge]:
    tree = ast.parse(path.read_text(), str(path))
    out: list[Edge] = []
    for node, top, typing in _statements(tree.body, True):
        if isinstance(node, ast.Import):
            out += [Edge(name, a.name, node.lineno, top, "", typing) for a in node.names
                    if a.name.split(".")[0] == ROOT]
        elif isinstance(node, ast.ImportFrom):
            base = _base(name, node.level, node.module)
            if base.split(".")[0] != ROOT:
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in MODULES:  # ``from atomnet.x import _y`` where _y is a module
                    out.append(Edge(name, sub, node.lineno, top, "", typing))
                else:
                    out.append(Edge(name, base, node.lineno, top, a.name, typing))
    return out


EDGES = [e for name, path in MODULES.items() for e in edges_of(name, path)]


def _private_owner(dotted: str) -> str | None:
    """``atomnet.x._y.z`` → ``atomnet.x`` (the package the private part belongs to); None when all public."""
    parts = dotted.split(".")
    for i, p in enumerate(parts):
        if p.startswith("_") and not (p.startswith("__") and p.endswith("__")):
            return ".".join(parts[:i])
    return None


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def private_imports() -> list[str]:
    out = []
    for e in EDGES:
        full = f"{e.target}.{e.name}" if e.name else e.target
        owner = _private_owner(full)
        if owner is not None and not _within(e.importer, owner):
            what = f"from {e.target} import {e.name}" if e.name else f"import {e.target}"
            when = "type checking only" if e.typing_only else "lazy" if not e.module_level else "module level"
            out.append(f"{e.where()}: {what} ({when}; private to {owner})")
    return sorted(set(out))


def _targets(e: Edge) -> Iterator[str]:
    """The modules an import runs: the target and its parent packages (except the importer's own parents,
    which Python has already started importing, and the root package)."""
    parts = e.target.split(".")
    for k in range(2, len(parts) + 1):
        t = ".".join(parts[:k])
        if t in MODULES and t != e.importer and not _within(e.importer, t):
            yield t


def import_graph(*, lazy: bool) -> dict[str, set[str]]:
    """Imports between our modules: module-level ones only, or (``lazy``) also those inside functions."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        if e.module_level or (lazy and not e.typing_only):
            graph[e.importer].update(_targets(e))
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components of more than one module, each sorted, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))
    return sorted(comps)


def cycles(*, lazy: bool) -> list[str]:
    """Each cycle with the import statements that close it."""
    out = []
    for comp in strongly_connected(import_graph(lazy=lazy)):
        members = set(comp)
        links = sorted({f"{e.where()}: {e.importer} -> {e.target}" + ("" if e.module_level else " (lazy)")
                        for e in EDGES if (e.module_level or (lazy and not e.typing_only)) and e.importer in members
                        and members & set(_targets(e))})
        out.append(" <-> ".join(comp) + "\n      " + "\n      ".join(links))
    return out


def cli_command_modules() -> set[str]:
    """``atomnet.cli`` modules that implement a command (define a top-level ``cmd_*`` function)."""
    out = set()
    for name, path in MODULES.items():
        if name.startswith(f"{ROOT}.cli.") and any(
                isinstance(n, ast.FunctionDef) and n.name.startswith("cmd_") for n in ast.parse(path.read_text()).body):
            out.add(name)
    return out


def cross_command_imports() -> list[str]:
    cmds = cli_command_modules()
    return sorted({f"{e.where()}: {e.importer} imports {e.target}" + (f".{e.name}" if e.name else "")
                   for e in EDGES if e.importer in cmds and e.target in cmds and e.target != e.importer})


# ---- the checker checks what it should ------------------------------------------------------------------------

def test_the_walk_sees_every_module_and_resolves_relative_and_lazy_imports(tmp_path: Path) -> None:
    assert {"atomnet", "atomnet.cli", "atomnet.cost._sram", "atomnet.spec._lower"} <= set(MODULES)
    assert _base("atomnet.cost._sram", 1, "_flash") == "atomnet.cost._flash"
    assert _base("atomnet.cost", 1, "_sram") == "atomnet.cost._sram"  # a package's own level is itself
    assert _base("atomnet.cost._sram", 2, "spec") == "atomnet.spec"
    assert _private_owner("atomnet.search._build") == "atomnet.search"
    assert _private_owner("atomnet.cost._sram._align") == "atomnet.cost"
    assert _private_owner("atomnet.cost.__init__") is None and _private_owner("atomnet.cost") is None
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nimport atomnet.spec\nfrom . import _sram\n"
                   "if TYPE_CHECKING:\n    from atomnet.db import AtomDB\n"
                   "def f():\n    from atomnet.search._build import build_tables\n")
    got = [(e.target, e.name, e.module_level, e.typing_only) for e in edges_of("atomnet.cost._flash", src)]
    assert got == [("atomnet.spec", "", True, False), ("atomnet.cost._sram", "", True, False),
                   ("atomnet.db", "AtomDB", False, True), ("atomnet.search._build", "build_tables", False, False)]


def test_strongly_connected_components_find_cycles() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}, "f": {"g"}, "g": {"f"}}
    assert strongly_connected(g) == [["a", "b", "c"], ["f", "g"]]


# ---- the rules ------------------------------------------------------------------------------------------------

def test_no_private_import_across_packages() -> None:
    found = private_imports()
    print("\n".join(found))
    assert not found, f"{len(found)} private imports across packages:\n" + "\n".join(found)


def test_no_import_cycle_at_module_level() -> None:
    """Cycles of imports that run at import time (a partly initialised module, order-dependent failures)."""
    found = cycles(lazy=False)
    assert not found, f"{len(found)} import cycles (module-level imports):\n" + "\n".join(found)


def test_no_import_cycle_through_lazy_imports() -> None:
    """A lazy import that closes a cycle hides a dependency knot: the two modules belong together or need a
    third one below both."""
    found = cycles(lazy=True)
    print("\n".join(found))
    assert not found, f"{len(found)} import cycles (lazy imports included):\n" + "\n".join(found)


def test_no_helper_imported_across_cli_command_modules() -> None:
    """Issue 11 scope 4: a helper one command module takes from another belongs in a library package or in a
    shared CLI module (``_common``, ``_render``, ``_progress``), so that each command module stands alone."""
    assert {"atomnet.cli._cost", "atomnet.cli._search", "atomnet.cli._db"} <= cli_command_modules()
    assert not {"atomnet.cli._render", "atomnet.cli._progress", "atomnet.cli._common", "atomnet.cli"} & \
        cli_command_modules()
    found = cross_command_imports()
    assert not found, f"{len(found)} imports across CLI command modules:\n" + "\n".join(found)


def test_the_cli_check_sees_an_import_across_command_modules(tmp_path: Path) -> None:
    """The rule above can fail: a command module importing another one's helper (lazily, relatively) is found."""
    src = tmp_path / "m.py"
    src.write_text("def cmd_x(args):\n    from ._db import _helper\n    from . import _render\n")
    got = [(e.target, e.name, e.module_level) for e in edges_of("atomnet.cli._cost", src)]
    assert got == [("atomnet.cli._db", "_helper", False), ("atomnet.cli._render", "", False)]
    cmds = cli_command_modules()
    assert "atomnet.cli._db" in cmds and "atomnet.cli._render" not in cmds
