"""Dataset jobs on the embedded Adult MLP: batching, Ray scale-out, memory flat in dataset size.

Every figure is a ratio measured in this one run, torch pinned to one thread per process (the
local engine, each Ray actor, the memory probes), 32 Gauss–Legendre steps, the median baseline.
Writes ``docs/benchmarks-datasets.md``.

    .venv/bin/python benchmarks/bench_datasets.py            # about 5 min on 2 cores
    .venv/bin/python benchmarks/bench_datasets.py --quick    # smaller datasets

Measures:
1. Rows per second of ``explain_dataset`` (local engine, shards of 1,024 rows) against a plain
   loop of per-row :func:`intgrad.integrated_gradients` calls on the encoded rows (goal ≥ 20×).
2. The Ray engine with 2 actors against 1 on the same job, each run starting its own local
   cluster (start-up included, and reported apart; goal ≥ 1.6×).
3. Peak resident memory of a job over a CSV of 100,000 rows against one of 10,000 rows, each in
   a fresh process, from after the model is trained to the end of the job (Linux; goal:
   within 10 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import numpy as np
import torch

import intgrad
from intgrad.datasets import CsvSource, TabularTask, explain_dataset
from intgrad.tabular import TabularExplainer, load_adult, load_tabular_model, resolve_baseline

STEPS = 32
RAY_ROWS, RAY_SHARD_ROWS = 1_000_000, 8192
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks-datasets.md"


def _rows(count: int, seed: int = 0) -> Any:
    frame = load_adult("train")
    chosen = np.random.default_rng(seed).choice(len(frame), size=count, replace=count > len(frame))
    return frame.iloc[chosen].reset_index(drop=True)


class _Whole(torch.nn.Module):
    """The model behind a wrapper, so the tabular explainer cannot split its first layer."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.inner(rows)


def _job_seconds(frame: Any, task: TabularTask) -> float:
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        explain_dataset(frame, task, directory, shard_size=1024)
        return time.perf_counter() - started


def batching(rows: int, loop_rows: int) -> dict[str, float]:
    """Rows/s of the local engine against a loop of per-row calls.

    Also the job on the same model behind a wrapper (:class:`_Whole`): every path point
    through the whole model, the rate of batching alone, without the first layer's split.
    """
    model = load_tabular_model()
    frame = _rows(rows)
    task = TabularTask(model, steps=STEPS)
    job_seconds = _job_seconds(frame, task)
    whole = dataclasses.replace(model, module=_Whole(model.module))
    whole_seconds = _job_seconds(frame, TabularTask(whole, steps=STEPS))
    # The loop gets everything precomputed: encoded rows, the baseline row, the targets.
    encoded = torch.from_numpy(model.schema.encode(frame.head(loop_rows)))
    median = resolve_baseline("median", model.schema, TabularExplainer(model).background(), 0)
    start = torch.from_numpy(np.asarray(median.references[:1], np.float32))
    with torch.no_grad():
        targets = model.module(encoded).argmax(1).tolist()
    started = time.perf_counter()
    for i in range(loop_rows):
        intgrad.integrated_gradients(
            model.module,
            encoded[i : i + 1],
            baselines=start,
            target=targets[i],
            steps=STEPS,
            output="probability",
        )
    loop_seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "job_rows_per_second": rows / job_seconds,
        "whole_model_job_rows_per_second": rows / whole_seconds,
        "loop_rows": loop_rows,
        "loop_rows_per_second": loop_rows / loop_seconds,
        "speedup": (rows / job_seconds) / (loop_rows / loop_seconds),
        "speedup_whole_model": (rows / whole_seconds) / (loop_rows / loop_seconds),
    }


def ray_scaling(rows: int, shard_size: int) -> dict[str, float]:
    """The same job on 1 and on 2 Ray actors over one CSV file, each with its own cluster.

    The rows are a CSV file that every actor reads its shards from (what a large dataset
    is: a file, not a frame the driver ships to every actor).
    """
    task = TabularTask(load_tabular_model(), steps=STEPS)
    out: dict[str, float] = {"rows": rows, "shard_size": shard_size}
    with tempfile.TemporaryDirectory() as data:
        path = Path(data) / "rows.csv"
        _rows(rows, seed=1).to_csv(path, index=False)
        source = CsvSource(path)
        for workers in (1, 2):
            import ray

            from intgrad.datasets.ray_engine import local_cluster_options

            started = time.perf_counter()
            ray.init(**local_cluster_options(workers))
            up = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as directory:
                job_started = time.perf_counter()
                explain_dataset(
                    source, task, directory, shard_size=shard_size, engine="ray", workers=workers
                )
                job = time.perf_counter() - job_started
                out[f"running_rows_per_second_{workers}"] = _running_rate(Path(directory))
            ray.shutdown()
            out[f"startup_seconds_{workers}"] = up
            out[f"job_seconds_{workers}"] = job
    out["speedup_job"] = out["job_seconds_1"] / out["job_seconds_2"]
    out["speedup_running"] = out["running_rows_per_second_2"] / out["running_rows_per_second_1"]
    out["speedup_with_startup"] = (out["job_seconds_1"] + out["startup_seconds_1"]) / (
        out["job_seconds_2"] + out["startup_seconds_2"]
    )
    return out


def _running_rate(directory: Path) -> float:
    """Rows per second once the pool runs: the rows of every shard file but the first written,
    over the time from the first file to the last (the files' modification times)."""
    import pyarrow.parquet as pq

    files = sorted(
        (path.stat().st_mtime, pq.ParquetFile(path).metadata.num_rows)
        for path in (directory / "shards").glob("part-*.parquet")
    )
    return sum(rows for _, rows in files[1:]) / (files[-1][0] - files[0][0])


