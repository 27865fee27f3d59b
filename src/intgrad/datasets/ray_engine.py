"""The Ray engine of dataset jobs: shards explained by a pool of actors on Ray Data.

The shards still to do become a Ray dataset of ``{"index", "start", "stop"}`` rows, mapped
with an :class:`~ray.data.ActorPoolStrategy`: each actor holds one task (so one explanation
session, and a GPU when the cluster has them: its task's model is moved there, and the pool has
at most one actor per GPU), reads its shards from the source itself and
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
from typing import Any

import numpy as np

from intgrad.datasets.job import Shard, ShardJob

__all__ = [
    "LOCAL_CLUSTER_ENV",
    "actor_device",
    "local_cluster_options",
    "pool_options",
    "run_on_ray",
]

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
    """A Ray Data actor: one job (so one explanation session) explaining shard after shard.

    An actor given a GPU by Ray (``CUDA_VISIBLE_DEVICES`` names it, so it is ``"cuda"``) moves
    its task's model there before the first shard, when the task can (``use_device``).
    """

    def __init__(self, job: ShardJob) -> None:
        self.job = job
        device = actor_device(_ray().get_gpu_ids())
        use_device = getattr(job.task, "use_device", None)
        if device is not None and use_device is not None:
            use_device(device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for index, start, stop in zip(batch["index"], batch["start"], batch["stop"], strict=True):
            self.job.run(Shard(int(index), int(start), int(stop)))
        return {"index": np.asarray(batch["index"], np.int64)}


def actor_device(gpu_ids: Sequence[Any]) -> str | None:
    """The torch device of an actor holding the GPUs ``ray.get_gpu_ids()`` lists, or None."""
    return "cuda" if len(gpu_ids) else None


def pool_options(
    workers: int, shards: int, use_gpu: bool | None, cluster_gpus: float
) -> dict[str, int]:
    """The actor pool's ``size`` and each actor's ``num_gpus``.

    Args:
        workers: actors asked for.
        shards: shards to explain (no more actors than shards).
        use_gpu: give each actor a whole GPU; ``None``: when the cluster has one.
        cluster_gpus: the cluster's GPUs (``ray.cluster_resources()["GPU"]``).

    With GPUs the pool has at most one actor per GPU: an actor that waits for a GPU no one
    frees would stall the job.

    Raises:
        ValueError: ``use_gpu=True`` on a cluster without a GPU.
    """
    gpus = int(cluster_gpus)
    gpu = gpus >= 1 if use_gpu is None else bool(use_gpu)
    if gpu and gpus < 1:
        raise ValueError("use_gpu=True but the Ray cluster has no GPU")
    size = min(workers, shards, gpus) if gpu else min(workers, shards)
    return {"size": max(1, size), "num_gpus": 1 if gpu else 0}


def run_on_ray(
    job: ShardJob,
    shards: Sequence[Shard],
    workers: int,
    use_gpu: bool | None,
    done: Callable[[Shard], None],
) -> None:
    """Explain ``shards`` on a pool of ``workers`` Ray actors, until every shard is written.

    ``done(shard)`` is called in this process as each shard's file is in place (in the order
    they finish), so the caller folds the summaries while the actors work.
    """
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
            _run_passes(ray, job, shards, workers, use_gpu, done)
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
    job: ShardJob,
    shards: Sequence[Shard],
    workers: int,
    use_gpu: bool | None,
    done: Callable[[Shard], None],
) -> None:
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
    pool_options(workers, len(shards), use_gpu, cluster_gpus)  # refuse a GPU job without GPUs
    by_index = {s.index: s for s in shards}
    failure: BaseException | None = None
    for _ in range(_PASSES):
        todo = job.missing(shards)
        if not todo:
            return
        rows = [{"index": s.index, "start": s.start, "stop": s.stop} for s in todo]
        pool = pool_options(workers, len(rows), use_gpu, cluster_gpus)
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            _ShardWorker,
            fn_constructor_args=(job,),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=pool["size"]),
            num_cpus=1,
            num_gpus=pool["num_gpus"],
        )
        try:
            for row in dataset.iter_rows():
                done(by_index[int(row["index"])])
        except Exception as error:  # an actor lost beyond Ray's retries: run what is missing
            failure = error
    if job.missing(shards):
        raise RuntimeError(f"the Ray engine could not finish every shard: {failure}")
