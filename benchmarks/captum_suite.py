"""Captum's own Integrated Gradients tests, run on Captum's classes and on intgrad's.

    git --git-dir=<captum.git> archive HEAD tests | tar -x -C /tmp/captum-src
    PYTHONPATH=src .venv/bin/python benchmarks/captum_suite.py /tmp/captum-src

Runs pytest on Captum's ``tests/attr/test_integrated_gradients_basic.py``,
``tests/attr/test_integrated_gradients_classification.py``, the Integrated Gradients cases of
``tests/attr/test_targets.py`` and ``tests/attr/layer/test_layer_integrated_gradients.py``,
once with Captum's classes and once with intgrad's, each in a fresh process, and prints the
pass and fail counts and the failing test ids, each marked with the deliberate difference it
comes from (docs/captum-compat.md) or as unexpected. Exits 1 on an unexpected failure.

The same file is the pytest plugin of those runs (``-p captum_suite``): with
``INTGRAD_CAPTUM_CLASSES=intgrad`` it puts ``intgrad.IntegratedGradients`` and
``intgrad.LayerIntegratedGradients`` in ``captum.attr`` and in the modules the tests import
them from before any test module is imported, and again in the test modules after collection.
Nothing of Captum is copied: the tests are read from the checkout given.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLASSES_VARIABLE = "INTGRAD_CAPTUM_CLASSES"
CLASS_SETS = ("captum", "intgrad")

TEST_FILES = (
    "tests/attr/test_integrated_gradients_basic.py",
    "tests/attr/test_integrated_gradients_classification.py",
    "tests/attr/test_targets.py",
    "tests/attr/layer/test_layer_integrated_gradients.py",
)
TARGETS_FILE = "tests/attr/test_targets.py"
TARGETS_IG_TESTS = ("test_simple_target_missing_error", "test_multi_target_error")
"""test_targets.py's hand-written tests that use IntegratedGradients; its generated ones
carry the class name in theirs."""

CAPTUM_MODULES = {
    "IntegratedGradients": ("captum.attr", "captum.attr._core.integrated_gradients"),
    "LayerIntegratedGradients": (
        "captum.attr",
        "captum.attr._core.layer.layer_integrated_gradients",
    ),
}
"""Where the tests (and Captum's test config) import the two classes from."""

DELIBERATE = {
    "tests.attr.test_targets.TestTargets::test_simple_target_missing_error": (
        "exception type: a model with several outputs and no target raises ValueError "
        "(Captum: AssertionError)"
    ),
    "tests.attr.test_targets.TestTargets::test_multi_target_error": (
        "exception type: a target tuple with the wrong number of indices raises ValueError "
        "(Captum: AssertionError)"
    ),
}
"""Failures with intgrad's classes that docs/captum-compat.md explains, by test id."""


# ----------------------------------------------------------------------------- pytest plugin


def _install_intgrad_classes() -> list[Any]:
    """Put intgrad's classes where the tests import Captum's from; the modules patched."""
    import importlib

    import intgrad

    patched = []
    for name, module_names in CAPTUM_MODULES.items():
        for module_name in module_names:
            module = importlib.import_module(module_name)
            setattr(module, name, getattr(intgrad, name))
            patched.append(module)
    return patched


def pytest_configure(config: Any) -> None:
    """Patch before collection imports any test module (plugin hook)."""
    if os.environ.get(CLASSES_VARIABLE) == "intgrad":
        _install_intgrad_classes()


def _is_selected(nodeid: str, name: str) -> bool:
    if not nodeid.startswith(TARGETS_FILE):
        return True
    return name in TARGETS_IG_TESTS or ("IntegratedGradients" in name and "Neuron" not in name)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Keep test_targets.py's Integrated Gradients cases; with intgrad's classes, also rebind
    the names in the collected test modules (plugin hook)."""
    kept = [item for item in items if _is_selected(item.nodeid, item.name)]
    dropped = [item for item in items if not _is_selected(item.nodeid, item.name)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    modules = {item.module for item in items if getattr(item, "module", None)}
    if os.environ.get(CLASSES_VARIABLE) == "intgrad":
        import intgrad

        for module in modules:
            for name in CAPTUM_MODULES:
                if hasattr(module, name):
                    setattr(module, name, getattr(intgrad, name))
    _USED.update(
        f"{getattr(module, name).__module__}.{name}"
        for module in modules
        for name in CAPTUM_MODULES
        if hasattr(module, name)
    )


_USED: set[str] = set()
"""The classes the collected test modules hold, for the run's summary."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which classes the test modules used (plugin hook)."""
    terminalreporter.write_line(f"classes in the test modules: {', '.join(sorted(_USED))}")


def pytest_report_header(config: Any) -> str:
    """Say which classes run (plugin hook)."""
    return f"Integrated Gradients classes: {os.environ.get(CLASSES_VARIABLE, 'captum')}"


# ----------------------------------------------------------------------------- the runner


@dataclass
class Outcome:
    """One pytest run: the status of every test, by id (``module.Class::name``)."""

    classes: str
    statuses: dict[str, str]  # "passed", "failed" or "skipped"
    seconds: float

    def count(self, status: str, module: str | None = None) -> int:
        return sum(
            s == status and (module is None or i.startswith(module + "."))
            for i, s in self.statuses.items()
        )

    @property
    def failed(self) -> list[str]:
        return sorted(i for i, s in self.statuses.items() if s == "failed")


def _read_report(path: Path, classes: str, seconds: float) -> Outcome:
    statuses = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            statuses[test_id] = "failed"
        elif case.find("skipped") is not None:
            statuses[test_id] = "skipped"
        else:
            statuses[test_id] = "passed"
    return Outcome(classes, statuses, seconds)


def run_suite(checkout: Path, classes: str, pytest_args: Sequence[str] = ()) -> Outcome:
    """Run the selected Captum tests in ``checkout`` with ``classes`` in a fresh process."""
    missing = [f for f in TEST_FILES if not (checkout / f).is_file()]
    if missing:
        raise SystemExit(f"{checkout} has no {', '.join(missing)}: give a Captum checkout")
    with tempfile.TemporaryDirectory() as scratch:
        report, ini = Path(scratch) / "report.xml", Path(scratch) / "pytest.ini"
        ini.write_text("[pytest]\n")  # none of this repository's settings (warnings as errors)
        environment = dict(os.environ)
        environment[CLASSES_VARIABLE] = classes
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "benchmarks"), str(ROOT / "src"), environment.get("PYTHONPATH", "")]
        )
        command = [
            sys.executable,
            "-m",
            "pytest",
            *TEST_FILES,
            "-c",
            str(ini),
            "--rootdir",
            str(checkout),
            "-p",
            "captum_suite",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            *pytest_args,
        ]
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=checkout, env=environment, check=False)
        seconds = time.perf_counter() - started
        if not report.is_file():
            raise SystemExit(f"pytest wrote no report (exit status {completed.returncode})")
        return _read_report(report, classes, seconds)


