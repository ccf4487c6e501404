"""The house rules of src/guide_pl, checked on the source: no import circle (imports inside functions count), data
flowing one way between the folders, small modules, a short top level, and a README that shows the layout."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "src" / "guide_pl"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The guide_pl modules `name` imports anywhere in its file (top level or inside functions), with the
    packages those imports run first (a parent package is not counted for its own children)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for target in targets:
            if not target.startswith("guide_pl"):
                continue
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            parts = target.split(".")
            for depth in range(2, len(parts) + 1):  # the packages above the target run first
                ancestor = ".".join(parts[:depth])
                if not name.startswith(ancestor + ".") and ancestor != name:
                    found.add(ancestor)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (import circles)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_the_checker_sees_imports_inside_functions_and_circles():
    assert "guide_pl.evaluation.measures" in GRAPH["guide_pl.evaluation.report"]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle():
    assert strongly_connected(GRAPH) == []


@pytest.mark.parametrize("lower, upper", [
    ("generators", ("method", "evaluation", "jobs", "config", "inversion", "faces", "tools", "cli")),
    ("faces", ("method", "evaluation", "jobs", "config", "inversion", "generators", "tools", "cli")),
    ("weights", ("generators", "faces", "inversion", "method", "evaluation", "jobs", "config", "tools", "cli")),
    ("inversion", ("method", "evaluation", "jobs", "config", "tools", "cli")),
    ("method", ("evaluation", "jobs", "config", "tools", "cli", "faces", "inversion.optimize", "inversion.psp")),
    ("evaluation", ("jobs", "config", "method", "tools", "cli")),
    ("jobs", ("tools", "cli")),
])
def test_data_flows_one_way(lower, upper):
    """Lower folders never import the ones that build on them; losses know no face network by name."""
    for name, targets in GRAPH.items():
        if name.startswith(f"guide_pl.{lower}"):
            bad = sorted(t for t in targets if any(t.startswith(f"guide_pl.{u}") for u in upper))
            assert not bad, f"{name} imports {bad}"


def test_architecture_files_import_no_loader():
    loaders = {"guide_pl.generators.sg2_checkpoint", "guide_pl.generators.nvidia_pickle",
               "guide_pl.generators.eg3d_checkpoint",
               "guide_pl.generators.mobilestylegan_ir", "guide_pl.generators.openvino_ir", "guide_pl.weights",
               "guide_pl.atomic"}
    for name in ("guide_pl.generators.stylegan2", "guide_pl.generators.sg2_ops", "guide_pl.generators.mobilestylegan",
                 "guide_pl.generators.tiny", "guide_pl.generators.base", "guide_pl.generators.eg3d",
                 "guide_pl.generators.eg3d_render", "guide_pl.generators.cameras"):
        assert not GRAPH[name] & loaders, f"{name} imports {sorted(GRAPH[name] & loaders)}"


def test_modules_are_small_and_the_top_level_short():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {name: n for name, n in lengths.items() if n > 450}
    assert not long, long
    top = sorted(p.name for p in PACKAGE.iterdir() if p.is_file())
    assert len(top) <= 12, top


def test_readme_is_for_users_and_shows_the_layout():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    lines = layout.splitlines()
    for folder in folders:
        assert sum(line.strip().startswith(f"{folder}/") for line in lines) == 1, folder


def test_every_shipped_config_file_is_package_data():
    """A non-editable install carries the YAML groups: each file matches a package_data pattern of setup.cfg."""
    import configparser
    import fnmatch

    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    patterns = [p.strip() for p in setup["options.package_data"]["guide_pl"].splitlines() if p.strip()]
    shipped = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "config").rglob("*.yaml")]
    assert shipped
    for name in shipped:
        matches = [p for p in patterns if fnmatch.fnmatch(name, p) and name.count("/") == p.count("/")]
        assert matches, name
