"""The Ray engine of dataset jobs: shards explained by a pool of actors on Ray Data.

The shards still to do become a Ray dataset of ``{"index", "start", "stop"}`` rows, mapped
with an :class:`~ray.data.ActorPoolStrategy`: each actor holds one task (so one explanation
session, and a GPU when the cluster has them), reads its shards from the source itself and
writes each shard's file atomically. A shard's file is the only record of its work, so an actor
killed mid-shard leaves nothing behind; Ray restarts the actor and retries the shard, and any
shard still missing after the pass is run again — every example lands exactly once.

Needs the ``ray`` extra (``pip install 'intgrad[ray]'``). When no cluster is connected, a local
one is started for the job on loopback, without usage statistics, its object store capped.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intgrad.datasets.records import Cohort
from intgrad.datasets.sources import ExampleSource
from intgrad.datasets.tasks import DatasetTask

__all__ = ["LOCAL_CLUSTER_ENV", "local_cluster_options", "run_on_ray"]

LOCAL_CLUSTER_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}
_OBJECT_STORE_BYTES = 256 * 1024**2
_PASSES = 3


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError(
            "engine='ray' needs Ray Data: pip install 'intgrad[ray]' (or 'ray[data]')"
        ) from None
    return ray


def local_cluster_options(workers: int) -> dict[str, Any]:
    """``ray.init`` options of a private local cluster: loopback only, bounded memory."""
    return {
        "num_cpus": max(1, workers),
        "include_dashboard": False,
        "object_store_memory": _OBJECT_STORE_BYTES,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": False,
        "configure_logging": False,
    }


class _ShardWorker:
    """A Ray Data actor: one task (one explanation session) explaining shard after shard."""

    def __init__(
        self,
        task: DatasetTask,
        source: ExampleSource,
        cohorts: Sequence[Cohort],
        directory: str,
        metadata: dict[str, Any],
    ) -> None:
        self.task, self.source, self.cohorts = task, source, cohorts
        self.directory, self.metadata = Path(directory), metadata

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from intgrad.datasets.job import Shard, run_shard

        for index, start, stop in zip(batch["index"], batch["start"], batch["stop"], strict=True):
            shard = Shard(int(index), int(start), int(stop))
            run_shard(self.task, self.source, self.cohorts, shard, self.directory, self.metadata)
        return {"index": np.asarray(batch["index"], np.int64)}


def _missing(shards: Sequence[Any], directory: Path) -> list[Any]:
    from intgrad.datasets.job import shard_path

    return [s for s in shards if not shard_path(directory, s.index).exists()]


def _has_gpu(ray: Any) -> bool:
    return float(ray.cluster_resources().get("GPU", 0)) >= 1


def run_on_ray(
    task: DatasetTask,
    source: ExampleSource,
    cohorts: Sequence[Cohort],
    shards: Sequence[Any],
    directory: Path,
    metadata: dict[str, Any],
    workers: int,
    use_gpu: bool | None,
    report: Callable[[int], None],
) -> None:
    """Explain ``shards`` on a pool of ``workers`` Ray actors, until every shard is written."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if not shards:
        return
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        for name, value in LOCAL_CLUSTER_ENV.items():
            os.environ.setdefault(name, value)
        ray.init(**local_cluster_options(workers))
    try:
        with _quiet(ray, started_here):
            _run_passes(
                ray, task, source, cohorts, shards, directory, metadata, workers, use_gpu, report
            )
    finally:
        if started_here:
            ray.shutdown()


@contextlib.contextmanager
def _quiet(ray: Any, private: bool) -> Iterator[None]:
    """On a cluster started for the job, no Ray Data progress bars or INFO logs (restored)."""
    if not private:
        yield
        return
    context = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    saved = (context.enable_progress_bars, context.print_on_execution_start, logger.level)
    context.enable_progress_bars, context.print_on_execution_start = False, False
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start, level = saved
        logger.setLevel(level)


def _run_passes(
    ray: Any,
    task: DatasetTask,
    source: ExampleSource,
    cohorts: Sequence[Cohort],
    shards: Sequence[Any],
    directory: Path,
    metadata: dict[str, Any],
    workers: int,
    use_gpu: bool | None,
    report: Callable[[int], None],
) -> None:
    gpu = _has_gpu(ray) if use_gpu is None else bool(use_gpu)
    sizes = {s.index: s.stop - s.start for s in shards}
    failure: BaseException | None = None
    for _ in range(_PASSES):
        todo = _missing(shards, directory)
        if not todo:
            return
        rows = [{"index": s.index, "start": s.start, "stop": s.stop} for s in todo]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _ShardWorker,
            fn_constructor_args=(task, source, list(cohorts), str(directory), metadata),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(rows))),
            num_cpus=1,
            num_gpus=1 if gpu else 0,
        )
        try:
            for row in dataset.iter_rows():
                report(sizes[int(row["index"])])
        except Exception as error:  # an actor lost beyond Ray's retries: run what is missing
            failure = error
    if _missing(shards, directory):
        raise RuntimeError(f"the Ray engine could not finish every shard: {failure}")