def _print(outcome: Outcome) -> int:
    """Print one run; return how many of its failures are not documented."""
    label = "Captum's classes" if outcome.classes == "captum" else "intgrad's classes"
    print(
        f"{label}: {outcome.count('passed')} passed, {len(outcome.failed)} failed, "
        f"{outcome.count('skipped')} skipped ({outcome.seconds:.0f} s)"
    )
    for test_file in TEST_FILES:
        module = test_file.removesuffix(".py").replace("/", ".")
        print(
            f"  {test_file}: {outcome.count('passed', module)} passed, "
            f"{outcome.count('failed', module)} failed"
        )
    unexpected = 0
    for test_id in outcome.failed:
        reason = DELIBERATE.get(test_id) if outcome.classes == "intgrad" else None
        unexpected += reason is None
        print(f"  FAILED {test_id}: {reason or 'unexpected'}")
    return unexpected


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a Captum checkout (its tests/ directory)")
    parser.add_argument(
        "--classes", choices=(*CLASS_SETS, "both"), default="both", help="which classes to run"
    )
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)
    chosen = CLASS_SETS if args.classes == "both" else (args.classes,)
    outcomes = [run_suite(args.checkout.resolve(), c, args.pytest_args) for c in chosen]
    print()
    unexpected = sum(_print(outcome) for outcome in outcomes)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
