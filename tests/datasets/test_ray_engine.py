"""The Ray engine: the local engine's results, every example once, through a killed actor."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from intgrad.datasets import explain_dataset
from tests.datasets.tasks import KillOnceTask, QuadraticTask, frame

ray = pytest.importorskip("ray")

COLUMNS = ("x", "y", "z")
C = np.array([1.0, 2.0, 3.0])


@pytest.fixture(scope="module")
def cluster():
    import tests.closed_forms
    import tests.datasets.tasks
    from intgrad.datasets.ray_engine import LOCAL_CLUSTER_ENV, local_cluster_options

    os.environ.update(LOCAL_CLUSTER_ENV)
    # The workers cannot import the test package: send its classes by value.
    for module in (tests.datasets.tasks, tests.closed_forms):
        ray.cloudpickle.register_pickle_by_value(module)
    ray.init(**local_cluster_options(2))
    yield ray
    ray.shutdown()


def test_ray_matches_the_local_engine_with_no_duplicated_rows(cluster, tmp_path):
    data = frame(150, seed=5)
    data.loc[17, "z"] = np.nan
    local = explain_dataset(
        data, QuadraticTask(COLUMNS, C), tmp_path / "local", shard_size=16, cohorts=["group"]
    )
    remote = explain_dataset(
        data,
        QuadraticTask(COLUMNS, C),
        tmp_path / "ray",
        shard_size=16,
        cohorts=["group"],
        engine="ray",
        workers=2,
    )
    rows = remote.frame()
    assert rows["example"].tolist() == list(range(150))
    assert rows["example"].is_unique
    assert (remote.summary.examples, remote.summary.failed) == (150, 1)
    ours, theirs = local.summary, remote.summary
    for name in ("mean", "m2", "mean_abs", "count"):
        np.testing.assert_allclose(
            getattr(theirs.features, name), getattr(ours.features, name), rtol=1e-12
        )
    assert theirs.cohorts.keys() == ours.cohorts.keys()
    np.testing.assert_allclose(
        theirs.cohort("group=a").mean, ours.cohort("group=a").mean, rtol=1e-12
    )
    assert [s.counts for s in theirs.features.sketches] == [
        s.counts for s in ours.features.sketches
    ]


def test_an_actor_killed_mid_job_leaves_the_result_complete(cluster, tmp_path):
    marker = tmp_path / "killed.pid"
    task = KillOnceTask(COLUMNS, C, str(marker), doomed=48)
    result = explain_dataset(
        frame(120), task, tmp_path / "job", shard_size=16, engine="ray", workers=2
    )
    assert marker.exists(), "the actor was not killed: the test did not test a failure"
    assert int(marker.read_text()) != os.getpid()
    rows = result.frame()
    assert rows["example"].tolist() == list(range(120))
    assert result.summary.examples == 120 and result.summary.failed == 0
    exact = frame(120)[list(COLUMNS)].to_numpy() ** 2 * C
    np.testing.assert_allclose(result.summary.features.mean, exact.mean(0), rtol=1e-12)


def test_resuming_on_ray_skips_done_shards(cluster, tmp_path):
    first = explain_dataset(frame(64), QuadraticTask(COLUMNS, C), tmp_path, shard_size=16)
    for shard in first.shards[1:3]:
        Path(shard).unlink()
    again = explain_dataset(
        frame(64), QuadraticTask(COLUMNS, C), tmp_path, shard_size=16, engine="ray"
    )
    assert again.resumed == 2
    assert again.summary.to_dict() == first.summary.to_dict()
