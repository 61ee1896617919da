"""The layout shows the layers: no import cycle between project files (pipeline/ and competitions/).

Every import counts, at any depth (inside functions and `if TYPE_CHECKING:` blocks too), because a cycle hidden in a
function is still a cycle in the design. Parsed with ast; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "competitions")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module that `import name` loads last (a submodule, else its package), or None if not ours."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str, source: str, modules: dict[str, Path], is_package: bool = False) -> set[str]:
    """Project modules one file imports anywhere in it. `from pkg import sub` imports the module pkg.sub when there is
    one, else a name from pkg itself (its __init__)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found |= {hit for t in targets if (hit := resolve(t, modules)) and hit != name}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: imports_of(name, path.read_text(encoding="utf-8"), modules, path.name == "__init__.py")
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_at_any_depth() -> None:
    modules = project_modules()
    source = """
from pipeline import atomic
def f():
    if True:
        from pipeline.kaggle.io import connect
        import pipeline.runner
from . import folds
"""
    got = imports_of("pipeline.x", source, modules)
    assert got == {"pipeline.atomic", "pipeline.kaggle.io", "pipeline.runner", "pipeline.folds"}
    assert "pipeline.kaggle.io" in import_graph()["pipeline.datadir"]


def test_cycles_are_detected() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_project_files() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles between project files:\n" + "\n".join(" <-> ".join(c) for c in found)
