"""Explain a whole dataset in shards: bounded memory, resumable, on one machine or on Ray.

:func:`explain_dataset` splits the examples into shards of ``shard_size`` by position, explains
each shard with a task (:mod:`intgrad.datasets.tasks`) and writes it as one Parquet file
(:mod:`intgrad.datasets.records`) that appears whole or not at all. A job directory holds::

    job.json              what the job is: task settings, the source's fingerprint, shard size
    shards/part-00000.parquet ...   one file per shard: rows + the shard's summary
    summary.json          the merged summary, written when every shard is done

Killed at any point, the same call continues: finished shards are kept, the others are done
again, and the final summary is the fold of the shard summaries in shard order — identical to
an uninterrupted run, every example exactly once. A directory holding a different job (other
settings or other data) is refused rather than mixed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from intgrad._io import atomic_write_text
from intgrad.datasets.records import (
    ATTRIBUTION_PREFIX,
    VALUE_PREFIX,
    Cohort,
    ExampleResults,
    cohort_membership,
    cohort_names,
    read_shard,
    read_shard_summary,
    reject_non_finite,
    summarise,
    write_shard,
)
from intgrad.datasets.sources import ExampleSource, as_source
from intgrad.datasets.summary import SUMMARY_FILE, DatasetSummary
from intgrad.datasets.tasks import DatasetTask, default_task

__all__ = ["ENGINES", "JOB_FILE", "DatasetResult", "Shard", "ShardJob", "explain_dataset"]

ENGINES = ("local", "ray")
JOB_FILE = "job.json"
SHARD_DIRECTORY = "shards"
_FORMAT = "intgrad-dataset-job/1"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Shard:
    """Examples ``start`` to ``stop`` (exclusive) of a dataset, the ``index``-th shard."""

    index: int
    start: int
    stop: int

    def as_dict(self) -> dict[str, int]:
        return {"index": self.index, "start": self.start, "stop": self.stop}


def plan_shards(examples: int, shard_size: int) -> list[Shard]:
    """Consecutive shards of ``shard_size`` examples (the last may be shorter)."""
    return [
        Shard(index, start, min(start + shard_size, examples))
        for index, start in enumerate(range(0, examples, shard_size))
    ]


def shard_path(directory: Path, index: int) -> Path:
    return directory / SHARD_DIRECTORY / f"part-{index:05d}.parquet"


@dataclass(frozen=True)
class ShardJob:
    """What explains and writes any shard of one job: picklable, so a Ray actor holds one.

    Attributes:
        task: explains a shard's examples.
        source: reads them.
        cohorts: the cohorts each shard's summary keeps.
        directory: the job directory.
        metadata: the summaries' metadata (the job's settings).
    """

    task: DatasetTask
    source: ExampleSource
    cohorts: tuple[Cohort, ...]
    directory: Path
    metadata: dict[str, Any]

    def missing(self, shards: Sequence[Shard]) -> list[Shard]:
        """The shards whose files are not written yet."""
        return [s for s in shards if not shard_path(self.directory, s.index).exists()]

    def run(self, shard: Shard) -> Path:
        """Explain one shard and write its file; a shard already written is left as it is."""
        path = shard_path(self.directory, shard.index)
        if not path.exists():
            self.write(shard, *self.explain(shard))
        return path

    def explain(self, shard: Shard) -> tuple[ExampleResults, DatasetSummary]:
        """One shard's results (non-finite ones marked failed) and their summary."""
        batch = self.source.read(shard.start, shard.stop)
        results = self.task.explain(batch)
        if len(results.errors) != len(batch.ids):
            raise RuntimeError(
                f"the task returned {len(results.errors)} results for {len(batch.ids)} examples"
            )
        reject_non_finite(results)
        cohorts = cohort_membership(self.cohorts, batch.frame, len(batch.ids))
        return results, summarise(results, cohorts, self.metadata)

    def write(self, shard: Shard, results: ExampleResults, summary: DatasetSummary) -> None:
        """Write one explained shard's file (atomically: it appears whole or not at all)."""
        write_shard(shard_path(self.directory, shard.index), results, summary, shard.as_dict())


