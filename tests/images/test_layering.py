"""The images layer stands on the public API: no module of it imports the engine's internals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import intgrad.images

ENGINE_MODULES = ("intgrad._core", "intgrad._api", "intgrad.backends")
MODULES = sorted(Path(intgrad.images.__file__).parent.glob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
    return modules


def test_every_module_is_checked() -> None:
    assert {path.name for path in MODULES} >= {"__init__.py", "explain.py", "models.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_imports_no_engine_internals(path: Path) -> None:
    imported = _imported_modules(path)
    assert {module for module in imported if module.startswith(ENGINE_MODULES)} == set()


def test_explain_uses_the_public_package() -> None:
    assert "intgrad" in _imported_modules(Path(intgrad.images.explain.__file__))
