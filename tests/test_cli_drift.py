"""``intgrad drift`` end to end, in subprocesses, on saved synthetic summaries.

Every command runs once, from the module-scoped ``runs`` fixture, a few at a time in parallel;
the tests then read what each run printed, returned and wrote. Exit codes: 0 no drift,
1 failure, 2 bad arguments, 3 drift detected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from intgrad.datasets.summary import OUTPUT_NAMES, DatasetSummary, FeatureSummary

CLI = (sys.executable, "-m", "intgrad.cli", "drift")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
PARALLEL_RUNS = min(4, os.cpu_count() or 1)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3
NAMES = ("age", "income", "hours", "<b>&")
SENTINEL = '{"written": "before the command"}\n'


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def _values(seed: int, column: int | None = None, factor: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal([0.1, 0.4, -0.2, 0.05], [0.3, 0.5, 0.2, 0.1], size=(2000, len(NAMES)))
    if column is not None:
        values[:, column] *= factor
    return values


def _save(directory: Path, values: np.ndarray, task: str = "tabular") -> Path:
    directory.mkdir()
    zeros = np.zeros(len(values))
    DatasetSummary(
        examples=len(values),
        failed=0,
        features=FeatureSummary.of_matrix(NAMES, values),
        outputs=FeatureSummary.of_matrix(OUTPUT_NAMES, np.stack([values.sum(1), zeros, zeros], 1)),
        cohorts={"sex=Male": FeatureSummary.of_matrix(NAMES, values[:800])},
        metadata={"task": task, "feature_kind": "columns", "model": "synthetic"},
    ).save(directory)
    return directory


def _commands(tmp: Path) -> dict[str, list[str]]:
    ref = str(_save(tmp / "ref", _values(0)))
    fresh = str(_save(tmp / "fresh", _values(1)))
    tripled = str(_save(tmp / "tripled", _values(0, 1, 3.0)))
    nudged = str(_save(tmp / "nudged", _values(0, 1, 1.3)))
    text = str(_save(tmp / "text", _values(1), task="text"))
    (tmp / "empty").mkdir()
    (tmp / "corrupt").mkdir()
    (tmp / "corrupt" / "summary.json").write_text('{"format": "intgrad-dataset-', "utf-8")
    (tmp / "kept.json").write_text(SENTINEL, encoding="utf-8")
    (tmp / "out").mkdir()
    out, kept = tmp / "out", str(tmp / "kept.json")
    return {
        "same": [ref, ref],
        "fresh": [ref, fresh, "--json", str(out / "fresh.json")],
        "tripled": [ref, tripled, "--json", str(out / "t.json"), "--html", str(out / "t.html")],
        "nudged": [ref, nudged],
        "nudged_strict": [ref, nudged, "--threshold", "feature:income=0.01"],
        "loosened": [ref, tripled, "--threshold", "js=0.5", "--threshold", "mean-abs-change=5"],
        "cohort": [ref, f"{tripled}/summary.json", "--group", "cohort:sex=Male", "--bins", "10"],
        "missing_dir": [ref, str(tmp / "nowhere"), "--json", str(out / "no.json")],
        "no_summary": [str(tmp / "empty"), ref, "--html", str(out / "no.html")],
        "corrupt": [ref, str(tmp / "corrupt"), "--json", kept],
        "bad_threshold": [ref, ref, "--threshold", "js=high", "--json", kept],
        "no_equals": [ref, ref, "--threshold", "js"],
        "unknown_key": [ref, ref, "--threshold", "jsd=0.1"],
        "out_of_range": [ref, ref, "--threshold", "ndcg=2"],
        "unknown_feature": [ref, ref, "--threshold", "feature:agee=0.1", "--json", kept],
        "unknown_group": [ref, tripled, "--group", "cohort:sex=Female", "--json", kept],
        "bad_group": [ref, ref, "--group", "sex=Male"],
        "other_task": [ref, text, "--json", kept, "--html", str(out / "task.html")],
        "bad_bins": [ref, ref, "--bins", "0"],
        "missing_out_dir": [ref, tripled, "--json", str(tmp / "nowhere" / "r.json")],
        "overwrite": [ref, tripled, "--html", str(tmp / "ref" / "summary.json")],
        "same_outputs": [ref, tripled, "--json", str(out / "x"), "--html", str(out / "x")],
    }


def _run(arguments: list[str]) -> Run:
    done = subprocess.run(
        [*CLI, *arguments], capture_output=True, text=True, env=ENV, timeout=300, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drift")


@pytest.fixture(scope="module")
def runs(workdir: Path) -> dict[str, Run]:
    commands = _commands(workdir)
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        results = pool.map(_run, commands.values())
    return dict(zip(commands, results, strict=True))


def test_identical_summaries_exit_0(runs: dict[str, Run]) -> None:
    run = runs["same"]
    assert run.code == EXIT_OK, run.stderr
    assert run.stderr == ""
    assert "nDCG 1.0000 (threshold 0.9, all features)" in run.stdout
    assert "OK: no drift in 4 features" in run.stdout
    assert run.stdout.count("0.0000") == 4  # each feature's JS


def test_a_fresh_sample_exits_0_and_writes_json(runs: dict[str, Run], workdir: Path) -> None:
    assert runs["fresh"].code == EXIT_OK, runs["fresh"].stderr
    data = json.loads((workdir / "out" / "fresh.json").read_text(encoding="utf-8"))
    assert data["ok"] is True and data["flagged"] == []
    assert max(row["js"] for row in data["features"]) < 0.01


def test_a_drifted_feature_exits_3_and_is_named(runs: dict[str, Run], workdir: Path) -> None:
    run = runs["tripled"]
    assert run.code == EXIT_DRIFT, run.stderr
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    assert lines[1].split() == [
        "feature",
        "JS",
        "mean",
        "|a|",
        "ref",
        "->",
        "cur",
        "change",
        "flags",
    ]
    assert lines[2].startswith("income") and lines[2].endswith("+200.0%  js, mean-abs-change")
    assert all(not line.endswith(("js", "mean-abs-change")) for line in lines[3:6])
    assert "DRIFT: 1 of 4 features flagged" in run.stdout
    assert "  feature 'income': JS divergence" in run.stdout
    data = json.loads((workdir / "out" / "t.json").read_text(encoding="utf-8"))
    assert data["flagged"] == ["income"] and data["ok"] is False
    page = (workdir / "out" / "t.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "&lt;b&gt;&amp;" in page and "<b>&" not in page
    assert page.count('<tr class="flagged">') == 1
    assert f"wrote {workdir / 'out' / 't.json'}" in run.stdout


def test_a_per_feature_threshold(runs: dict[str, Run]) -> None:
    assert runs["nudged"].code == EXIT_OK, runs["nudged"].stderr
    strict = runs["nudged_strict"]
    assert strict.code == EXIT_DRIFT, strict.stderr
    assert "(its own threshold)" in strict.stdout


def test_looser_thresholds(runs: dict[str, Run]) -> None:
    assert runs["loosened"].code == EXIT_OK, runs["loosened"].stderr


def test_a_cohort(runs: dict[str, Run]) -> None:
    run = runs["cohort"]
    assert run.code == EXIT_DRIFT, run.stderr
    assert run.stdout.startswith("attribution drift [cohort:sex=Male]:")


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("missing_dir", EXIT_USAGE, "nowhere': no such file or directory"),
        ("no_summary", EXIT_USAGE, "empty' has no summary.json"),
        ("corrupt", EXIT_FAILED, "summary.json' is not JSON"),
        ("bad_threshold", EXIT_USAGE, "--threshold: threshold 'js=high': 'high' is not a number"),
        ("no_equals", EXIT_USAGE, "--threshold: threshold 'js': expected KEY=VALUE"),
        ("unknown_key", EXIT_USAGE, "unknown key 'jsd'"),
        ("out_of_range", EXIT_USAGE, "the ndcg threshold must be in [0, 1], got 2.0"),
        ("unknown_feature", EXIT_USAGE, "a feature neither summary has: 'agee'"),
        ("unknown_group", EXIT_USAGE, "no cohort 'sex=Female' in the reference summary"),
        ("bad_group", EXIT_USAGE, "--group: a group is 'cohort:NAME' or 'class:LABEL'"),
        ("other_task", EXIT_FAILED, "different tasks (reference 'tabular', current 'text')"),
        ("bad_bins", EXIT_USAGE, "argument --bins: must be >= 1, got 0"),
        ("missing_out_dir", EXIT_USAGE, "not a file in an existing directory"),
        ("overwrite", EXIT_USAGE, "summary.json' would overwrite a compared summary"),
        ("same_outputs", EXIT_USAGE, "--json and --html name the same file"),
    ],
)
def test_errors_are_one_line(runs: dict[str, Run], name: str, code: int, message: str) -> None:
    run = runs[name]
    assert run.code == code, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("intgrad: error: "), run.stderr
    assert message in lines[0]
    assert run.stdout == ""


def test_errors_write_nothing(runs: dict[str, Run], workdir: Path) -> None:
    assert {run.code for name, run in runs.items() if name not in _SUCCESSES} <= {1, 2}
    assert (workdir / "kept.json").read_text(encoding="utf-8") == SENTINEL
    assert DatasetSummary.load(workdir / "ref").examples == 2000
    written = sorted(p.name for p in (workdir / "out").iterdir())
    assert written == ["fresh.json", "t.html", "t.json"]


_SUCCESSES = {"same", "fresh", "tripled", "nudged", "nudged_strict", "loosened", "cohort"}
