"""``intgrad evaluate`` on results the other commands wrote, and every way its input can be bad.

The results are made by the commands themselves, in subprocesses (a photo explained with 4
steps, two texts, 20 Adult rows), then evaluated by two more subprocesses; the tests read what
those runs printed and wrote. Bad input is checked in-process through :func:`intgrad.cli.main`.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intgrad.cli import main

CLI = (sys.executable, "-m", "intgrad")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
EXIT_FAILED, EXIT_USAGE = 1, 2
SENTINEL = '{"written": "before the command"}\n'
TEXTS = ("a gripping, beautifully acted film", "the jokes fall flat")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def _run(cwd: Path, line: str) -> Run:
    """``intgrad`` with the arguments of a shell-like command line, in ``cwd``."""
    done = subprocess.run(
        [*CLI, *shlex.split(line)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _ok(run: Run) -> Run:
    assert run.code == 0, run.stderr
    return run


def _make_table(tmp: Path) -> Run:
    _ok(_run(tmp, "tabular adult --rows 20 --output adult.csv"))
    return _run(tmp, "tabular explain adult.csv --output-dir tab --steps 8 --no-plots --quiet")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with img/chelsea.json (+ a random-attribution copy), text.json and tab/."""
    tmp = tmp_path_factory.mktemp("evaluate")
    photo = "explain --sample chelsea --steps 4 --output-dir img --quiet"
    texts = f"text {shlex.join(TEXTS)} --steps 8 --json-file text.json --json"
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(_run, tmp, photo), pool.submit(_run, tmp, texts)]
        jobs.append(pool.submit(_make_table, tmp))
        for job in jobs:
            _ok(job.result())
    shutil.copy(tmp / "img" / "chelsea.json", tmp / "img" / "random.json")
    noise = np.random.default_rng(0).standard_normal((224, 224, 3)).astype(np.float32)
    np.save(tmp / "img" / "random-attributions.npy", noise)
    return tmp


@pytest.fixture(scope="module")
def runs(made: Path) -> dict[str, Run]:
    """The default metrics on every result (with --output and --plot), the others on a few."""
    (made / "out.json").write_text(SENTINEL)
    lines = {
        "default": "evaluate img/chelsea.json img/random.json text.json tab --output out.json "
        "--plot curves.png",
        "others": "evaluate img/chelsea.json text.json tab --metrics road,infidelity,"
        "sensitivity,completeness --steps 4 --samples 2 --json",
    }
    with ThreadPoolExecutor(2) as pool:
        done = {name: pool.submit(_run, made, line) for name, line in lines.items()}
        return {name: _ok(job.result()) for name, job in done.items()}


