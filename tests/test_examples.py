"""The README's code runs as printed and says what the README says it does."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _run(code: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return completed.stdout


ROUNDING_NOISE = 1e-6
"""Printed numbers in scientific notation smaller than this are float32 rounding (completeness
deltas of 1e-8 to 1e-7): their digits change with the CPU, so they are compared as noise."""


def _without_rounding_noise(text: str) -> str:
    def noise(match: re.Match[str]) -> str:
        return "<rounding>" if abs(float(match.group(0))) < ROUNDING_NOISE else match.group(0)

    return re.sub(r"[+-]?\d+(?:\.\d+)?e[+-]\d+", noise, text)


def _in_readme(output: str) -> bool:
    """Whether the README shows ``output``, up to the digits of rounding noise."""
    return _without_rounding_noise(output.strip()) in _without_rounding_noise(README)


def _python_blocks_after(heading: str) -> list[str]:
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_quick_start_is_the_example_file_and_runs() -> None:
    (block,) = _python_blocks_after("## Quick start")
    example = (ROOT / "examples" / "quickstart.py").read_text()
    assert block.strip() in example
    output = _run(example)
    values = dict(re.findall(r"(F\(x\) - F\(x'\)|sum of attributions) = (-?[\d.]+)", output))
    assert float(values["sum of attributions"]) == float(values["F(x) - F(x')"])
    delta = float(re.search(r"delta = (\S+)", output).group(1))
    assert abs(delta) < 1e-6


def test_three_frameworks_print_the_same_attributions() -> None:
    blocks = _python_blocks_after("## One API, three frameworks")
    assert len(blocks) == 3
    printed = [_run(block).strip() for block in blocks]
    assert printed == ["[[-0.296   0.4933  0.296 ]]"] * 3
    assert f"`{printed[0]}`" in README


def test_layer_example_is_the_example_file_and_prints_what_the_readme_shows() -> None:
    blocks = _python_blocks_after("## Sessions, layers and text: `Explainer`")
    example = (ROOT / "examples" / "layers.py").read_text()
    assert blocks and blocks[0].strip() in example
    output = _run(example)
    assert _in_readme(output), output
    tokens = re.search(r"per token: (.*)", output).group(1)
    padded = ast.literal_eval(tokens)[1][2:]  # the second text's two padding tokens
    assert padded == [0.0, 0.0]
    deltas = [float(d) for d in re.findall(r"'(\S+)'", output.split("delta:")[1])]
    assert max(abs(d) for d in deltas) < 1e-6


def test_text_example_is_the_example_file_and_prints_what_the_readme_shows() -> None:
    blocks = _python_blocks_after("## Text: transformer classifiers, tokens and words")
    example = (ROOT / "examples" / "text.py").read_text()
    assert blocks and blocks[0].strip() in example
    output = _run(example)
    assert _in_readme(output), output
    words = re.findall(r"^\s*(\S+) ([+-][\d.]+)$", output, re.M)
    assert [w for w, _ in words][:3] == ["[CLS]", "a", "gripping"]
    total = float(re.search(r"sum = (-?[\d.]+)", output).group(1))
    assert abs(sum(float(v) for _, v in words) - total) < 1e-3  # rounding of the printed words
    f_input, f_baseline = (float(v) for v in re.findall(r"= (-?[\d.]+)", output.splitlines()[-2]))
    delta = float(re.search(r"delta = (\S+)", output).group(1))
    assert abs(total - (f_input - f_baseline) - delta) < 1e-3 and abs(delta) < 1e-3


def test_the_text_model_in_three_frameworks_gives_the_same_words() -> None:
    output = _run((ROOT / "examples" / "text_frameworks.py").read_text())
    rows = [line.split() for line in output.splitlines()[2:-1]]
    assert len(rows) >= 5
    for row in rows:
        torch_value, tensorflow_value, jax_value = (float(v) for v in row[-3:])
        assert abs(torch_value - tensorflow_value) < 1e-4 and abs(torch_value - jax_value) < 1e-4
    deltas = [float(v) for v in re.findall(r"(?:torch|tensorflow|jax) (\S+?)(?:,|$)", output)]
    assert len(deltas) == 3 and max(abs(d) for d in deltas) < 1e-4


def test_table_example_is_the_example_file_and_prints_what_the_readme_shows() -> None:
    blocks = _python_blocks_after("## Tables and whole datasets")
    example = (ROOT / "examples" / "tabular.py").read_text()
    assert blocks and blocks[0].strip() in example
    output = _run(example)
    assert _in_readme(output), output
    total, gap, delta = map(
        float, re.search(r"sum (\S+), F\(x\) - F\(x'\) (\S+), delta (\S+)", output).groups()
    )
    assert abs(total - gap - delta) < 2e-4  # the three are rounded to 4 decimals
    assert "drift: none" in output


def test_family_example_is_the_example_file_and_prints_what_the_readme_shows() -> None:
    blocks = _python_blocks_after("## The IG family, interactions, and how to judge them")
    example = (ROOT / "examples" / "family.py").read_text()
    assert blocks and blocks[0].strip() == example.strip()
    output = _run(example)
    assert _in_readme(output), output
    rows = {
        name: values
        for name, values, _ in re.findall(r"^\s*(.+?): \[([^\]]+)\]\s+delta (\S+)$", output, re.M)
    }
    ig = [float(v) for v in rows["integrated gradients"].split()]
    deltas = dict(re.findall(r"^\s*(.+?): \[[^\]]+\]\s+delta (\S+)$", output, re.M))
    assert abs(float(deltas["integrated gradients"])) < 1e-6
    assert abs(float(deltas["IDGI"])) < 1e-6  # exact by construction
    sums = re.search(r"row sums: \[([^\]]+)\]", output).group(1)
    assert [float(v) for v in sums.split()] == ig  # interactions add up to IG