def run_local(
    job: ShardJob,
    shards: Sequence[Shard],
    done: Callable[[Shard], None],
    summarised: Callable[[Shard, DatasetSummary], None],
) -> None:
    """Explain ``shards`` (not written yet) in order in this process.

    Each shard's file is written by a second thread while the next shard is explained: the
    write waits mostly on the disk (two fsyncs per shard), so overlapping it keeps the model
    busy. At most one write is pending, so two shards are held at a time. A shard counts as
    done (``done(shard)``) once its file is in place; the files are the same as written one
    after the other. ``summarised(shard, summary)`` gets each shard's summary when its file is
    in place (to fold it without reading the footer back).
    """
    pending: tuple[Shard, DatasetSummary, Future[None]] | None = None

    def finish(write: tuple[Shard, DatasetSummary, Future[None]]) -> None:
        write[2].result()  # a failed write raises here
        summarised(write[0], write[1])
        done(write[0])

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="intgrad-shard-writer") as writer:
        for shard in shards:
            results, summary = job.explain(shard)
            if pending is not None:
                finish(pending)
            pending = (shard, summary, writer.submit(job.write, shard, results, summary))
        if pending is not None:
            finish(pending)


class ShardFold:
    """The fold, in shard order, of every shard's summary, kept as it goes: memory holds the
    running merge and at most the summaries that arrived ahead of their turn (none when the
    shards arrive in order), never one summary per shard.

    Args:
        directory: the job's folder, where shards not handed to :meth:`add` are read from.
        shards: every shard of the job, in order.
        metadata: the merged summary's metadata.
    """

    def __init__(self, directory: Path, shards: Sequence[Shard], metadata: dict[str, Any]) -> None:
        self.directory, self.shards, self.metadata = directory, list(shards), metadata
        self.merged = DatasetSummary(metadata=metadata)
        self.position = 0  # shards[:position] are folded
        self.ahead: dict[int, DatasetSummary] = {}
        self.order = {shard.index: i for i, shard in enumerate(self.shards)}

    def add(self, shard: Shard, summary: DatasetSummary) -> None:
        """Take the summary of a shard this process has just written (the same numbers as its
        footer: a stored summary is exact JSON); shards on disk before it are folded first."""
        self.ahead[shard.index] = summary
        self._fold_until(self.order[shard.index] + 1)

    def written(self, shard: Shard) -> None:
        """Take a shard another process has just written (shards may finish in any order):
        its summary is read from its file, and the fold goes on as far as the shards in order
        are in (kept ahead, or on disk). A shard already folded is not taken twice."""
        if self.order[shard.index] < self.position:
            return
        self.ahead[shard.index] = self._read(shard)
        while self.position < len(self.shards):
            next_shard = self.shards[self.position]
            if (
                next_shard.index not in self.ahead
                and not shard_path(self.directory, next_shard.index).exists()
            ):
                break
            self._fold_until(self.position + 1)

    def result(self) -> DatasetSummary:
        """The fold of every shard; every shard must be there once."""
        self._fold_until(len(self.shards))
        self.merged.metadata = self.metadata
        return self.merged

    def _fold_until(self, stop: int) -> None:
        while self.position < stop:
            shard = self.shards[self.position]
            summary = self.ahead.pop(shard.index, None)
            if summary is None:
                summary = self._read(shard)
            self.merged = self.merged.merge(summary)
            self.position += 1

    def _read(self, shard: Shard) -> DatasetSummary:
        path = shard_path(self.directory, shard.index)
        if not path.exists():
            raise RuntimeError(
                f"shard {shard.index} of the job in {str(self.directory)!r} is missing"
            )
        summary, stored = read_shard_summary(path)
        if stored != shard.as_dict():
            raise RuntimeError(f"{str(path)!r} holds shard {stored}, expected {shard.as_dict()}")
        return summary


