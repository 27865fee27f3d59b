"""The outer layers stand on the public API: no module imports another package's private parts.

An import is private when a dotted component after ``intgrad`` starts with an underscore
(``intgrad._io``, ``intgrad.metrics._common``, ``from intgrad.text import _x``). A layer may
import its own private modules: ``intgrad.viz._display`` from ``intgrad.viz``, and
``intgrad._cli_errors`` from the CLI (``intgrad.cli`` with its ``intgrad._cli_*`` modules).
The web app has its own, stricter check in ``tests/app/test_layering.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import intgrad

SOURCE = Path(intgrad.__file__).parent
PACKAGE_LAYERS = ("images", "viz", "tabular", "datasets", "text")
CLI_PREFIXES = ("intgrad.cli", "intgrad._cli_", "intgrad.__main__")

# Private imports across packages that remain in files outside this check's owners; each entry
# is (module file relative to src/intgrad, imported name). Remove an entry when it is fixed:
# test_no_entry_is_stale fails until then, test_no_new_private_import fails on any addition.
KNOWN_PRIVATE_IMPORTS = frozenset(
    {
        ("_cli_dataset.py", "intgrad._io.atomic_write_text"),
        ("_cli_dataset.py", "intgrad._io.atomic_writer"),
        ("datasets/drift.py", "intgrad._io.atomic_write_text"),
        ("datasets/job.py", "intgrad._io.atomic_write_text"),
        ("datasets/records.py", "intgrad._io.atomic_writer"),
        ("datasets/summary.py", "intgrad._io.atomic_write_text"),
        ("tabular/_frameworks.py", "intgrad.backends._registry.select_backend"),
        ("tabular/explain.py", "intgrad._core.result.Attribution"),
        ("tabular/explain.py", "intgrad._core.session.Explainer"),
        ("tabular/explain.py", "intgrad._core.targets.resolve_target"),
        ("tabular/explanation.py", "intgrad._core.result.Attribution"),
        ("tabular/models.py", "intgrad._io.atomic_writer"),
        ("text/explain.py", "intgrad._core.targets.resolve_target"),
    }
)


def _outer_modules() -> list[Path]:
    cli = [SOURCE / "cli.py", SOURCE / "__main__.py", *sorted(SOURCE.glob("_cli_*.py"))]
    packages = [path for layer in PACKAGE_LAYERS for path in sorted((SOURCE / layer).rglob("*.py"))]
    return cli + packages


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("intgrad", *parts))


def _imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every dotted name an ``import`` or ``from … import`` of ``source`` binds, absolute."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*anchor, *([base] if base else [])])
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _is_private(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "intgrad" and any(part.startswith("_") for part in parts[1:])


def _is_own(name: str, module: str) -> bool:
    """Whether ``name`` lies in the layer of ``module``: its package, or the CLI's modules."""
    if module.startswith(CLI_PREFIXES):
        return name.startswith(CLI_PREFIXES)
    package = ".".join(module.split(".")[:2])
    return name.startswith(f"{package}.")


def private_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """The private names of other packages that ``source`` (the module ``module``) imports."""
    return {
        name
        for name in _imported_names(source, module, is_package)
        if _is_private(name) and not _is_own(name, module)
    }


def _found() -> set[tuple[str, str]]:
    found = set()
    for path in _outer_modules():
        module = _module_name(path)
        source = path.read_text(encoding="utf-8")
        for name in private_imports(source, module, path.name == "__init__.py"):
            found.add((path.relative_to(SOURCE).as_posix(), name))
    return found


def test_every_layer_is_checked() -> None:
    checked = {path.relative_to(SOURCE).as_posix() for path in _outer_modules()}
    assert {
        "cli.py",
        "_cli_evaluate.py",
        "_cli_interactions.py",
        "images/explain.py",
        "images/methods.py",
        "viz/figures.py",
        "tabular/explain.py",
        "datasets/job.py",
        "text/explain.py",
    } <= checked
    assert len(checked) >= 40


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from intgrad._io import atomic_writer", "intgrad.cli", {"intgrad._io.atomic_writer"}),
        ("import intgrad._core.loop", "intgrad.images.explain", {"intgrad._core.loop"}),
        ("from intgrad import _io", "intgrad.viz.figures", {"intgrad._io"}),
        ("from intgrad.text import _calls", "intgrad._cli_text", {"intgrad.text._calls"}),
        ("from intgrad.metrics._common import host", "intgrad._cli_evaluate",
         {"intgrad.metrics._common.host"}),
        ("from ._display import Display", "intgrad.viz.figures", set()),
        ("from .._io import atomic_writer", "intgrad.viz.figures", {"intgrad._io.atomic_writer"}),
        ("from intgrad.viz._display import Display", "intgrad.viz.metrics", set()),
        ("from intgrad._cli_errors import UsageError", "intgrad.cli", set()),
        ("from intgrad.io import atomic_writer", "intgrad.cli", set()),
        ("from intgrad.metrics import to_numpy", "intgrad._cli_evaluate", set()),
        ("from intgrad._cli_errors import UsageError", "intgrad.images.explain",
         {"intgrad._cli_errors.UsageError"}),
    ],
)  # fmt: skip
def test_the_check_finds_private_imports_across_packages(
    source: str, module: str, expected: set[str]
) -> None:
    assert private_imports(source, module) == expected


def test_no_new_private_import() -> None:
    new = _found() - KNOWN_PRIVATE_IMPORTS
    assert new == set(), f"private imports across packages (use the public API): {sorted(new)}"


def test_no_entry_is_stale() -> None:
    stale = KNOWN_PRIVATE_IMPORTS - _found()
    assert stale == set(), f"fixed: remove from KNOWN_PRIVATE_IMPORTS: {sorted(stale)}"


def test_the_public_io_module_is_the_implementation() -> None:
    import intgrad._io
    import intgrad.io

    assert intgrad.io.__all__ == intgrad._io.__all__
    for name in intgrad.io.__all__:
        assert getattr(intgrad.io, name) is getattr(intgrad._io, name)
