"""The package's layout: modules import one another without a cycle; each fact is written once."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import tomllib

import ipyws
import ipyws._version
from ipyws._transport import DEFAULT_USER_AGENT

PACKAGE = Path(ipyws.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["ipyws", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id.endswith("TYPE_CHECKING")) or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Return the ipyws modules ``path`` imports at run time (lazy imports included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if _is_type_checking_block(node):
            continue  # imports for annotations only are not run
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base in modules:
                found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
        pending.extend(ast.iter_child_nodes(node))
    found.discard(name)
    return found


def test_modules_import_each_other_without_a_cycle() -> None:
    """No ipyws module reaches itself through its imports (a layer never imports one above)."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports(p, modules) for p in paths}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in done:
                visit(target, [*trail, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == []


def _pyproject() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(
        (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    )
    return project


def test_the_version_is_written_once() -> None:
    """pyproject.toml reads the version from ipyws/_version.py, and the User-Agent names it."""
    project = _pyproject()
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "ipyws/_version.py"
    assert ipyws.__version__ == ipyws._version.__version__
    assert f"ipyws/{ipyws.__version__}" in DEFAULT_USER_AGENT.split()
    written = [
        path.relative_to(PACKAGE.parent).as_posix()
        for path in [*PACKAGE.rglob("*.py"), PACKAGE.parent / "pyproject.toml"]
        if f'"{ipyws.__version__}"' in path.read_text(encoding="utf-8")
    ]
    assert written == ["ipyws/_version.py"]


def test_development_tools_stay_out_of_the_published_metadata() -> None:
    """Extras carry no test, lint, browser or docs tool; the dev dependency group has them all."""
    project = _pyproject()
    published = " ".join(
        requirement
        for requirements in project["project"].get("optional-dependencies", {}).values()
        for requirement in requirements
    )
    tools = ("pytest", "ruff", "mypy", "jupyterlab", "notebook", "playwright", "mkdocs")
    assert [tool for tool in tools if tool in published] == []
    groups = project["dependency-groups"]

    def members(name: str) -> list[str]:
        found: list[str] = []
        for entry in groups[name]:
            found += members(entry["include-group"]) if isinstance(entry, dict) else [entry]
        return found

    dev = " ".join(members("dev"))
    assert [tool for tool in tools if tool not in dev] == []


def test_ci_installs_and_runs_what_the_readme_says() -> None:
    """.ci/run upgrades pip (groups need 25.1), installs --group dev, lints all, runs pytest."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    (command,) = [line for line in readme.splitlines() if line.endswith("python -m pytest")]
    assert "pip install -U pip && pip install -e . --group dev &&" in command
    ci = (PACKAGE.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    upgrade = ci.index("python -m pip install -q --upgrade pip")
    install = ci.index("python -m pip install -q -e . --group dev")
    assert upgrade < install < ci.index("python -m pytest")
    # The docs' build hooks are code too: linted, formatted and type-checked with the rest.
    assert "ruff check ipyws tests benchmarks docs/mkdocs_hooks.py" in ci
    assert "ruff format --check ipyws tests benchmarks docs/mkdocs_hooks.py" in ci
    assert "mypy docs/mkdocs_hooks.py" in ci


def test_test_folders_import_their_helpers_one_way() -> None:
    """Every test folder is a package whose helpers are imported as ``tests.<folder>.<module>``."""
    tests = PACKAGE.parent / "tests"
    folders = {path.parent for path in tests.rglob("*.py")}
    assert sorted(f.name for f in folders if not (f / "__init__.py").exists()) == []
    helpers = {path.stem for path in tests.rglob("*.py")} - {"__init__", "conftest"}
    stray: list[str] = []
    for path in [*tests.rglob("*.py"), *(PACKAGE.parent / "benchmarks").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (  # a helper loaded from its file ("harness.py") instead of imported
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.endswith(".py")
                and node.value.rpartition("/")[2][:-3] in helpers
            ):
                stray.append(f"{path.name}: loads {node.value} from its file")
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            stray += [f"{path.name}: {name}" for name in names if name.split(".")[0] in helpers]
    assert stray == []