# The model is trained before the job; the peak resident set is reset after it (Linux's
# clear_refs "5"), so the figure is the job's own peak, not the training's.
_PROBE = """
import re, sys, tempfile
from intgrad.datasets import CsvSource, TabularTask, explain_dataset
from intgrad.tabular import load_tabular_model
task = TabularTask(load_tabular_model(), steps={steps})
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
source = CsvSource(sys.argv[1])
with tempfile.TemporaryDirectory() as directory:
    explain_dataset(source, task, directory, shard_size=1024)
with open("/proc/self/status") as status:
    print(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
"""


def memory(small: int, large: int) -> dict[str, float]:
    """Peak RSS (KiB) of a job over CSVs of ``small`` and ``large`` rows, fresh processes."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        for rows in (small, large):
            path = Path(directory) / f"rows-{rows}.csv"
            _rows(rows, seed=2).to_csv(path, index=False)
            probe = subprocess.run(
                [sys.executable, "-c", _PROBE.format(steps=STEPS), str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            out[f"peak_kib_{rows}"] = float(probe.stdout.strip().splitlines()[-1])
    out["ratio"] = out[f"peak_kib_{large}"] / out[f"peak_kib_{small}"]
    return out


def _report(results: dict[str, Any]) -> str:
    b, r, m = results["batching"], results["ray"], results["memory"]
    small, large = results["memory_rows"]
    rates = f"{b['job_rows_per_second']:,.0f} vs {b['loop_rows_per_second']:,.0f} rows/s"
    jobs = f"{r['job_seconds_1']:.1f} s vs {r['job_seconds_2']:.1f} s on {r['rows']:,} rows"
    whole = f"{b['whole_model_job_rows_per_second']:,.0f} rows/s"
    running = (
        f"{r['running_rows_per_second_2']:,.0f} vs {r['running_rows_per_second_1']:,.0f} rows/s"
    )
    ups = f"start-up {r['startup_seconds_1']:.1f} s / {r['startup_seconds_2']:.1f} s"
    peaks = f"{m[f'peak_kib_{large}'] / 1024:.0f} vs {m[f'peak_kib_{small}'] / 1024:.0f} MiB"
    table = "\n".join(
        [
            "| measure | result | goal |",
            "|---|---|---|",
            f"| local engine vs a loop of per-row `integrated_gradients` "
            f"| **{b['speedup']:.1f}×** ({rates}) | ≥ 20× |",
            f"| … the whole model at every path point (batching alone) "
            f"| {b['speedup_whole_model']:.1f}× ({whole}) | |",
            f"| Ray, 2 actors vs 1 (job time) | **{r['speedup_job']:.2f}×** ({jobs}) | ≥ 1.6× |",
            f"| Ray, 2 actors vs 1, once the pool runs (first to last shard file) "
            f"| {r['speedup_running']:.2f}× ({running}) | |",
            f"| Ray, 2 actors vs 1, cluster start-up included "
            f"| {r['speedup_with_startup']:.2f}× ({ups}) | |",
            f"| peak memory, {large:,} vs {small:,} CSV rows | **{m['ratio']:.3f}** ({peaks}) "
            "| within 10 % |",
        ]
    )
    return f"""# Dataset jobs: benchmarks

Produced by `.venv/bin/python benchmarks/bench_datasets.py` on {results["machine"]}
(torch {torch.__version__}, one torch thread per process). The embedded Adult MLP
(one-hot, 2 × 64 hidden), {STEPS} Gauss–Legendre steps, the median baseline; ratios from one run.

{table}

The local engine's job time includes reading the rows, the schema's checks, the forward pass
for predictions, writing every shard's Parquet file and its summary; the loop includes none of
those (encoded rows, baseline and targets are computed before it is timed). Each shard's file is
written by a second thread while the next shard is explained. The job explains
{b["rows"]:,} rows, the loop {b["loop_rows"]:,} (its rate is per row). Two things make the job
fast: batching (every chunk holds the path points of many rows: the "whole model" row) and,
for a plain `nn.Sequential` that starts with `nn.Linear` like this MLP, the explainer's split of
that first layer (`intgrad.tabular._frameworks.AffineHead`: the same integral, with the layer's
products once per row instead of once per path point; tests check it against the whole model).

The Ray runs read {r["rows"]:,} rows from one CSV file in shards of {r["shard_size"]:,} rows
(each actor reads its own shards). Each run starts its own local cluster; an actor's start-up
(a worker process importing Ray Data, torch and intgrad, receiving the task) is inside the job
time, which is why the job's speed-up needs a dataset large enough to amortise it. The
"once the pool runs" row leaves start-up out: rows per second from the first shard file
written to the last. On a 2-core machine the two actors share the cores with Ray's own
processes (the driver's executor, the raylet, the object store), so even that figure stays
below 2×.

Raw figures: `{json.dumps(results, default=float)}`
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    quick = args.quick
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "batching": batching(4_000 if quick else 20_000, 100 if quick else 1000),
        "ray": ray_scaling(*((100_000, 4096) if quick else (RAY_ROWS, RAY_SHARD_ROWS))),
        "memory_rows": (10_000, 100_000),
        "memory": memory(10_000, 100_000),
    }
    print(json.dumps(results, indent=2, default=float), flush=True)
    DOCS.write_text(_report(results), encoding="utf-8")
    print(f"wrote {DOCS}")


if __name__ == "__main__":
    main()
