"""The package's import graph has the pipeline's shape: no circle, and no module imports a stage above its own.

Read from the source with `ast` (nothing is imported), lazy imports inside functions included: a lazy import is
still a dependency. The stage order is defined here, once (docs/architecture.md shows the same tree).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "src" / "goldenlayers"

# bottom to top: a module may import modules of its own stage and of the stages below it
ORDER = ("base", "data", "measure", "selection", "editing", "sweep", "analysis", "appendix", "report", "plan", "api",
         "cli")
# Top-level modules are base modules (io, text, models, config, walltime, ... and any new one) unless named here:
# the statistics read the data's metric names; the public API (suggest_layer, edit) sits on every stage it drives.
TOP_LEVEL = {"stats": "data", "suggest": "api", "apply_edits": "api", "__init__": "api"}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str, packages: set[str]) -> str:
    """The stage of `goldenlayers[.x[.y]]`: a stage package's name, or the top-level module's place."""
    parts = module.split(".")[1:]
    if not parts:
        return TOP_LEVEL["__init__"]
    if parts[0] in ORDER and f"goldenlayers.{parts[0]}" in packages:
        return parts[0]
    return TOP_LEVEL.get(parts[0], "base")


def imports_of(source: str, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The goldenlayers modules `source` imports (submodules named in `from x import y` count as y)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "goldenlayers"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base.split(".")[0] != "goldenlayers":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found - {module}


def import_graph(root: Path = PACKAGE) -> tuple[dict[str, set[str]], set[str]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = set(files)
    packages = {module_name(p, root) for p in files.values() if p.name == "__init__.py"}
    graph = {m: imports_of(p.read_text(), m, p.name == "__init__.py", modules) for m, p in files.items()}
    return graph, packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward_imports(graph: dict[str, set[str]], packages: set[str]) -> list[str]:
    rank = {stage: i for i, stage in enumerate(ORDER)}
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if rank[stage_of(target, packages)] > rank[stage_of(module, packages)]:
                bad.append(f"{module} ({stage_of(module, packages)}) imports {target} ({stage_of(target, packages)})")
    return bad


def test_every_stage_package_is_in_the_order():
    _, packages = import_graph()
    stages = {p.split(".")[1] for p in packages if p.count(".") == 1}
    assert stages <= set(ORDER), f"stage package(s) missing from ORDER: {sorted(stages - set(ORDER))}"


def test_the_package_has_no_import_circle():
    graph, _ = import_graph()
    assert cycles(graph) == []


def test_no_module_imports_a_higher_stage():
    graph, packages = import_graph()
    assert upward_imports(graph, packages) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "goldenlayers" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "goldenlayers"


@pytest.mark.parametrize("files, circle, upward", [
    # a circle through a lazy import, inside one stage
    ({"__init__.py": "", "selection/__init__.py": "", "selection/a.py": "from goldenlayers.selection.b import K\n",
      "selection/b.py": "def f():\n    from goldenlayers.selection import a\n"}, True, False),
    # a stage reaching up to a higher one (report below analysis would be wrong) and base reaching into a stage
    ({"__init__.py": "", "analysis/__init__.py": "", "report/__init__.py": "", "analysis/x.py": "from ..report import y\n",
      "report/y.py": ""}, False, True),
    ({"__init__.py": "", "data/__init__.py": "", "resources.py": "from goldenlayers import data\n"}, False, True),
    # a new top-level base module that reads config and io fits as it is
    ({"__init__.py": "", "io.py": "", "config.py": "from goldenlayers.io import x\n",
      "resources.py": "from goldenlayers.config import y\nfrom goldenlayers import io\n"}, False, False),
])
def test_the_checks_catch_circles_and_upward_imports(tmp_path, files, circle, upward):
    graph, packages = import_graph(_write(tmp_path, files))
    assert bool(cycles(graph)) == circle
    assert bool(upward_imports(graph, packages)) == upward


# The house's size limits (issue #21): a CLI module is argument wiring plus one call per subcommand, and a function
# that outgrows a screen hides a second function.
CLI_MODULE_LINES = 250
FUNCTION_LINES = 80


def oversized(root: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if path.parent.name == "cli" and len(source.splitlines()) > CLI_MODULE_LINES:
            found.append(f"{path.relative_to(root)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines} lines")
    return found


def test_cli_modules_and_functions_stay_small(tmp_path):
    assert oversized() == []
    # the check itself sees a long function and a long CLI module
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "big.py").write_text("x = 1\n" * (CLI_MODULE_LINES + 1))
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * FUNCTION_LINES)
    assert [line.split(":")[0] for line in oversized(tmp_path)] == ["cli/big.py", "long.py"]
