"""The host package's folders are its architecture (docs/ARCHITECTURE.md): imports run one
way, from the command line down to the card format, and nothing imports in a circle.

Imports are read with :mod:`ast` (no module is executed), relative imports resolved, and
every import statement counts wherever it is, including those inside functions: a lazy
import is still a dependency, and the ones in the CLI (optional extras, the checkout's
``hil`` rig) must go downward like the rest.  ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to ``pkg``.  Importing ``a.b.c`` is an edge to
``a.b.c`` only, not to the packages ``a`` and ``a.b`` whose ``__init__`` Python runs first:
a submodule importing a sibling through its package would otherwise be a "cycle" with the
package's ``__init__`` that re-exports it, which Python handles and which says nothing
about the architecture.

Run it alone: ``python -m pytest tests/test_layout.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: (directory on sys.path, top-level package) of the code whose imports are checked
PACKAGES = ((ROOT / "host", "dunelog"), (ROOT, "hil"))

#: layer of each part of dunelog, lowest first; a module may import only from its own
#: layer or below.  The package's ``__init__`` (``dunelog``, :data:`FACADE`) is the public
#: facade above every layer: it may import any of them (``card`` at import time, the others
#: inside its functions) and no module of the package imports it.
LAYERS = {
    "dunelog.card": 0, "dunelog._version": 0, "dunelog.heap": 0, "dunelog.cores": 0,
    "dunelog.frames": 1,
    "dunelog.io": 2, "dunelog.decode": 2, "dunelog.track": 2,
    "dunelog.report": 3, "dunelog.tech": 3, "dunelog.fleet": 3,
    "dunelog.cli": 4, "dunelog.__main__": 4,
}
FACADE = "dunelog"
FACADE_LAYER = 5
LAYER_NAMES = {0: "card", 1: "frames", 2: "io/decode/track", 3: "report/tech/fleet", 4: "cli",
               FACADE_LAYER: "the facade"}
#: names the facade re-exports from a lower module: ``from dunelog import __version__`` is
#: an edge to the module that defines it, not to the facade
REEXPORTS = {"dunelog.__version__": "dunelog._version"}


def find_modules(packages=PACKAGES) -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package ``__init__``)."""
    out: dict[str, tuple[Path, bool]] = {}
    for base, top in packages:
        for f in sorted((base / top).rglob("*.py")):
            parts = list(f.relative_to(base).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts.pop()
            out[".".join(parts)] = (f, is_pkg)
    return out


def _known(name: str, modules: dict) -> str | None:
    """``name`` or its longest prefix that is one of ``modules``."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(mod: str, file: Path, is_pkg: bool, modules: dict) -> set[str]:
    """The modules of ``modules`` that ``mod`` imports (anywhere in the file)."""
    return imports_in(ast.parse(file.read_text(encoding="utf-8"), str(file)), mod, is_pkg,
                      modules)


def imports_in(tree: ast.AST, mod: str, is_pkg: bool, modules: dict) -> set[str]:
    """The modules of ``modules`` imported anywhere in ``tree`` (code of module ``mod``)."""
    pkg = mod if is_pkg else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                k = _known(a.name, modules)
                if k:
                    out.add(k)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for a in node.names:
                if REEXPORTS.get(f"{base}.{a.name}") in modules:
                    out.add(REEXPORTS[f"{base}.{a.name}"])
                    continue
                k = _known(f"{base}.{a.name}", modules) if a.name != "*" else None
                if k != f"{base}.{a.name}":
                    k = _known(base, modules)
                if k:
                    out.add(k)
    out.discard(mod)
    return out


def import_graph(packages=PACKAGES) -> dict[str, set[str]]:
    modules = find_modules(packages)
    return {m: imports_of(m, f, p, modules) for m, (f, p) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        # iterative DFS: (node, iterator over its successors)
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _path_in(comp: list[str], graph: dict[str, set[str]]) -> str:
    """One cycle through the first module of a component, for the failure message."""
    start = comp[0]
    members = set(comp)
    prev: dict[str, str] = {}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return " -> ".join(reversed(path)) + f" -> {start}"
            if w not in prev:
                prev[w] = v
                todo.append(w)
    return " <-> ".join(comp)  # pragma: no cover


def layer(mod: str) -> int | None:
    if mod == FACADE:
        return FACADE_LAYER
    k = _known(mod, LAYERS)
    return LAYERS[k] if k else None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_no_import_cycles(graph):
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_path_in(c, graph) for c in found)


def test_every_module_has_a_layer(graph):
    loose = [m for m in graph if m.startswith("dunelog.") and layer(m) is None]
    assert not loose, f"modules outside the layers of tests/test_layout.py: {loose}"


def test_imports_go_down(graph):
    bad = []
    for src, dsts in sorted(graph.items()):
        if not src.startswith("dunelog"):
            continue
        for dst in sorted(dsts):
            if not dst.startswith("dunelog"):
                continue
            if dst == FACADE:
                bad.append(f"{src} imports the facade {FACADE}: import the module that "
                           "defines the name")
                continue
            ls, ld = layer(src), layer(dst)
            if ls is not None and ld is not None and ld > ls:
                bad.append(f"{src} ({LAYER_NAMES[ls]}) imports {dst} ({LAYER_NAMES[ld]})")
    assert not bad, "imports from a layer above:\n" + "\n".join(bad)


def test_the_facade_imports_only_card_at_import_time():
    """``import dunelog`` stays light: the facade's module-level imports are layer 0; the
    higher layers (python-can, pyarrow, ...) load inside ``open()``, ``dataset()``."""
    modules = find_modules()
    f, is_pkg = modules[FACADE]
    tree = ast.parse(f.read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    found = imports_in(ast.Module(body=top, type_ignores=[]), FACADE, is_pkg, modules)
    assert found and all(layer(m) == 0 for m in found), sorted(found)
    lazy = imports_in(tree, FACADE, is_pkg, modules) - found
    assert "dunelog.io.log" in lazy


def test_hil_is_checked_too(graph):
    assert "hil.vehicle" in graph and "hil.sender" in graph["hil.vehicle"]
    assert "dunelog.cli" in graph and "dunelog.card.dump" in graph


# ----------------------------------------------------------------- the checker itself
def test_the_checker_finds_cycles_and_relative_imports(tmp_path):
    pkg = tmp_path / "p"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("import p.a\ng = 1\n")
    (pkg / "d.py").write_text("from . import a\nfrom p.sub.b import f\n")
    g = import_graph(((tmp_path, "p"),))
    assert g["p.a"] == {"p.sub.b"}
    assert g["p.sub.b"] == {"p.c"}          # inside a function, two levels up
    assert g["p.c"] == {"p.a"}
    assert g["p.d"] == {"p.a", "p.sub.b"}
    assert cycles(g) == [["p.a", "p.c", "p.sub.b"]]
    assert _path_in(["p.a", "p.c", "p.sub.b"], g) == "p.a -> p.sub.b -> p.c -> p.a"
    (pkg / "c.py").write_text("g = 1\n")
    assert cycles(import_graph(((tmp_path, "p"),))) == []


# ----------------------------------------------------------------- dead code (issue 13)
#: names removed as dead code; they must not come back
DEAD_NAMES = {"ProgressFn", "open_dump", "NotYet"}


def test_no_importerror_fallback_for_own_modules():
    """An ``except ImportError`` around an import of a dunelog module is dead code: the
    package always ships all of its modules (optional extras are third-party)."""
    modules = find_modules()
    bad = []
    for mod, (f, is_pkg) in modules.items():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Try):
                continue
            catches = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
            if not catches & {"ImportError", "ModuleNotFoundError"}:
                continue
            body = ast.Module(body=node.body, type_ignores=[])
            own = imports_in(body, mod, is_pkg, modules)
            if own:
                bad.append(f"{mod}:{node.lineno} falls back if {sorted(own)} is missing")
    assert not bad, "\n".join(bad)


def test_dead_names_are_gone():
    found = []
    for mod, (f, _) in find_modules().items():
        for node in ast.parse(f.read_text(encoding="utf-8")).body:
            names = set()
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
            found += [f"{mod}.{n}" for n in names & DEAD_NAMES]
    assert not found, f"dead code is back: {found}"


def test_the_distribution_has_the_package_version():
    """pyproject.toml takes the version from dunelog/_version.py: one place to change."""
    from importlib.metadata import version

    from dunelog._version import __version__
    assert version("dunelog") == __version__