@pytest.fixture(scope="module")
def report(runs: dict[str, Run], made: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((made / "out.json").read_text())
    assert document["failures"] == []
    return {entry["result"]: entry for entry in document["results"]}


@pytest.fixture(scope="module")
def others(runs: dict[str, Run]) -> dict[str, dict[str, Any]]:
    document = json.loads(runs["others"].stdout)
    return {entry["result"]: entry for entry in document["results"]}


def _saved(made: Path, name: str) -> dict[str, Any]:
    return json.loads((made / name).read_text())


@pytest.mark.slow
def test_the_photo_curves_start_and_end_at_the_saved_f_values(report, made) -> None:
    saved = _saved(made, "img/chelsea.json")
    entry = report["img/chelsea.json"]
    assert entry["kind"] == "image" and entry["targets"] == [saved["target"]] == [285]
    assert entry["f_input_now"][0] == pytest.approx(saved["f_input"], rel=1e-5)
    removed, inserted = entry["metrics"]["deletion"], entry["metrics"]["insertion"]
    assert removed["fractions"] == pytest.approx(np.linspace(0, 1, 21))
    assert removed["features"] == [224 * 224] and removed["perturbation"] == "black(0)"
    # Deletion runs from F(x) to F(black) = F(x′) (the baseline is black); insertion back.
    assert removed["scores"][0][0] == pytest.approx(saved["f_input"], rel=1e-5)
    assert removed["scores"][0][-1] == pytest.approx(saved["f_baseline"], rel=1e-4)
    assert inserted["scores"][0][0] == pytest.approx(saved["f_baseline"], rel=1e-4)
    assert inserted["scores"][0][-1] == pytest.approx(saved["f_input"], rel=1e-5)
    for curve in (removed, inserted):
        assert 0.0 <= curve["value"] <= 1.0
        scores, widths = np.array(curve["scores"][0]), np.diff(curve["fractions"])
        area = float(((scores[1:] + scores[:-1]) / 2 * widths).sum())  # the trapezoid rule
        assert curve["value"] == pytest.approx(area, rel=1e-12)


@pytest.mark.slow
def test_random_attributions_delete_worse_than_integrated_gradients(report) -> None:
    ig = report["img/chelsea.json"]["metrics"]["deletion"]["value"]
    chance = report["img/random.json"]["metrics"]["deletion"]["value"]
    assert ig < chance - 0.01  # measured 0.0214 against 0.0377 (signed ranking, black)


@pytest.mark.slow
def test_completeness_gaps_are_the_saved_deltas(report, made) -> None:
    photo = _saved(made, "img/chelsea.json")
    check = report["img/chelsea.json"]["metrics"]["completeness"]
    assert check["gaps"][0] == pytest.approx(photo["delta"], abs=1e-6)  # 0.672 at 4 steps
    assert check["saved_delta"] == [photo["delta"]] and check["within"] == [False]
    texts = _saved(made, "text.json")
    gaps = report["text.json"]["metrics"]["completeness"]["gaps"]
    assert gaps == pytest.approx([t["delta"] for t in texts], abs=1e-9)
    table = report["tab"]["metrics"]["completeness"]
    assert table["gaps"] == pytest.approx(table["saved_delta"], abs=1e-6)
    assert len(table["gaps"]) == 20


@pytest.mark.slow
def test_token_deletion_ends_at_the_pad_baseline(report, made) -> None:
    texts = _saved(made, "text.json")
    entry = report["text.json"]
    assert entry["names"] == ["text 1", "text 2"] and entry["removed_token_id"] == 0  # [PAD]
    assert entry["f_input_now"] == pytest.approx([t["f_input"] for t in texts], rel=1e-5)
    removed, inserted = entry["metrics"]["deletion"], entry["metrics"]["insertion"]
    # Every token but [CLS] and [SEP] becomes [PAD]: exactly the baseline IG started from.
    assert removed["features"] == [6, 4]
    for row, text in enumerate(texts):
        assert removed["scores"][row][0] == pytest.approx(text["f_input"], rel=1e-5)
        assert removed["scores"][row][-1] == pytest.approx(text["f_baseline"], rel=1e-5)
        assert inserted["scores"][row][0] == pytest.approx(text["f_baseline"], rel=1e-5)
        assert inserted["scores"][row][-1] == pytest.approx(text["f_input"], rel=1e-5)
        assert 0.0 <= removed["auc"][row] <= inserted["auc"][row] <= 1.0


@pytest.mark.slow
def test_table_rows_are_scored_by_column_groups_against_the_training_mean(report) -> None:
    entry = report["tab"]
    assert entry["examples"] == 20 and entry["f_input_now"] == pytest.approx(entry["f_input"])
    removed = entry["metrics"]["deletion"]
    assert removed["features"] == [12] * 20 and removed["perturbation"] == "mean(given)"
    scores = np.array(removed["scores"])
    np.testing.assert_allclose(scores[:, 0], entry["f_input"], rtol=1e-6)
    targets = np.array(entry["targets"])
    for target in set(entry["targets"]):  # all columns at the mean: one F per class
        assert np.ptp(scores[targets == target, -1]) < 1e-6
    assert 0.0 <= removed["value"] <= entry["metrics"]["insertion"]["value"] <= 1.0


@pytest.mark.slow
def test_the_table_and_plot_are_written(runs, made) -> None:
    out = runs["default"].stdout
    assert "img/chelsea.json: image, efficientnet-lite0, ig, target 285 (Egyptian cat)" in out
    assert "deletion AUC" in out and "lower: F falls fast" in out
    assert "tab: tabular, adult-mlp, 20 examples (values are means over the examples)" in out
    assert "wrote out.json" in out and "wrote curves.png" in out
    assert (made / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Written atomically: the sentinel replaced whole, no temporary file left behind.
    assert json.loads((made / "out.json").read_text())["results"]
    assert not [p.name for p in made.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_road_infidelity_and_sensitivity(others) -> None:
    photo, table = others["img/chelsea.json"]["metrics"], others["tab"]["metrics"]
    for metrics in (photo, table):
        for order in ("road-morf", "road-lerf"):
            assert metrics[order]["fractions"] == [0.25, 0.5, 0.75]
            assert 0.0 <= metrics[order]["value"] <= 0.5  # probabilities over a span of 0.5
        assert metrics["infidelity"]["samples"] == 2 and metrics["infidelity"]["value"] >= 0
        assert metrics["sensitivity"]["samples"] == 2 and metrics["sensitivity"]["value"] > 0
    assert photo["road-morf"]["perturbation"] == "noisy-linear(noise=0.01)"
    assert table["road-morf"]["perturbation"] == "training-mean"
    # Rows lose F faster when their most-attributed columns go first (measured 0.28 vs 0.44
    # on 50 rows); a re-run of 8-step IG barely moves under ±0.02 (measured 0.087).
    assert table["road-morf"]["value"] < table["road-lerf"]["value"]
    assert table["sensitivity"]["value"] < 0.5
    assert "deletion" not in photo
    text = others["text.json"]
    assert set(text["skipped"]) == {"sensitivity"}
    assert "max_sensitivity with mask_id=" in text["skipped"]["sensitivity"]
    texts = text["metrics"]
    assert texts["road-morf"]["perturbation"] == "token(0)"  # [PAD], the pad baseline's id
    for order in ("road-morf", "road-lerf"):
        assert len(texts[order]["scores"]) == 2 and 0.0 <= texts[order]["value"] <= 1.0
    # Removing the most-attributed tokens costs more than removing the least-attributed ones.
    assert texts["road-morf"]["value"] < texts["road-lerf"]["value"]
    assert texts["infidelity"]["perturbation"] == "baseline(fraction=0.5)"
    assert texts["infidelity"]["samples"] == 2 and texts["infidelity"]["value"] >= 0


# --- Bad input, in-process -----------------------------------------------------------------


def _main(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["evaluate", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("intgrad: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--metrics", "deletion,auc", "x.json"),
            "unknown metric 'auc'; choose from deletion, "
            "insertion, road, infidelity, sensitivity, completeness",
        ),
        (("--metrics", ",", "x.json"), "give at least one of deletion"),
        (("--steps", "0", "x.json"), "must be >= 1"),
        (("--perturbation", "noise", "x.json"), "invalid choice: 'noise'"),
        (("--plot", "{tmp}/c.png", "--metrics", "completeness", "x.json"), "--plot draws curves"),
        (("--metrics", "road", "--steps", "1", "x.json"), "road needs --steps 2 or more"),
        (("--output", "{tmp}/no/such/dir/out.json", "x.json"), "not a file in an existing"),
        (("--output", "{tmp}", "x.json"), "not a file in an existing directory"),
        ((), "the following arguments are required: RESULT"),
    ],
)
def test_bad_arguments(capsys, tmp_path, args, message) -> None:
    code, out, err = _main(capsys, *(str(a).format(tmp=tmp_path) for a in args))
    assert code == EXIT_USAGE and out == ""
    assert message in _one_error(err)


def _write(path: Path, content: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "no such file or directory"),
        ("junk.json", "not json {", "not a JSON file (Expecting value at line 1)"),
        ("other.json", {"a": 1}, "not an intgrad result: expected the {stem}.json of 'intgrad"),
        ("list.json", [1, 2], "not an intgrad result"),
        ("empty.json", [], "an empty list"),
        ("dir", "DIRECTORY", "a directory without job.json"),
        (
            "texts/job.json",
            {"format": "intgrad-dataset-job/1", "settings": {}, "feature_kind": "tokens"},
            "an 'intgrad dataset' job of 'tokens'",
        ),
        ("bad/job.json", {"format": "intgrad-dataset-job/1"}, "not a dataset job record"),
    ],
)
def test_results_that_are_not_results(capsys, tmp_path, name, content, message) -> None:
    path = tmp_path / name
    if content == "DIRECTORY":
        path.mkdir()
    elif content is not None:
        _write(path, content)
    target = path.parent if name.endswith("job.json") and "texts" in name else path
    code, out, err = _main(capsys, target)
    assert code == EXIT_USAGE and out == ""
    line = _one_error(err)
    assert line.startswith(f"intgrad: error: {target}: ") and message in line


