"""``intgrad tabular`` and ``intgrad dataset``: end to end on the embedded models; bad input.

The end-to-end runs are subprocesses (the console entry point as a user runs it); the bad-input
cases call :func:`intgrad.cli.main` in this process, where the Adult MLP is trained once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from intgrad.cli import main

pytestmark = pytest.mark.slow

CLI = (sys.executable, "-m", "intgrad.cli")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
EXIT_USAGE, EXIT_DRIFT = 2, 3
PNG = b"\x89PNG\r\n\x1a\n"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300
    )


def _explain(data: Path, job: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``intgrad tabular explain`` with the settings every job here shares."""
    settings = ("--steps", "16", "--cohort", "sex", "--shard-size", "400")
    return _run("tabular", "explain", data, "--output-dir", job, *settings, *options)


@pytest.fixture(scope="module")
def adult(tmp_path_factory) -> dict[str, Path]:
    """Adult rows as CSV: a train sample, a test sample and a test sample shifted to older ages."""
    root = tmp_path_factory.mktemp("adult")
    files = {
        "train": ("--split", "train", "--rows", "1500"),
        "test": ("--split", "test", "--rows", "1500"),
        "older": ("--split", "test", "--rows", "1500", "--resample-by", "age"),
    }
    for name, options in files.items():
        run = _run("tabular", "adult", *options, "--output", root / f"{name}.csv")
        assert run.returncode == 0, run.stderr
    return {name: root / f"{name}.csv" for name in files}


