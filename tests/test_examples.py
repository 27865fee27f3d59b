"""The README's example runs as printed and says what the README says it does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_quick_start_is_the_example_file_and_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "quickstart.py").read_text()
    block = re.search(r"## Quick start\n\n```python\n(.*?)```", readme, re.S)
    assert block is not None
    assert block.group(1).strip() in example
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    values = dict(
        re.findall(r"(F\(x\) - F\(x'\)|sum of attributions) = (-?[\d.]+)", completed.stdout)
    )
    assert float(values["sum of attributions"]) == float(values["F(x) - F(x')"])
    delta = float(re.search(r"delta = (\S+)", completed.stdout).group(1))
    assert abs(delta) < 1e-6
