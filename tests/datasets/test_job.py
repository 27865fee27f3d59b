"""Dataset jobs on the local engine: exact attributions, failures recorded, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from intgrad.datasets import CsvSource, DatasetResult, DatasetSummary, explain_dataset
from intgrad.datasets.job import plan_shards
from tests.datasets.tasks import CURSED, QuadraticTask, frame

COLUMNS = ("x", "y", "z")
C = np.array([1.0, 2.0, 3.0])
ROOT = Path(__file__).resolve().parents[2]


def _task(pause: float = 0.0) -> QuadraticTask:
    return QuadraticTask(COLUMNS, C, pause)


def test_every_example_once_with_exact_attributions_and_summaries(tmp_path):
    data = frame(70)
    result = explain_dataset(data, _task(), tmp_path, shard_size=16, cohorts=["group"])
    exact = data[list(COLUMNS)].to_numpy() ** 2 * C
    attributions = result.attributions()
    assert attributions.index.tolist() == list(range(70))
    np.testing.assert_allclose(attributions.to_numpy(), exact, rtol=1e-12)
    np.testing.assert_allclose(result.values().to_numpy(), data[list(COLUMNS)].to_numpy())
    summary = result.summary
    assert (summary.examples, summary.failed, len(result.shards)) == (70, 0, 5)
    np.testing.assert_allclose(summary.features.mean, exact.mean(0), rtol=1e-12)
    np.testing.assert_allclose(summary.features.variance, exact.var(0, ddof=1), rtol=1e-10)
    in_a = (data["group"] == "a").to_numpy()
    np.testing.assert_allclose(summary.cohort("group=a").mean, exact[in_a].mean(0), rtol=1e-12)
    assert summary.cohort("group=b").count[0] == (~in_a).sum()
    high = exact.sum(1) > 1.0
    assert summary.classes["high"].count[0] == high.sum()
    assert summary.mean_abs_delta() < 1e-12
    assert DatasetSummary.load(tmp_path).to_dict() == summary.to_dict()
    assert DatasetResult.open(tmp_path).summary.to_dict() == summary.to_dict()


def test_failing_examples_are_recorded_and_the_job_goes_on(tmp_path):
    data = frame(40)
    data.loc[3, "x"] = np.nan
    data.loc[21, "y"] = 1e200  # the output overflows to inf: the engine refuses the call
    data.loc[35, "z"] = CURSED  # the whole call raises: the task retries row by row
    result = explain_dataset(data, _task(), tmp_path, shard_size=16)
    failures = result.failures()
    assert failures["example"].tolist() == [3, 21, 35]
    missing, overflow, cursed = failures["error"]
    assert missing == "ValueError: missing value"
    assert overflow.startswith("ValueError: attributions contain NaN or inf")
    assert cursed == "ValueError: a cursed row"
    assert (result.summary.examples, result.summary.failed) == (40, 3)
    assert result.summary.features.count.tolist() == [37, 37, 37]
    kept = data.drop(index=[3, 21, 35])[list(COLUMNS)].to_numpy() ** 2 * C
    np.testing.assert_allclose(result.summary.features.mean, kept.mean(0), rtol=1e-12)


def test_predicate_cohorts_and_csv_sources_read_by_shard(tmp_path):
    data = frame(50, seed=4)
    path = tmp_path / "rows.csv"
    data.to_csv(path, index=False)
    source = CsvSource(path)
    assert len(source) == 50
    assert source.read(10, 13).ids == ["10", "11", "12"]
    big = ("x above 1", lambda rows: rows["x"] > 1)
    result = explain_dataset(source, _task(), tmp_path / "job", shard_size=8, cohorts=[big])
    exact = data[list(COLUMNS)].to_numpy() ** 2 * C
    chosen = data["x"].to_numpy() > 1
    np.testing.assert_allclose(result.summary.cohort("x above 1").mean, exact[chosen].mean(0))


def _run_killed(directory: Path, marker_shards: int) -> None:
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.datasets.tasks import QuadraticTask, frame\n"
        "from intgrad.datasets import explain_dataset\n"
        "import numpy as np\n"
        "task = QuadraticTask(('x', 'y', 'z'), np.array([1.0, 2.0, 3.0]), 0.25)\n"
        "explain_dataset(frame(300), task,"
        f" {str(directory)!r}, shard_size=20, cohorts=['group'])\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    deadline = time.monotonic() + 60
    shards = directory / "shards"
    while time.monotonic() < deadline and process.poll() is None:
        if shards.is_dir() and len(list(shards.glob("part-*.parquet"))) >= marker_shards:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    killed = tmp_path / "killed"
    _run_killed(killed, marker_shards=3)
    written = sorted(p.name for p in (killed / "shards").glob("part-*.parquet"))
    assert 3 <= len(written) < 15
    assert not (killed / "summary.json").exists()
    resumed = explain_dataset(frame(300), _task(), killed, shard_size=20, cohorts=["group"])
    whole = explain_dataset(
        frame(300), _task(), tmp_path / "whole", shard_size=20, cohorts=["group"]
    )
    assert resumed.resumed >= 3 and whole.resumed == 0
    assert resumed.summary.to_dict() == whole.summary.to_dict()
    rows = resumed.frame()
    assert rows["example"].tolist() == list(range(300))
    pd.testing.assert_frame_equal(rows, whole.frame())


def test_a_killed_write_leaves_no_shard_and_its_temporary_file_is_cleared(tmp_path):
    explain_dataset(frame(30), _task(), tmp_path, shard_size=10)
    (tmp_path / "shards" / "part-00001.parquet").unlink()
    (tmp_path / "summary.json").unlink()
    leftover = tmp_path / "shards" / ".part-00001.parquet.0123abcd.tmp.parquet"
    leftover.write_bytes(b"PAR1 half a file")
    progress: list[tuple[int, int]] = []
    result = explain_dataset(
        frame(30), _task(), tmp_path, shard_size=10, progress=lambda *p: progress.append(p)
    )
    assert not leftover.exists()
    assert result.resumed == 2 and progress == [(20, 30), (30, 30)]
    assert result.frame()["example"].tolist() == list(range(30))


def test_a_directory_with_another_job_is_refused_not_mixed(tmp_path):
    explain_dataset(frame(30), _task(), tmp_path, shard_size=10)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "shards").iterdir()}
    with pytest.raises(ValueError, match="differs in source"):
        explain_dataset(frame(30, seed=9), _task(), tmp_path, shard_size=10)
    with pytest.raises(ValueError, match="differs in settings"):
        explain_dataset(frame(30), QuadraticTask(COLUMNS, C * 2), tmp_path, shard_size=10)
    with pytest.raises(ValueError, match="differs in shard_size"):
        explain_dataset(frame(30), _task(), tmp_path, shard_size=5)
    with pytest.raises(FileExistsError, match="already holds a dataset job"):
        explain_dataset(frame(30), _task(), tmp_path, shard_size=10, resume=False)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "shards").iterdir()} == before
    again = explain_dataset(frame(30, seed=9), _task(), tmp_path, shard_size=5, overwrite=True)
    assert len(again.shards) == 6
    assert json.loads((tmp_path / "job.json").read_text())["shard_size"] == 5


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="shard_size"):
        explain_dataset(frame(5), _task(), tmp_path, shard_size=0)
    with pytest.raises(ValueError, match="engine"):
        explain_dataset(frame(5), _task(), tmp_path, engine="spark")
    with pytest.raises(ValueError, match="no examples"):
        explain_dataset(frame(0), _task(), tmp_path)
    with pytest.raises(ValueError, match="cohort column 'age'"):
        explain_dataset(frame(5), _task(), tmp_path, cohorts=["age"])
    assert not (tmp_path / "job.json").exists()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        CsvSource(empty)
    header = tmp_path / "header.csv"
    header.write_text("x,y,z\n")
    with pytest.raises(ValueError, match="no rows"):
        CsvSource(header)
    assert [(s.start, s.stop) for s in plan_shards(5, 2)] == [(0, 2), (2, 4), (4, 5)]


def test_results_with_non_finite_values_are_marked_failed():
    from intgrad.datasets.records import ExampleResults, reject_non_finite

    results = ExampleResults.empty(np.arange(3), ["a", "b", "c"], [None, None, "ValueError: x"])
    results.f_input[:], results.f_baseline[:], results.delta[:] = 1.0, 0.0, 0.0
    results.feature_names, results.attributions = ("x",), np.array([[1.0], [np.inf], [np.nan]])
    reject_non_finite(results)
    assert results.errors == [
        None,
        "ValueError: the model's output or attributions are not finite",
        "ValueError: x",
    ]


def test_a_sample_of_rows_is_bounded_spread_over_shards_and_repeatable(tmp_path):
    data = frame(70)
    data.loc[5, "x"] = np.nan  # a failed row is never sampled
    result = explain_dataset(data, _task(), tmp_path, shard_size=16)
    attributions, values = result.sample(rows=12, seed=3)
    # 12 rows over 5 shards: 3, 3, 2, 2, 2 from shards 0..4, each within its own shard.
    assert len(attributions) == 12 and attributions.index.equals(values.index)
    per_shard = np.bincount(attributions.index.to_numpy() // 16, minlength=5).tolist()
    assert per_shard == [3, 3, 2, 2, 2] and 5 not in attributions.index
    everything = result.attributions()
    pd.testing.assert_frame_equal(attributions, everything.loc[attributions.index])
    pd.testing.assert_frame_equal(values, result.values().loc[values.index])
    again = result.sample(rows=12, seed=3)[0]
    assert again.index.tolist() == attributions.index.tolist()
    assert result.sample(rows=12, seed=4)[0].index.tolist() != attributions.index.tolist()
    # More rows than there are explained examples: all of them, in order.
    pd.testing.assert_frame_equal(result.sample(rows=1000)[0], everything)
    with pytest.raises(ValueError, match="rows must be a positive int"):
        result.sample(rows=0)


def test_shards_folded_as_they_finish_in_any_order_give_the_same_summary(tmp_path):
    from intgrad.datasets.job import ShardFold, shard_path

    result = explain_dataset(frame(70), _task(), tmp_path, shard_size=16, cohorts=["group"])
    shards = plan_shards(70, 16)
    metadata = result.summary.metadata
    fold = ShardFold(tmp_path, shards, metadata)
    for index in (3, 1, 4, 1, 0, 2, 0):  # out of order, some twice (a retried shard)
        fold.written(shards[index])
    assert fold.position == len(shards) and not fold.ahead
    assert fold.result().to_dict() == result.summary.to_dict()
    # Shards already on disk before the pool started are folded from their files.
    resumed = ShardFold(tmp_path, shards, metadata)
    resumed.written(shards[4])  # 0..3 are on disk: folded up to 4 at once
    assert resumed.position == len(shards)
    assert resumed.result().to_dict() == result.summary.to_dict()
    # A shard not written yet stops the fold there; the ones after it wait.
    shard_path(tmp_path, 2).rename(tmp_path / "held")
    waiting = ShardFold(tmp_path, shards, metadata)
    waiting.written(shards[3])
    assert waiting.position == 2 and set(waiting.ahead) == {3}
    (tmp_path / "held").rename(shard_path(tmp_path, 2))
    waiting.written(shards[2])
    assert waiting.position == 5  # 2, the kept 3, and 4 from its file
    assert waiting.result().to_dict() == result.summary.to_dict()
