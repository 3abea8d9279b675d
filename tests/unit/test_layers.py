"""The layers of STYLE.md, held by reading the import graph with `ast` (issue: layers).

1. click and rich only under cli/.
2. No import cycles between kubeferry modules (module-level imports).
3. core/ imports only the standard library (and kubeferry.errors); nothing imports the wrapper
   except through `kubeferry.shim.which`.
4. Pure modules import no network library, even transitively, at module level.
5. Each layer imports only what the README's "may import" column says (`MAY_IMPORT` below, the
   same table as data); `cli/` imports only services, settings and errors at run time (record
   types of other layers only under `TYPE_CHECKING`); no service imports another service
   (`services/common.py` is the helper module they share).
Plus the size rules: no module over 400 lines, no function over 60.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
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


# The README's layer table ("How the code is laid out"), as data: layer -> the layers it may
# import (the package root `kubeferry`, which holds only `__version__`, is open to all). What a
# layer imports under `if TYPE_CHECKING:` counts too, except in cli/ (record types).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "core": frozenset({"errors"}),
    "settings": frozenset({"core", "jobs", "errors"}),
    "files": frozenset({"core", "errors"}),
    "transport": frozenset({"core", "files", "jobs", "errors"}),
    "jobs": frozenset({"core", "errors"}),
    "download": frozenset({"core", "files", "transport", "jobs", "verification", "errors"}),
    "oci": frozenset({"core", "files", "transport", "download", "jobs", "errors"}),
    "verification": frozenset({"core", "files", "bundle", "errors"}),
    "catalog": frozenset({"core", "files", "transport", "errors"}),
    "stores": frozenset(
        {"core", "files", "transport", "download", "jobs", "verification", "targets", "errors"}
    ),
    "targets": frozenset({"core", "files", "verification", "registry", "settings", "errors"}),
    "bundle": frozenset(
        {
            "core",
            "files",
            "transport",
            "download",
            "jobs",
            "verification",
            "catalog",
            "stores",
            "targets",
            "errors",
        }
    ),
    "mirror": frozenset(
        {"core", "files", "verification", "catalog", "bundle", "registry", "errors"}
    ),
    "registry": frozenset(
        {
            "core",
            "files",
            "transport",
            "download",
            "jobs",
            "oci",
            "verification",
            "bundle",
            "errors",
        }
    ),
    "doctor": frozenset({"core", "stores", "targets", "errors"}),
    "shim": frozenset({"core", "stores", "transport", "errors"}),
    "services": frozenset(
        {
            "core",
            "files",
            "transport",
            "download",
            "jobs",
            "oci",
            "verification",
            "catalog",
            "stores",
            "targets",
            "bundle",
            "mirror",
            "registry",
            "doctor",
            "shim",
            "settings",
            "errors",
        }
    ),
    "cli": frozenset({"services", "settings", "errors"}),
    "__main__": frozenset({"cli"}),
}
# common: what every service shares; bundle_images: the bundle service's image part (kept
# apart for size), which only services/bundle.py and the CLI call; registry_access: the
# registry options made into a client (apart from services/registry.py so that a command
# needing only a client does not load push and pull).
SHARED_SERVICE_HELPERS = {
    "kubeferry.services.common",
    "kubeferry.services.bundle_images",
    "kubeferry.services.registry_access",
}


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


def imports_by_kind(path: Path) -> tuple[set[str], set[str]]:
    """(run-time imports, `if TYPE_CHECKING:` imports) of `path`, at any depth, absolute only."""
    run: set[str] = set()
    typing_only: set[str] = set()

    def visit(node: ast.AST, checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.dump(child.test):
                for item in child.body:
                    visit_one(item, True)
                for item in child.orelse:
                    visit_one(item, checking)
            else:
                visit_one(child, checking)

    def visit_one(node: ast.AST, checking: bool) -> None:
        found = typing_only if checking else run
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        visit(node, checking)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return run, typing_only


def layer(name: str) -> str:
    """`kubeferry.services.bundle` -> `services`; the package root is `kubeferry`."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


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


def test_every_layer_imports_only_what_the_table_allows() -> None:
    offenders: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        own = layer(name)
        if own == "kubeferry":
            continue
        run, typing_only = imports_by_kind(path)
        used = run if own == "cli" else run | typing_only
        reached = {layer(n) for n in used if n.split(".")[0] == "kubeferry"} - {own, "kubeferry"}
        if wrong := reached - MAY_IMPORT[own]:
            offenders[name] = wrong
    assert offenders == {}


def test_the_cli_reaches_other_layers_only_for_types() -> None:
    """cli/ may name a record of any layer under TYPE_CHECKING, never the wrapper."""
    for name, path in MODULES.items():
        if layer(name) == "cli":
            _, typing_only = imports_by_kind(path)
            assert not {n for n in typing_only if layer(n) == "shim"}, name


def test_no_service_imports_another_service() -> None:
    offenders = {}
    for name, path in MODULES.items():
        if layer(name) != "services" or name in SHARED_SERVICE_HELPERS:
            continue
        run, typing_only = imports_by_kind(path)
        others = {
            n
            for n in run | typing_only
            if n.startswith("kubeferry.services.") and n not in SHARED_SERVICE_HELPERS
        }
        if others - {name}:
            offenders[name] = others - {name}
    assert offenders == {}


def readme_layer_table() -> dict[str, str]:
    """The README's layer table: layer name -> its "may import" cell."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if match := re.match(r"\| `([a-z_]+)(?:/|\.py)` \|.*\| (.*) \|$", line):
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_readme_table_names_every_layer_and_says_what_the_test_holds() -> None:
    table = readme_layer_table()
    existing = {layer(name) for name in MODULES} - {"kubeferry", "__main__"}
    assert set(table) == existing == set(MAY_IMPORT) - {"__main__"}
    for name, cell in table.items():
        if name in ("services", "cli"):  # rules in words; held by the two tests above
            continue
        said = set(re.findall(r"`([a-z_]+)`", cell))
        assert said == set(MAY_IMPORT[name]), (name, said ^ set(MAY_IMPORT[name]))


def test_the_graph_is_really_read() -> None:
    """The checks above would pass vacuously on an empty graph: make sure it is not."""
    assert "kubeferry.shim" in MODULES and "kubeferry.cli.bundle" in MODULES
    assert "click" in {
        n.split(".")[0] for n in imports(MODULES["kubeferry.cli.bundle"], top_level_only=True)
    }
    assert "httpx" in external_roots("kubeferry.transport.http")
    assert "kubeferry.core.skew" in transitive("kubeferry.shim.decide")
    run, typing_only = imports_by_kind(MODULES["kubeferry.cli.bundle"])
    assert "kubeferry.services.bundle" in run and "kubeferry.bundle.install" in typing_only
