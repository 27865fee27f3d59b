"""The Ray engine: the local engine's results, every example once, through a killed actor."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from intgrad.datasets import FrameSource, explain_dataset
from intgrad.datasets.job import ShardJob
from tests.datasets.tasks import KillOnceTask, QuadraticTask, frame

ray = pytest.importorskip("ray")

from intgrad.datasets.ray_engine import _ShardWorker, pool_options  # noqa: E402

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


def test_the_pool_has_one_actor_per_gpu_at_most():
    assert pool_options(4, 10, None, 0) == {"size": 4, "num_gpus": 0}
    assert pool_options(4, 3, None, 0) == {"size": 3, "num_gpus": 0}
    assert pool_options(4, 10, None, 2) == {"size": 2, "num_gpus": 1}  # capped at the GPUs
    assert pool_options(4, 1, True, 2) == {"size": 1, "num_gpus": 1}
    assert pool_options(4, 10, False, 2) == {"size": 4, "num_gpus": 0}
    assert pool_options(2, 10, None, 0.5) == {"size": 2, "num_gpus": 0}  # no whole GPU
    with pytest.raises(ValueError, match="no GPU"):
        pool_options(2, 10, True, 0)


class _DeviceTask(QuadraticTask):
    def __init__(self) -> None:
        super().__init__(COLUMNS, C)
        self.devices: list[str] = []

    def use_device(self, device: str) -> None:
        self.devices.append(device)


@pytest.mark.parametrize(("gpu_ids", "devices"), [([], []), ([0], ["cuda"]), (["1"], ["cuda"])])
def test_an_actor_with_a_gpu_moves_its_task_there(monkeypatch, tmp_path, gpu_ids, devices):
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: gpu_ids)
    task = _DeviceTask()
    _ShardWorker(ShardJob(task, FrameSource(frame(4)), (), tmp_path, {}))
    assert task.devices == devices


def test_asking_for_gpus_on_a_cluster_without_one_fails_at_once(cluster, tmp_path):
    with pytest.raises(ValueError, match="use_gpu=True but the Ray cluster has no GPU"):
        explain_dataset(
            frame(20),
            QuadraticTask(COLUMNS, C),
            tmp_path,
            shard_size=10,
            engine="ray",
            use_gpu=True,
        )
    assert not list((tmp_path / "shards").glob("part-*.parquet"))


def test_the_adult_model_on_ray_matches_the_local_engine(cluster, tmp_path):
    from intgrad.datasets import TabularTask
    from intgrad.tabular import load_adult

    rows = load_adult("test").head(120)
    task = TabularTask("adult-mlp", steps=8)
    local = explain_dataset(rows, task, tmp_path / "local", shard_size=40, cohorts=["sex"])
    remote = explain_dataset(
        rows, task, tmp_path / "ray", shard_size=40, cohorts=["sex"], engine="ray", workers=2
    )
    frames = remote.frame(), local.frame()
    assert frames[0]["example"].tolist() == list(range(120))  # every row once, in order
    assert remote.summary.examples == 120 and remote.summary.failed == 0
    attributions = [f.filter(like="a:").to_numpy() for f in frames]
    np.testing.assert_allclose(attributions[0], attributions[1], rtol=1e-5, atol=1e-7)
    assert frames[0]["predicted_label"].tolist() == frames[1]["predicted_label"].tolist()
    ours, theirs = local.summary, remote.summary
    assert theirs.features.names == ours.features.names == task.columns
    for name in ("mean", "m2", "mean_abs"):
        np.testing.assert_allclose(
            getattr(theirs.features, name), getattr(ours.features, name), rtol=1e-5, atol=1e-9
        )
    assert theirs.cohorts.keys() == ours.cohorts.keys() == {"sex=Female", "sex=Male"}
    assert theirs.classes.keys() == ours.classes.keys()
    np.testing.assert_array_equal(theirs.cohort("sex=Male").count, ours.cohort("sex=Male").count)
