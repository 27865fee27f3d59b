"""The ``intgrad drift`` command: has what a model relies on drifted between two datasets?

``intgrad drift REFERENCE CURRENT`` compares two dataset summaries (a job directory or its
``summary.json``) with :func:`intgrad.datasets.drift.compare`, prints the features with the
largest Jensen–Shannon divergence and the verdict, and writes the whole report as JSON
(``--json``) and as an HTML page (``--html``). Its exit code is meant for cron and CI:

- 0: no threshold breached;
- 1: a summary could not be read, or the two cannot be compared (corrupt JSON, summaries of
  different tasks or feature kinds, a side with no attributions), or a file could not be written;
- 2: bad arguments (a malformed ``--threshold`` or ``--group``, a path with no summary, a group
  or a ``feature:NAME`` that the summaries lack, an output in a missing directory);
- 3: drift detected: a threshold is breached.

Errors are one line on stderr; nothing is written unless the comparison succeeded, and every
file is written atomically.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from intgrad._cli_errors import EXIT_DRIFT, UsageError, positive_int

__all__ = ["add_drift_command", "run_drift"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NAME_WIDTH = 28


def add_drift_command(commands: Any) -> None:
    """Add ``drift`` to the ``intgrad`` sub-commands (an argparse sub-parsers object)."""
    drift = commands.add_parser(
        "drift",
        help="compare two dataset summaries for attribution drift (exit 3 on drift)",
        description="Compare the attributions of a current dataset summary with a reference: "
        "per-feature Jensen-Shannon divergence and mean |a| change, and the nDCG of the "
        "feature ranking. Exit codes: 0 no drift, 1 failure, 2 bad arguments, 3 drift detected.",
    )
    drift.add_argument(
        "reference",
        type=Path,
        metavar="REFERENCE",
        help="job directory or summary.json of the reference data (e.g. training)",
    )
    drift.add_argument(
        "current",
        type=Path,
        metavar="CURRENT",
        help="job directory or summary.json of the current data (e.g. serving)",
    )
    drift.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="js=0.1 (JS divergence), mean-abs-change=0.5 (relative), ndcg=0.9, "
        "min-count=30 (never flag rarer features, e.g. words), or feature:NAME=0.05 (that "
        "feature's JS threshold); repeatable",
    )
    drift.add_argument(
        "--group", metavar="GROUP", help="compare one group: cohort:NAME or class:LABEL"
    )
    drift.add_argument(
        "--bins", type=positive_int, default=20, help="JS divergence bins (default 20)"
    )
    drift.add_argument(
        "--top-k", type=positive_int, default=None, help="rank positions the nDCG counts"
    )
    drift.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    drift.add_argument("--html", type=Path, metavar="FILE", help="write the report as HTML")
    drift.add_argument(
        "--rows", type=positive_int, default=10, help="features shown on stdout (default 10)"
    )


def _summary_file(path: Path) -> Path:
    from intgrad.datasets.summary import SUMMARY_FILE

    return (path / SUMMARY_FILE if path.is_dir() else path).resolve()


def _check_outputs(args: argparse.Namespace) -> None:
    inputs = {_summary_file(args.reference), _summary_file(args.current)}
    outputs = [("--json", args.json), ("--html", args.html)]
    for option, path in outputs:
        if path is None:
            continue
        if path.is_dir() or not path.resolve().parent.is_dir():
            raise UsageError(f"{option} {str(path)!r}: not a file in an existing directory")
        if path.resolve() in inputs:
            raise UsageError(f"{option} {str(path)!r} would overwrite a compared summary")
    if (
        args.json is not None
        and args.html is not None
        and args.json.resolve() == args.html.resolve()
    ):
        raise UsageError("--json and --html name the same file")


def _arguments(args: argparse.Namespace) -> Any:
    """The thresholds; checks the group's form and the outputs (UsageError on bad ones)."""
    from intgrad.datasets.drift import DriftThresholds, parse_group

    try:
        thresholds = DriftThresholds.parse(args.threshold)
    except ValueError as error:
        raise UsageError(f"--threshold: {error}") from None
    if args.group is not None:
        try:
            parse_group(args.group)
        except ValueError as error:
            raise UsageError(f"--group: {error}") from None
    _check_outputs(args)
    return thresholds


def _compare(args: argparse.Namespace, thresholds: Any) -> Any:
    from intgrad.datasets.drift import compare

    try:
        return compare(
            args.reference,
            args.current,
            thresholds=thresholds,
            bins=args.bins,
            top_k=args.top_k,
            group=args.group,
        )
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    except KeyError as error:
        raise UsageError(str(error.args[0]) if error.args else "unknown name") from None


def _clean(text: str, width: int = _NAME_WIDTH) -> str:
    """A name without control characters, shortened to ``width``."""
    text = _CONTROL.sub("", text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _value(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def _change(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "new" if math.isinf(value) else f"{value:+.1%}"


def _table(report: Any, limit: int) -> list[str]:
    """The first ``limit`` rows (flagged ones first, then by JS) as aligned text lines."""
    rows = sorted(report.rows, key=lambda row: not row.flagged)[:limit]
    header = f"{'feature':<{_NAME_WIDTH}}  {'JS':>7}  {'mean |a| ref':>12} -> {'cur':<10}"
    lines = [f"{header}  {'change':>8}  flags"]
    for row in rows:
        ref, cur = f"{row.mean_abs_reference:.4g}", f"{row.mean_abs_current:.4g}"
        lines.append(
            f"{_clean(row.name):<{_NAME_WIDTH}}  {_value(row.js, '.4f'):>7}  {ref:>12} -> "
            f"{cur:<10}  {_change(row.mean_abs_change):>8}  {', '.join(row.flags)}".rstrip()
        )
    if len(report.rows) > len(rows):
        lines.append(f"({len(rows)} of {len(report.rows)} features shown)")
    return lines


def _verdict(report: Any) -> list[str]:
    limits = report.thresholds
    within = f"top {report.top_k}" if report.top_k else "all features"
    lines = [f"nDCG {_value(report.ndcg, '.4f')} (threshold {limits.ndcg:g}, {within})"]
    if report.ok:
        lines.append(f"OK: no drift in {len(report.rows)} features")
        return lines
    flagged = len(report.flagged)
    lines.append(
        f"DRIFT: {flagged} of {len(report.rows)} features flagged"
        + ("; the ranking changed" if report.ndcg_breached else "")
    )
    breaches = report.breaches
    lines.extend(f"  {_CONTROL.sub('', line)}" for line in breaches[:10])
    if len(breaches) > 10:
        lines.append(f"  ... and {len(breaches) - 10} more")
    return lines


def _write(report: Any, args: argparse.Namespace) -> list[str]:
    written = []
    if args.json is not None:
        report.save_json(args.json)
        written.append(f"wrote {args.json}")
    if args.html is not None:
        report.save_html(args.html)
        written.append(f"wrote {args.html}")
    return written


def run_drift(args: argparse.Namespace) -> int:
    """Run ``intgrad drift``; returns 0 (no drift), 3 (drift); raises on errors."""
    thresholds = _arguments(args)
    report = _compare(args, thresholds)
    written = _write(report, args)
    where = f" [{args.group}]" if args.group else ""
    print(f"attribution drift{where}: {args.reference} -> {args.current}")
    print("\n".join([*_table(report, args.rows), *_verdict(report), *written]))
    return 0 if report.ok else EXIT_DRIFT