@pytest.fixture(scope="module")
def jobs(adult, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("jobs")
    for name, path in adult.items():
        run = _explain(path, root / name)
        assert run.returncode == 0, run.stderr
        assert "examples explained" in run.stdout
    return {name: root / name for name in adult}


def test_adult_csvs_hold_the_rows_asked_for(adult):
    train, older = pd.read_csv(adult["train"]), pd.read_csv(adult["older"])
    assert len(train) == 1500 and "income" in train.columns
    assert older["age"].mean() > pd.read_csv(adult["test"])["age"].mean() + 5


def test_explain_writes_rows_summary_and_plots(adult, jobs):
    job = jobs["train"]
    rows = pd.read_csv(job / "attributions.csv")
    assert len(rows) == 1500 and rows["error"].isna().all()
    features = [
        c
        for c in rows.columns
        if c not in {"id", "error", "predicted_label", "f_input", "f_baseline", "delta"}
    ]
    assert "age" in features and "marital_status" in features and len(features) == 12
    gap = rows[features].sum(axis=1) - (rows["f_input"] - rows["f_baseline"])
    np.testing.assert_allclose(gap, rows["delta"], atol=1e-6)
    assert np.abs(rows["delta"]).mean() < 0.01  # 16 steps on a ReLU MLP: small, not tiny
    summary = json.loads((job / "summary.json").read_text())
    assert summary["examples"] == 1500 and summary["failed"] == 0
    assert set(summary["cohorts"]) == {"sex=Male", "sex=Female"}
    for plot in ("importance.png", "beeswarm.png", "dependence.png", "cohorts.png"):
        assert (job / plot).read_bytes()[:8] == PNG


def test_drift_names_the_shifted_feature_and_passes_the_skew_check(jobs, tmp_path):
    skew = _run(
        "drift",
        jobs["train"],
        jobs["test"],
        "--threshold",
        "js=0.05",
        "--json",
        tmp_path / "skew.json",
    )
    assert skew.returncode == 0, skew.stdout + skew.stderr
    shifted = _run(
        "drift",
        jobs["train"],
        jobs["older"],
        "--threshold",
        "js=0.05",
        "--json",
        tmp_path / "older.json",
        "--html",
        tmp_path / "older.html",
    )
    assert shifted.returncode == EXIT_DRIFT, shifted.stdout + shifted.stderr
    report = json.loads((tmp_path / "older.json").read_text())
    flagged = [row["name"] for row in report["features"] if row["flags"]]
    assert flagged == ["age"]
    assert "age" in (tmp_path / "older.html").read_text()


def test_the_ray_engine_writes_the_local_engines_rows(jobs, adult, tmp_path):
    pytest.importorskip("ray")
    job = tmp_path / "ray-job"
    run = _explain(
        adult["train"], job, "--engine", "ray", "--workers", "2", "--no-plots", "--quiet"
    )
    assert run.returncode == 0, run.stderr
    local = pd.read_csv(jobs["train"] / "attributions.csv")
    remote = pd.read_csv(job / "attributions.csv")
    assert remote["id"].tolist() == local["id"].tolist()  # every row once, in order
    numbers = [c for c in local.columns if c not in {"id", "error", "predicted_label"}]
    np.testing.assert_allclose(remote[numbers], local[numbers], rtol=1e-5, atol=1e-7)
    ours, theirs = (json.loads((j / "summary.json").read_text()) for j in (jobs["train"], job))
    assert (theirs["examples"], theirs["failed"]) == (ours["examples"], 0)
    assert set(theirs["cohorts"]) == set(ours["cohorts"])


def test_a_rerun_continues_the_job_and_changes_nothing(jobs, adult):
    job = jobs["test"]
    shard = job / "shards" / "part-00001.parquet"
    before = (job / "summary.json").read_text()
    shard.unlink()
    run = _explain(adult["test"], job, "--no-plots")
    assert run.returncode == 0, run.stderr
    assert "continuing the job" in run.stderr
    assert (job / "summary.json").read_text() == before


def test_dataset_command_explains_texts(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("a gripping film\n\nthe jokes fall flat\n", encoding="utf-8")
    run = _run("dataset", texts, "--output-dir", tmp_path / "job", "--steps", "4")
    assert run.returncode == 0, run.stderr
    assert "1 example(s) failed" in run.stderr
    summary = json.loads((tmp_path / "job" / "summary.json").read_text())
    assert (summary["examples"], summary["failed"]) == (3, 1)
    assert "jokes" in summary["features"]["names"]
    assert (tmp_path / "job" / "tokens.png").read_bytes()[:8] == PNG


def _bad(capsys, tmp_path: Path, *args: str | Path) -> str:
    out = tmp_path / "out"
    code = main([*map(str, args), "--output-dir", str(out), "--steps", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists(), "nothing may be written for bad input"
    return err


@pytest.fixture()
def rows(adult) -> pd.DataFrame:
    return pd.read_csv(adult["test"]).head(20)


def test_a_missing_column_is_refused(capsys, tmp_path, rows):
    path = tmp_path / "rows.csv"
    rows.drop(columns=["age", "sex"]).to_csv(path, index=False)
    err = _bad(capsys, tmp_path, "tabular", "explain", path)
    assert "lacks column(s) age, sex" in err


def test_a_non_numeric_value_is_refused_with_its_line(capsys, tmp_path, rows):
    path = tmp_path / "rows.csv"
    rows.astype({"age": object}).assign(age=lambda f: f["age"].where(f.index != 4, "forty")).to_csv(
        path, index=False
    )
    err = _bad(capsys, tmp_path, "tabular", "explain", path)
    assert "line 6" in err and "age" in err and "forty" in err


def test_an_empty_file_and_a_header_only_file_are_refused(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "is empty" in _bad(capsys, tmp_path, "tabular", "explain", empty)
    header = tmp_path / "header.csv"
    header.write_text("age,sex\n")
    assert "no rows" in _bad(capsys, tmp_path, "tabular", "explain", header)
    assert "no CSV file" in _bad(capsys, tmp_path, "tabular", "explain", tmp_path / "absent.csv")


def test_a_table_for_another_model_is_refused(capsys, tmp_path):
    from intgrad.tabular import load_sklearn

    path = tmp_path / "cancer.csv"
    load_sklearn("breast_cancer").to_csv(path, index=False)
    err = _bad(capsys, tmp_path, "tabular", "explain", path)
    assert "that model 'adult-mlp' needs" in err


def test_bad_rows_can_be_recorded_instead(capsys, tmp_path, rows):
    path = tmp_path / "rows.csv"
    rows.astype({"age": object}).assign(age=lambda f: f["age"].where(f.index != 4, "forty")).to_csv(
        path, index=False
    )
    code = main(
        [
            "tabular",
            "explain",
            str(path),
            "--output-dir",
            str(tmp_path / "job"),
            "--steps",
            "2",
            "--quiet",
            "--skip-bad-rows",
            "--no-plots",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "1 example(s) failed" in err
    written = pd.read_csv(tmp_path / "job" / "attributions.csv")
    assert written["error"].notna().tolist() == [i == 4 for i in range(20)]
    assert "forty" in written["error"][4]


def test_bad_job_options(capsys, tmp_path, adult):
    assert "--shard-size" in _bad(
        capsys, tmp_path, "tabular", "explain", adult["test"], "--shard-size", "0"
    )
    assert "--resume" in _bad(capsys, tmp_path, "tabular", "explain", adult["test"], "--resume")
    assert "--model" in _bad(
        capsys, tmp_path, "tabular", "explain", adult["test"], "--model", "no-such-model"
    )
    assert "no images" in _bad(capsys, tmp_path, "dataset", tmp_path, "--kind", "images")
