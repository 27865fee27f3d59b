"""``intgrad explain --attribution``: every family member from the shell, and its bad options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intgrad.cli import main


@pytest.mark.slow
def test_idgi_from_the_shell_adds_up_and_records_the_method(tmp_path: Path) -> None:
    code = main(
        ["explain", "--sample", "chelsea", "--attribution", "idgi", "--steps", "4", "--quiet",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "chelsea.json").read_text())
    assert summary["attribution"] == "idgi" and summary["settings"]["attribution"] == "idgi"
    # IDGI's completeness is exact by construction, even at 4 steps.
    assert abs(summary["relative_delta"]) < 1e-4
    attributions = np.load(tmp_path / "chelsea-attributions.npy")
    total = summary["f_input"] - summary["f_baseline"]
    assert attributions.shape == (224, 224, 3)
    assert abs(float(attributions.sum(dtype=np.float64)) - total) < 1e-4 * abs(total) + 1e-6


@pytest.mark.slow
def test_smoothgrad_options_reach_the_method(tmp_path: Path) -> None:
    code = main(
        ["explain", "--sample", "coffee", "--attribution", "smoothgrad", "--samples", "2",
         "--stdev", "0.05", "--noise-kind", "vargrad", "--steps", "2", "--quiet",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "coffee.json").read_text())
    assert summary["attribution"] == "vargrad:integrated_gradients"
    assert summary["settings"]["attribution_options"] == {
        "samples": 2,
        "stdev": 0.05,
        "kind": "vargrad",
    }
    assert summary["delta"] is None  # a variance has no completeness
    assert (np.load(tmp_path / "coffee-attributions.npy") >= 0).all()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-sigma", "10"], "--max-sigma applies to --attribution blur-ig"),
        (["--attribution", "ig", "--samples", "4"], "--samples applies to"),
        (["--attribution", "smoothgrad", "--noise-kind", "mean"], "--noise-kind: expected one of"),
        (["--attribution", "guided-ig", "--fraction", "1.5"], "--fraction: must be in (0, 1]"),
        (["--attribution", "blur-ig", "--max-sigma", "-2"], "--max-sigma: must be a finite"),
        (["--attribution", "smoothgrad", "--stdev", "nan"], "--stdev: must be a finite"),
        (["--attribution", "lime"], "--attribution: invalid choice"),
        (["--attribution", "guided-ig", "--reweight", "smooth"], "the one reweighting is 'idgi'"),
        (["--attribution", "idgi", "--reweight", "idgi"], "--reweight applies to"),
    ],
)
def test_bad_family_options_are_usage_errors(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["explain", "--sample", "chelsea", "--output-dir", str(tmp_path), *arguments])
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.slow
def test_guided_ig_reweighted_by_idgi_adds_up_from_the_shell(tmp_path: Path) -> None:
    code = main(
        ["explain", "--sample", "rocket", "--attribution", "guided-ig", "--reweight", "idgi",
         "--steps", "4", "--quiet", "--output-dir", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "rocket.json").read_text())
    assert summary["attribution"] == "idgi:guided_ig"
    assert abs(summary["relative_delta"]) < 1e-4