def _photo_summary(**changes: Any) -> dict[str, Any]:
    summary = {
        "image": "chelsea",
        "model": "efficientnet-lite0",
        "target": 285,
        "f_input": 0.8,
        "f_baseline": 0.001,
        "delta": 0.1,
        "attribution": "integrated_gradients",
        "settings": {"source": "sample", "resize": "pad", "backend": "torch"},
    }
    return {**summary, **changes}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("summary", "shape", "message"),
    [
        (
            _photo_summary(),
            (10, 10, 3),
            "p-attributions.npy has shape (10, 10, 3), the photo fitted to the model (224, 224, 3)",
        ),
        (_photo_summary(), None, "no attributions next to it: p-attributions.npy is missing"),
        (_photo_summary(target=1000), (224, 224, 3), "target 1000 is not a class index"),
        (_photo_summary(image="nothing"), (224, 224, 3), "neither a sample nor a file"),
        (
            _photo_summary(image="gone.png", settings={"source": "file"}),
            (224, 224, 3),
            "its photo 'gone.png' is not found",
        ),
        (_photo_summary(model="torchvision:nonet"), (224, 224, 3), "nonet"),
    ],
)
def test_photo_results_that_do_not_fit(capsys, tmp_path, summary, shape, message) -> None:
    path = _write(tmp_path / "p.json", summary)
    if shape is not None:
        np.save(tmp_path / "p-attributions.npy", np.zeros(shape, np.float32))
    code, out, err = _main(capsys, path)
    assert code == EXIT_USAGE and out == ""
    assert message in _one_error(err)


