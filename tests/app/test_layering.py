"""The app stands on the public API: its modules import only the library's public packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import intgrad.app

PUBLIC = {
    "intgrad",
    "intgrad.images",
    "intgrad.text",
    "intgrad.tabular",
    "intgrad.datasets",
    "intgrad.viz",
}
MODULES = sorted(Path(intgrad.app.__file__).parent.rglob("*.py"))


def _intgrad_imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
    return {name for name in modules if name.split(".")[0] == "intgrad"}


def test_every_view_is_checked() -> None:
    names = {path.name for path in MODULES}
    assert {"photos.py", "text.py", "tables.py", "datasets.py", "server.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_imports_only_public_packages(path: Path) -> None:
    outside = {name for name in _intgrad_imports(path) if not name.startswith("intgrad.app")}
    assert outside <= PUBLIC, outside - PUBLIC