@dataclass(frozen=True)
class DatasetResult:
    """A finished dataset job: its directory, merged summary and shard files.

    Attributes:
        directory: the job directory.
        summary: the merged summary of every example.
        shards: the shard files, in order.
        resumed: how many shards were already done when the call started.
    """

    directory: Path
    summary: DatasetSummary
    shards: tuple[Path, ...]
    resumed: int = 0

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> DatasetResult:
        """A finished job's result, read back from its directory."""
        root = Path(directory)
        summary = DatasetSummary.load(root)
        shards = tuple(sorted((root / SHARD_DIRECTORY).glob("part-*.parquet")))
        return cls(root, summary, shards, len(shards))

    def frame(self, columns: Sequence[str] | None = None) -> Any:
        """Every example's row (all shards, in order) as one DataFrame."""
        import pandas as pd

        parts = [read_shard(path, columns) for path in self.shards]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def _prefixed(self, prefix: str) -> Any:
        import pyarrow.parquet as pq

        # Only the columns asked for are read (shards share their columns).
        names = pq.read_schema(self.shards[0]).names if self.shards else []
        chosen = [c for c in names if c.startswith(prefix)]
        frame = self.frame(["example", "error", *chosen])
        explained = frame[frame["error"].isna()]
        out = explained[chosen].rename(columns=lambda c: c[len(prefix) :])
        out.index = explained["example"].to_numpy()
        out.index.name = "example"
        return out

    def sample(self, rows: int = 5000, seed: int = 0) -> tuple[Any, Any]:
        """At most ``rows`` explained examples, drawn across the shards: their attributions
        and their feature values, as :meth:`attributions` and :meth:`values` give them (on the
        examples' index), for plots that need points rather than a summary.

        Shards are read one at a time, so memory holds a shard and the sample, never the
        dataset. Shard ``i`` of ``n`` gives ``rows // n`` of its explained examples (one more
        for the first ``rows % n``), drawn without replacement by a generator seeded with
        ``(seed, i)``: the same sample every time. A shard with fewer gives all it has.
        """
        import pandas as pd
        import pyarrow.parquet as pq

        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ValueError(f"rows must be a positive int, got {rows!r}")
        names = pq.read_schema(self.shards[0]).names if self.shards else []
        chosen = [c for c in names if c.startswith((ATTRIBUTION_PREFIX, VALUE_PREFIX))]
        parts = []
        for i, path in enumerate(self.shards):
            quota = rows // len(self.shards) + (1 if i < rows % len(self.shards) else 0)
            if quota == 0:
                continue
            shard = read_shard(path, ["example", "error", *chosen])
            explained = shard[shard["error"].isna()]
            if len(explained) > quota:
                picked = np.random.default_rng((seed, i)).choice(len(explained), quota, False)
                explained = explained.iloc[np.sort(picked)]
            parts.append(explained)
        frame = pd.concat(parts) if parts else pd.DataFrame(columns=["example", *chosen])

        def prefixed(prefix: str) -> Any:
            columns = [c for c in chosen if c.startswith(prefix)]
            out = frame[columns].rename(columns=lambda c: c[len(prefix) :])
            out.index = frame["example"].to_numpy()
            out.index.name = "example"
            return out

        return prefixed(ATTRIBUTION_PREFIX), prefixed(VALUE_PREFIX)

    def attributions(self) -> Any:
        """Explained examples' attributions: a DataFrame (examples × features).

        For text, a long DataFrame instead: one row per word (``example``, ``token``,
        ``attribution``).
        """
        if self.summary.metadata.get("feature_kind") == "tokens":
            return self._tokens()
        return self._prefixed(ATTRIBUTION_PREFIX)

    def values(self) -> Any:
        """Explained examples' feature values (tables), same index and columns."""
        return self._prefixed(VALUE_PREFIX)

    def _tokens(self) -> Any:
        import pandas as pd

        frame = self.frame(["example", "error", "tokens", "token_attributions"])
        explained = frame[frame["error"].isna()]
        rows = [
            (example, token, float(value))
            for example, tokens, values in zip(
                explained["example"],
                explained["tokens"],
                explained["token_attributions"],
                strict=True,
            )
            for token, value in zip(tokens, values, strict=True)
        ]
        return pd.DataFrame(rows, columns=["example", "token", "attribution"])

    def failures(self) -> Any:
        """The examples that failed: ``example``, ``id`` and ``error``."""
        frame = self.frame(["example", "id", "error"])
        return frame[frame["error"].notna()].reset_index(drop=True)


def _job_record(
    task: DatasetTask, source: ExampleSource, shard_size: int, cohorts: Sequence[Cohort]
) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "settings": task.settings(),
        "feature_kind": task.kind,
        "source": source.fingerprint(),
        "examples": len(source),
        "shard_size": shard_size,
        "cohorts": cohort_names(cohorts),
    }


def _metadata(job: dict[str, Any]) -> dict[str, Any]:
    return {
        **job["settings"],
        "feature_kind": job["feature_kind"],
        "cohorts": job["cohorts"],
        "source": job["source"],
    }


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [
        k
        for k in keys
        if json.dumps(stored.get(k), sort_keys=True) != json.dumps(wanted.get(k), sort_keys=True)
    ]