def test_blur_is_refused_for_tables(capsys, tmp_path) -> None:
    code, _, err = _main(capsys, tmp_path, "--perturbation", "blur")
    assert code == EXIT_USAGE
    assert "--perturbation blur applies to photos; for tables use black or mean" in err


@pytest.mark.slow
def test_a_bad_result_does_not_stop_the_others(capsys, made) -> None:
    (made / "kept.json").write_text(SENTINEL)
    code, out, err = _main(
        capsys, made / "gone.json", made / "text.json", "--output", made / "kept.json"
    )
    assert code == EXIT_USAGE
    assert _one_error(err) == f"intgrad: error: {made / 'gone.json'}: no such file or directory"
    assert f"{made / 'text.json'}: text, minilm-sentiment, 2 examples" in out
    written = json.loads((made / "kept.json").read_text())
    assert [e["result"] for e in written["results"]] == [str(made / "text.json")]
    assert written["failures"] == [
        {"result": str(made / "gone.json"), "error": "no such file or directory"}
    ]


@pytest.mark.slow
def test_a_failing_metric_exits_1_after_the_others(capsys, made, monkeypatch) -> None:
    import intgrad.metrics

    calls, original = [], intgrad.metrics.deletion

    def first_fails(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise ValueError("the metric broke\nand said more")
        return original(*args, **kwargs)

    monkeypatch.setattr(intgrad.metrics, "deletion", first_fails)
    text, out = made / "text.json", made / "failed.json"
    code, printed, err = _main(
        capsys, text, text, "--metrics", "deletion", "--quiet", "--output", out
    )
    assert code == EXIT_FAILED and printed == ""
    assert _one_error(err) == f"intgrad: error: {text}: the metric broke"
    written = json.loads(out.read_text())
    assert written["failures"] == [{"result": str(text), "error": "the metric broke"}]
    assert len(written["results"]) == 1 and "deletion" in written["results"][0]["metrics"]


def test_evaluate_and_interactions_are_commands(capsys) -> None:
    for command in ("evaluate", "interactions"):
        with pytest.raises(SystemExit) as raised:
            main([command, "--help"])
        assert raised.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: intgrad {command}")


@pytest.mark.slow
def test_a_usage_error_leaves_the_output_alone(made) -> None:
    (made / "untouched.json").write_text(SENTINEL)
    run = _run(made, "evaluate text.json --metrics faithful --output untouched.json")
    assert run.code == EXIT_USAGE and "Traceback" not in run.stderr
    assert (made / "untouched.json").read_text() == SENTINEL


@pytest.mark.slow
def test_bad_results_in_a_subprocess_give_one_line_each(made) -> None:
    _write(made / "junk.json", "[[[")
    run = _run(made, "evaluate gone.json junk.json adult.csv")
    assert run.code == EXIT_USAGE and run.stdout == ""
    assert run.stderr.splitlines() == [
        "intgrad: error: gone.json: no such file or directory",
        "intgrad: error: junk.json: not a JSON file (Expecting value at line 1)",
        "intgrad: error: adult.csv: not a JSON file (Expecting value at line 1)",
    ]
