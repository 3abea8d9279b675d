"""The layers of STYLE.md, held by reading the import graph with `ast` (issue: layers).

1. click and rich only under cli/.
2. No import cycles between kubeferry modules (module-level imports).
3. core/ imports only the standard library (and kubeferry.errors); nothing imports the wrapper
   except through `kubeferry.shim.which`.
4. Pure modules import no network library, even transitively, at module level.
Plus the size rules: no module over 400 lines, no function over 60.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "kubeferry"
NETWORK_LIBRARIES = {
    "httpx",
    "httpcore",
    "socket",
    "ssl",
    "http",
    "urllib3",
    "aiohttp",
    "truststore",
}
PURE = (
    "kubeferry.core",
    "kubeferry.catalog.rules",
    "kubeferry.bundle.plan",
    "kubeferry.bundle.manifest",
    "kubeferry.doctor",
    "kubeferry.errors",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules `path` imports (absolute names); module level only when asked."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # `if TYPE_CHECKING:` blocks are not run
        nodes = [
            n for n in nodes if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test))
        ]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def internal(names: set[str]) -> set[str]:
    return {name for name in names if name in MODULES}


def transitive(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        for dependency in internal(imports(MODULES[name], top_level_only=True)):
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return seen


def external_roots(name: str) -> set[str]:
    return {n.split(".")[0] for n in imports(MODULES[name], top_level_only=True)} - {"kubeferry"}


def test_click_and_rich_only_in_the_cli() -> None:
    offenders = {
        name: roots & {"click", "rich"}
        for name, path in MODULES.items()
        if not name.startswith("kubeferry.cli")
        and (roots := {n.split(".")[0] for n in imports(path, top_level_only=False)})
        & {"click", "rich"}
    }
    assert offenders == {}


def test_no_import_cycles() -> None:
    graph = {name: internal(imports(path, top_level_only=True)) for name, path in MODULES.items()}
    # A package's own __init__ importing its children is not a cycle of layers.
    cycles = [
        name
        for name in graph
        if any(name in transitive(dep) for dep in graph[name] if not name.startswith(dep + "."))
    ]
    assert cycles == []


def test_the_core_is_standard_library_only() -> None:
    allowed = set(sys.stdlib_module_names) | {"kubeferry"}
    for name, path in MODULES.items():
        if name.startswith("kubeferry.core"):
            roots = {n.split(".")[0] for n in imports(path, top_level_only=False)}
            assert roots <= allowed, (name, roots - allowed)
            inside = internal(imports(path, top_level_only=False))
            assert all(n.startswith(("kubeferry.core", "kubeferry.errors")) for n in inside), name


def test_nothing_imports_the_wrapper_but_its_one_door() -> None:
    for name, path in MODULES.items():
        if name.startswith("kubeferry.shim"):
            continue
        used = {n for n in imports(path, top_level_only=False) if n.startswith("kubeferry.shim")}
        assert used <= {"kubeferry.shim", "kubeferry.shim.which"}, (name, used)


@pytest.mark.parametrize("pure", PURE)
def test_pure_modules_reach_no_network_library(pure: str) -> None:
    for name in [n for n in MODULES if n == pure or n.startswith(pure + ".")]:
        reached = {name} | transitive(name)
        network = {m: external_roots(m) & NETWORK_LIBRARIES for m in reached}
        assert {m: libs for m, libs in network.items() if libs} == {}, name


def test_sizes() -> None:
    long_modules = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    long_functions = [
        f"{name}.{node.name}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long_modules == {}
    assert long_functions == []


def test_the_graph_is_really_read() -> None:
    """The checks above would pass vacuously on an empty graph: make sure it is not."""
    assert "kubeferry.shim" in MODULES and "kubeferry.cli.bundle" in MODULES
    assert "click" in {
        n.split(".")[0] for n in imports(MODULES["kubeferry.cli.bundle"], top_level_only=True)
    }
    assert "httpx" in external_roots("kubeferry.transport.http")
    assert "kubeferry.core.skew" in transitive("kubeferry.shim.decide")
