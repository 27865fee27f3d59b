"""The ``intgrad tabular`` and ``intgrad dataset`` commands: explain whole datasets from the shell.

``intgrad tabular explain rows.csv`` explains every row with the embedded Adult MLP (or a saved
tabular model) as a dataset job; ``intgrad tabular adult`` writes the bundled UCI Adult rows
(optionally re-sampled to shift a column) as CSV; ``intgrad dataset`` does the same job for a
directory of images or a file of texts. Each job directory gets the shards, ``summary.json``,
the global plots and (for tables) ``attributions.csv``; the top features are printed.

Input is checked before anything is written: a missing column, a non-numeric value where the
model needs a number, a missing value, an unknown category or an empty file is one line on
stderr and exit code 2 (``--skip-bad-rows`` records bad rows as failures and goes on instead).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intgrad._cli_errors import (
    EXIT_FAILED,
    UsageError,
    positive_int,
    progress_bar,
    report_warning,
)

__all__ = ["add_dataset_commands", "run_dataset", "run_tabular"]

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
_CHECK_ROWS = 20_000
_PLOT_ROWS = 5_000  # points in the beeswarm and dependence plots, sampled across shards


def _job_options(
    parser: argparse.ArgumentParser, steps: Callable[[str], Any], methods: Any
) -> None:
    parser.add_argument("--output-dir", type=Path, required=True, help="the job directory")
    parser.add_argument("--steps", type=steps, default=32, help="steps per example or 'auto'")
    parser.add_argument("--method", choices=methods, help="quadrature rule of a fixed --steps")
    parser.add_argument("--target", help="class name or index to explain (default: predicted)")
    parser.add_argument(
        "--shard-size",
        type=positive_int,
        default=512,
        help="examples per shard (default %(default)s)",
    )
    parser.add_argument(
        "--cohort",
        action="append",
        default=[],
        metavar="COLUMN",
        help="summarise each value of COLUMN separately (repeatable)",
    )
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--workers", type=positive_int, default=2, help="Ray actors (default 2)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="require a job to continue in --output-dir (a matching job is always continued)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="discard a job found in --output-dir"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the global plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def add_dataset_commands(commands: Any, steps: Callable[[str], Any], methods: Any) -> None:
    """Add ``tabular`` (``explain``, ``adult``) and ``dataset`` to ``commands``."""
    tabular = commands.add_parser("tabular", help="explain rows of a table (CSV)")
    actions = tabular.add_subparsers(dest="tabular_command", required=True)
    explain = actions.add_parser("explain", help="explain every row of a CSV file")
    explain.add_argument("data", type=Path, metavar="DATA.csv")
    explain.add_argument(
        "--model", default="adult-mlp", help="adult-mlp (embedded, default) or a saved .npz"
    )
    explain.add_argument(
        "--baseline",
        default="median",
        help="mean, median, zeros or sample:K (K training rows; default %(default)s)",
    )
    explain.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="record rows the model cannot read as failures instead of refusing the file",
    )
    _job_options(explain, steps, methods)
    adult = actions.add_parser("adult", help="write the bundled UCI Adult rows as CSV")
    adult.add_argument("--split", choices=("train", "test"), default="train")
    adult.add_argument("--rows", type=positive_int, help="a seeded random sample of this many rows")
    adult.add_argument(
        "--resample-by",
        metavar="COLUMN",
        help="re-sample rows with weights rising with COLUMN's rank (a shifted cohort)",
    )
    adult.add_argument("--seed", type=int, default=0)
    adult.add_argument("--output", type=Path, required=True, help="the CSV file to write")

    dataset = commands.add_parser("dataset", help="explain a directory of images or a text file")
    dataset.add_argument("data", type=Path, metavar="DATA", help="an image directory or texts")
    dataset.add_argument("--kind", choices=("images", "text"), help="default: from DATA")
    dataset.add_argument("--column", help="the CSV column holding the texts (default 'text')")
    dataset.add_argument("--model", help="the model (default: the embedded one of the kind)")
    dataset.add_argument("--baseline", help="default: black (images), pad (text)")
    dataset.add_argument("--cells", type=positive_int, default=14, help="reduced map side (images)")
    _job_options(dataset, steps, methods)


def _check_job_arguments(args: argparse.Namespace) -> None:
    if args.steps == "auto" and args.method is not None:
        raise UsageError("--method applies to a fixed --steps; omit it with --steps auto")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        raise UsageError(f"--output-dir {str(args.output_dir)!r} exists and is not a directory")
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    if args.resume and not (args.output_dir / "job.json").is_file():
        raise UsageError(f"--resume: no dataset job in {str(args.output_dir)!r} to continue")
    if not args.overwrite and (args.output_dir / "job.json").is_file() and not args.quiet:
        print(f"continuing the job in {args.output_dir}", file=sys.stderr)


def _target(value: str | None) -> object:
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def _run_job(args: argparse.Namespace, data: Any, task: Any) -> Any:
    from intgrad.datasets import explain_dataset

    return explain_dataset(
        data,
        task,
        args.output_dir,
        shard_size=args.shard_size,
        cohorts=list(args.cohort),
        engine=args.engine,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=progress_bar("examples", args.quiet),
    )


def _print_summary(result: Any, quiet: bool) -> None:
    summary = result.summary
    if quiet:
        return
    features = summary.features
    low, high = features.confidence_interval(0.95)
    print(
        f"{summary.explained} of {summary.examples} examples explained "
        f"({summary.failed} failed); mean |completeness gap| {summary.mean_abs_delta():.2e}"
    )
    print(f"{'feature':<28} {'mean |a|':>10} {'mean a':>10} {'95% CI':>22}")
    for name in features.ranking()[:10]:
        i = features.index(name)
        interval = f"[{low[i]:+.4f}, {high[i]:+.4f}]"
        means = f"{features.mean_abs[i]:>10.4f} {features.mean[i]:>+10.4f}"
        print(f"{name[:28]:<28} {means} {interval:>22}")
    print(f"wrote {result.directory}")


def _save_plots(result: Any, kind: str) -> list[Path]:
    from intgrad.viz.dataset import (
        BeeswarmDisplay,
        ClassMapsDisplay,
        CohortDisplay,
        DependenceDisplay,
        ImportanceDisplay,
        TokenImportanceDisplay,
    )

    directory, summary = result.directory, result.summary
    written: list[Path] = []

    def save(display: Any, name: str) -> None:
        path = directory / name
        display.plot().save(path)
        written.append(path)

    if kind == "columns":
        save(ImportanceDisplay.from_summary(summary), "importance.png")
        attributions, values = result.sample(_PLOT_ROWS)  # bounded: a sample across shards
        save(BeeswarmDisplay.from_frames(attributions, values), "beeswarm.png")
        top = summary.features.ranking()[0]
        save(DependenceDisplay.from_frames(attributions, values, top), "dependence.png")
        if summary.cohorts:
            save(CohortDisplay.from_summary(summary), "cohorts.png")
    elif kind == "tokens":
        # Words seen 5 times or more, unless the dataset is too small to have any.
        frequent = 5 if int(summary.features.count.max()) >= 5 else 1
        save(TokenImportanceDisplay.from_summary(summary, min_count=frequent), "tokens.png")
    else:
        save(ClassMapsDisplay.from_summary(summary), "class-maps.png")
    return written


def _finish(args: argparse.Namespace, result: Any, kind: str) -> int:
    if not args.no_plots and result.summary.explained:
        _save_plots(result, kind)
    _print_summary(result, args.quiet)
    if result.summary.failed:
        report_warning(
            f"{result.summary.failed} example(s) failed; their errors are in the shards "
            f"(DatasetResult.failures())"
        )
    return EXIT_FAILED if result.summary.explained == 0 else 0


def _load_tabular_model(spec: str) -> Any:
    from intgrad.tabular import load_tabular_model

    try:
        return load_tabular_model(spec)
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise UsageError(f"--model: {error}") from None


def _check_table(source: Any, model: Any, skip_bad_rows: bool) -> None:
    """Refuse a file the model cannot read before anything is written (a scan in chunks)."""
    columns = list(model.schema.columns)
    missing = [c for c in columns if c not in source.columns]
    if missing:
        raise UsageError(
            f"{str(source.path)!r} lacks column(s) {', '.join(missing)} that model "
            f"{model.name!r} needs"
        )
    if skip_bad_rows:
        return
    for start in range(0, len(source), _CHECK_ROWS):
        batch = source.read(start, min(start + _CHECK_ROWS, len(source)))
        for row, error in zip(batch.ids, model.schema.check_rows(batch.items), strict=True):
            if error is not None:
                raise UsageError(
                    f"{str(source.path)!r} line {int(row) + 2}: {error} "
                    "(--skip-bad-rows records such rows as failures)"
                )


def _write_attributions_csv(result: Any) -> Path:
    from intgrad._io import atomic_writer
    from intgrad.datasets.records import read_shard

    path = result.directory / "attributions.csv"
    with atomic_writer(path) as temp, temp.open("w", encoding="utf-8", newline="") as handle:
        for number, shard in enumerate(result.shards):
            rows = read_shard(shard)
            chosen = ["id", "error", "predicted_label", "f_input", "f_baseline", "delta"]
            chosen += [c for c in rows.columns if c.startswith("a:")]
            rows[chosen].rename(columns=lambda c: c.removeprefix("a:")).to_csv(
                handle, index=False, header=number == 0
            )
    return path


def run_tabular(args: argparse.Namespace) -> int:
    """Run ``intgrad tabular explain`` or ``intgrad tabular adult``."""
    if args.tabular_command == "adult":
        return _run_adult(args)
    from intgrad.datasets import CsvSource, TabularTask

    _check_job_arguments(args)
    if not args.data.is_file():
        raise UsageError(f"no CSV file at {str(args.data)!r}")
    try:
        source = CsvSource(args.data)
    except ValueError as error:
        raise UsageError(str(error)) from None
    model = _load_tabular_model(args.model)
    _check_table(source, model, args.skip_bad_rows)
    task = TabularTask(
        model,
        baseline=args.baseline,
        steps=args.steps,
        method=args.method,
        target=_target(args.target),
    )
    result = _run_job(args, source, task)
    _write_attributions_csv(result)
    return _finish(args, result, "columns")


def _run_adult(args: argparse.Namespace) -> int:
    import numpy as np

    from intgrad._io import atomic_write_text
    from intgrad.tabular import load_adult

    frame = load_adult(args.split)
    generator = np.random.default_rng(args.seed)
    rows = len(frame) if args.rows is None else args.rows
    weights = None
    if args.resample_by is not None:
        if args.resample_by not in frame.columns:
            raise UsageError(f"--resample-by: Adult has no column {args.resample_by!r}")
        rank = frame[args.resample_by].rank(method="average", pct=True).to_numpy()
        weights = rank**3 / (rank**3).sum()
    replace = weights is not None or rows > len(frame)
    chosen = generator.choice(len(frame), size=rows, replace=replace, p=weights)
    if weights is None:
        chosen = np.sort(chosen)
    if args.output.parent and not args.output.parent.is_dir():
        raise UsageError(f"--output: directory {str(args.output.parent)!r} does not exist")
    atomic_write_text(args.output, frame.iloc[chosen].to_csv(index=False))
    print(f"wrote {rows} Adult {args.split} rows to {args.output}", file=sys.stderr)
    return 0


def _texts(path: Path, column: str | None) -> list[str]:
    import csv

    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            name = column or "text"
            if reader.fieldnames is None or name not in reader.fieldnames:
                raise UsageError(f"{str(path)!r} has no column {name!r} (use --column)")
            return [row[name] for row in reader]
    return path.read_text(encoding="utf-8").splitlines()


def _dataset_source(args: argparse.Namespace) -> tuple[str, Any]:
    from intgrad.datasets import SequenceSource

    data: Path = args.data
    if not data.exists():
        raise UsageError(f"no such file or directory: {str(data)!r}")
    kind = args.kind or ("images" if data.is_dir() else "text")
    if kind == "images":
        if not data.is_dir():
            raise UsageError(f"--kind images needs a directory of images, got {str(data)!r}")
        paths = sorted(p for p in data.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not paths:
            raise UsageError(f"no images ({', '.join(_IMAGE_SUFFIXES)}) in {str(data)!r}")
        return kind, SequenceSource([str(p) for p in paths], ids=[p.name for p in paths])
    if data.is_dir():
        raise UsageError(f"--kind text needs a text or CSV file, got the directory {str(data)!r}")
    try:
        texts = _texts(data, args.column)
    except UnicodeDecodeError:
        raise UsageError(f"{str(data)!r} is not UTF-8 text") from None
    if not texts:
        raise UsageError(f"{str(data)!r} holds no texts")
    return kind, SequenceSource(texts, ids=[str(i + 1) for i in range(len(texts))])


def run_dataset(args: argparse.Namespace) -> int:
    """Run ``intgrad dataset``: images or texts as a dataset job."""
    from intgrad.datasets import ImageTask, TextTask

    _check_job_arguments(args)
    kind, source = _dataset_source(args)
    options: dict[str, Any] = {
        "steps": args.steps,
        "method": args.method,
        "target": _target(args.target),
    }
    if args.baseline is not None:
        options["baseline"] = args.baseline
    if kind == "images":
        task: Any = ImageTask(args.model or "efficientnet-lite0", cells=args.cells, **options)
    else:
        task = TextTask(args.model, **options)
    result = _run_job(args, source, task)
    return _finish(args, result, task.kind)
