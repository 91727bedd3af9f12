"""The layering of DESIGN.md, checked twice: by import-linter and by walking the AST.

``workbench`` imports none of ``solvers``, ``agents``, ``problems`` or ``app``;
those three plug-in packages never import each other; ``app`` may import all.
Heavy dependencies are imported in ``workbench`` only inside functions.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("workbench", "solvers", "agents", "problems", "app")
FORBIDDEN: dict[str, set[str]] = {
    "workbench": {"solvers", "agents", "problems", "app"},
    "solvers": {"agents", "problems", "app"},
    "agents": {"solvers", "problems", "app"},
    "problems": {"solvers", "agents", "app"},
    "app": set(),
}
HEAVY = {"highspy", "ortools", "pyomo", "torch", "openai", "streamlit", "ray"}


def python_files(package: str) -> list[Path]:
    """Every ``.py`` file of *package* under the repository root."""
    return sorted((ROOT / package).rglob("*.py"))


def imports(tree: ast.AST) -> Iterator[tuple[ast.stmt, str, int]]:
    """Yield ``(node, module, level)`` for every import statement in *tree*."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node, node.module or "", node.level


def module_level_imports(tree: ast.Module) -> Iterator[tuple[ast.stmt, str]]:
    """Imports that run when the module is imported: not in a function or ``TYPE_CHECKING``."""

    def visit(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, str]]:
        for node in body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield node, alias.name
            elif isinstance(node, ast.ImportFrom):
                yield node, node.module or ""
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from visit(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        stmts = [c for c in children if isinstance(c, ast.stmt)]
                        stmts += [
                            s for h in children if isinstance(h, ast.ExceptHandler) for s in h.body
                        ]
                        yield from visit(stmts)

    yield from visit(tree.body)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_packages_exist() -> None:
    for package in PACKAGES:
        assert (ROOT / package / "__init__.py").is_file(), package


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    command = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is not installed (pip install -e '.[dev]')"
    proc = subprocess.run(
        [command, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "broken" in proc.stdout and "0 broken" in proc.stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_by_ast(package: str) -> None:
    bad: list[str] = []
    for path in python_files(package):
        for node, module, level in imports(parse(path)):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if level:
                bad.append(f"{where}: relative import (use 'import {package}...')")
            elif module.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{where}: {package} must not import {module}")
    assert not bad, "\n".join(bad)


def test_no_relative_imports_in_tests() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for node, _, level in imports(parse(path))
        if level
    ]
    assert not bad, bad


def test_heavy_dependencies_only_inside_functions_in_workbench() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{node.lineno}: module-level import of {module}"
        for path in python_files("workbench")
        for node, module in module_level_imports(parse(path))
        if module.split(".")[0] in HEAVY
    ]
    assert not bad, "\n".join(bad)


def test_the_ast_checker_sees_what_it_should() -> None:
    tree = ast.parse(
        "import torch\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import pyomo\n"
        "try:\n    import highspy\nexcept ImportError:\n    import ortools\n"
        "class C:\n    import openai\n"
        "def f():\n    import streamlit\n"
    )
    found = {m for _, m in module_level_imports(tree)}
    assert found == {"torch", "typing", "highspy", "ortools", "openai"}
    rel = ast.parse("from . import x\nfrom ..y import z\nimport a.b\n")
    assert [level for _, _, level in imports(rel)] == [1, 2, 0]