def _prepare_directory(directory: Path, job: dict[str, Any], resume: bool, overwrite: bool) -> None:
    record = directory / JOB_FILE
    if record.exists() and overwrite:
        shutil.rmtree(directory / SHARD_DIRECTORY, ignore_errors=True)
        for name in (JOB_FILE, SUMMARY_FILE):
            (directory / name).unlink(missing_ok=True)
    elif record.exists():
        if not resume:
            raise FileExistsError(
                f"{str(directory)!r} already holds a dataset job; resume it or overwrite it"
            )
        try:
            stored = json.loads(record.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError(f"{str(record)!r} is not a dataset job record") from None
        changed = _differences(stored, job)
        if changed:
            raise ValueError(
                f"{str(directory)!r} holds a different dataset job (it differs in "
                f"{', '.join(changed)}); use another directory or overwrite it"
            )
    (directory / SHARD_DIRECTORY).mkdir(parents=True, exist_ok=True)
    for leftover in (directory / SHARD_DIRECTORY).glob(".part-*"):
        leftover.unlink(missing_ok=True)  # a temporary file of a killed write
    if not record.exists():
        atomic_write_text(record, json.dumps(job, indent=2))


def _check_cohorts(source: ExampleSource, cohorts: Sequence[Cohort]) -> None:
    if cohorts and len(source):
        first = source.read(0, 1)
        cohort_membership(cohorts, first.frame, 1)


def _as_task(task: DatasetTask | str) -> DatasetTask:
    return default_task(task) if isinstance(task, str) else task


def explain_dataset(
    data: Any,
    task: DatasetTask | str,
    output_dir: str | os.PathLike[str],
    *,
    shard_size: int = 256,
    cohorts: Sequence[Cohort] = (),
    engine: Literal["local", "ray"] = "local",
    workers: int = 2,
    use_gpu: bool | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DatasetResult:
    """Explain every example of ``data`` and summarise the attributions.

    Args:
        data: a DataFrame, a CSV path, a list of texts or images, or an
            :class:`~intgrad.datasets.sources.ExampleSource`.
        task: what explains a shard — a :class:`~intgrad.datasets.tasks.TabularTask`,
            ``TextTask`` or ``ImageTask`` (or ``"tabular"``, ``"text"``, ``"images"`` for the
            embedded models with default settings).
        output_dir: the job directory (created when missing).
        shard_size: examples per shard: one shard is explained and held at a time per worker.
        cohorts: columns (one cohort per value) and ``(name, predicate)`` pairs to summarise
            separately; predicates see a shard's frame (table rows; ``id``/``length`` for text).
        engine: ``"local"`` (this process) or ``"ray"`` (actors on a Ray cluster: the one
            ``ray.init`` connected to, else a local one started for the job).
        workers: Ray actors, each holding one explanation session.
        use_gpu: give each Ray actor a GPU (default: when the cluster has one).
        resume: continue a job found in ``output_dir`` (the same task and data) instead of
            refusing it.
        overwrite: discard a job found in ``output_dir`` and start again.
        progress: ``progress(examples_done, examples_total)`` after each shard.

    Returns:
        The :class:`DatasetResult`; its summary is also saved as ``summary.json``.
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive int, got {shard_size!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    source, chosen = as_source(data), _as_task(task)
    if len(source) == 0:
        raise ValueError("the dataset has no examples")
    _check_cohorts(source, cohorts)
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    record = _job_record(chosen, source, shard_size, cohorts)
    _prepare_directory(directory, record, resume, overwrite)
    job = ShardJob(chosen, source, tuple(cohorts), directory, _metadata(record))
    shards = plan_shards(len(source), shard_size)
    todo = job.missing(shards)
    done = len(shards) - len(todo)
    report = _Report(progress, len(source), len(source) - sum(s.stop - s.start for s in todo))
    fold = ShardFold(directory, shards, job.metadata)
    if engine == "local":
        run_local(job, todo, lambda shard: report(shard.stop - shard.start), fold.add)
    else:
        from intgrad.datasets.ray_engine import run_on_ray

        def written(shard: Shard) -> None:
            fold.written(shard)
            report(shard.stop - shard.start)

        run_on_ray(job, todo, workers, use_gpu, written)
    summary = fold.result()
    summary.save(directory / SUMMARY_FILE)
    paths = tuple(shard_path(directory, s.index) for s in shards)
    return DatasetResult(directory, summary, paths, done)


class _Report:
    def __init__(self, progress: Progress | None, total: int, done: int) -> None:
        self.progress, self.total, self.done = progress, total, done
        if progress is not None:
            progress(done, total)

    def __call__(self, examples: int) -> None:
        self.done += examples
        if self.progress is not None:
            self.progress(self.done, self.total)


def merge_shards(
    directory: Path, shards: Sequence[Shard], metadata: dict[str, Any]
) -> DatasetSummary:
    """The fold, in shard order, of every shard's summary read from its file; every shard
    must be there once."""
    return ShardFold(directory, shards, metadata).result()
