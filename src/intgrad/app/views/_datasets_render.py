"""What the datasets view shows, computed once in a job's thread: a summary's global view
(counts, top features, the global plots) and a drift report (its verdict, the library's page).

Every number comes from the library's own objects (:class:`intgrad.datasets.DatasetSummary`,
:class:`intgrad.datasets.DriftReport`); the pictures are the ``intgrad.viz`` displays that
``intgrad tabular explain`` and ``intgrad dataset`` save next to a summary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intgrad.app.pages import data_uri, esc, options, standalone
from intgrad.datasets import DatasetSummary, DriftReport, FeatureSummary

__all__ = [
    "CONFIDENCE",
    "QUANTILES",
    "DriftResult",
    "FeatureRow",
    "SummaryResult",
    "auto_min_count",
    "feature_rows",
    "global_pictures",
    "group_choices",
    "row_pictures",
    "summary_view",
]

#: The attribution quantiles shown per feature (from each feature's sketch).
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
#: The confidence level of the signed mean's interval.
CONFIDENCE = 0.95
#: The most features drawn in one importance plot (the table may list more).
_PLOT_TOP = 30
_COHORT_TOP = 10
#: The most features of a beeswarm (as ``intgrad tabular explain`` draws it).
_BEESWARM_TOP = 15
_METADATA_KEYS = ("task", "model", "baseline", "steps", "method", "target", "feature_kind")


def _finite(value: float) -> float | None:
    """``value`` as a JSON number, or None for NaN and infinities (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _shown(value: float) -> str:
    """A number as the table shows it: four significant digits, a dash for NaN."""
    return "—" if math.isnan(value) else f"{value:.4g}"


def _cell(testid: str, value: float) -> str:
    return f'<td data-testid="{testid}" data-value="{float(value)!r}">{esc(_shown(value))}</td>'


@dataclass(frozen=True)
class FeatureRow:
    """One feature of the table: its statistics as the summary holds them.

    Attributes:
        name: the feature (a column, a token, an image cell).
        count: its observations (examples, or token occurrences).
        mean_abs, mean: the mean of ``|a|`` and the signed mean attribution.
        standard_error: the standard error of the signed mean (NaN under two observations).
        ci_low, ci_high: the :data:`CONFIDENCE` normal interval of the signed mean.
        quantiles: the attribution quantiles :data:`QUANTILES`, from the feature's sketch.
    """

    name: str
    count: int
    mean_abs: float
    mean: float
    standard_error: float
    ci_low: float
    ci_high: float
    quantiles: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": self.count,
            "mean_abs": _finite(self.mean_abs),
            "mean": _finite(self.mean),
            "standard_error": _finite(self.standard_error),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "quantiles": {
                repr(q): _finite(v) for q, v in zip(QUANTILES, self.quantiles, strict=True)
            },
        }

    def html(self) -> str:
        cells = [
            f'<td class="name">{esc(self.name)}</td>',
            f'<td data-testid="count" data-value="{self.count}">{self.count:,}</td>',
            _cell("mean-abs", self.mean_abs),
            _cell("mean", self.mean),
            _cell("standard-error", self.standard_error),
            *(_cell(f"q{q:g}", v) for q, v in zip(QUANTILES, self.quantiles, strict=True)),
        ]
        return (
            f'<tr data-testid="feature-row" data-feature="{esc(self.name)}" '
            f'data-value="{self.mean_abs!r}">{"".join(cells)}</tr>'
        )


def auto_min_count(summary: DatasetSummary, features: FeatureSummary) -> int:
    """The fewest observations a ranked feature needs by default: tokens seen 5 times or
    more when the dataset has any (as ``intgrad dataset`` plots them), else 1."""
    frequent = features.count.size and int(features.count.max()) >= 5
    return 5 if summary.metadata.get("feature_kind") == "tokens" and frequent else 1


def feature_rows(features: FeatureSummary, top: int, min_count: int) -> list[FeatureRow]:
    """The ``top`` features by mean ``|a|`` (the library's ranking) observed ``min_count``
    times or more, with their statistics."""
    low, high = features.confidence_interval(CONFIDENCE)
    error = features.standard_error
    kept = [n for n in features.ranking() if features.count[features.index(n)] >= min_count]
    rows = []
    for name in kept[:top]:
        i = features.index(name)
        sketch = features.sketches[i]
        rows.append(
            FeatureRow(
                name=name,
                count=int(features.count[i]),
                mean_abs=float(features.mean_abs[i]),
                mean=float(features.mean[i]),
                standard_error=float(error[i]),
                ci_low=float(low[i]),
                ci_high=float(high[i]),
                quantiles=tuple(float(sketch.quantile(q)) for q in QUANTILES),
            )
        )
    return rows


def group_choices(summary: DatasetSummary) -> list[tuple[str, str]]:
    """(value, label) of every group a summary can be shown for: all, cohorts, classes."""
    choices = [("", "all examples")]
    choices += [(f"cohort:{name}", f"cohort {name}") for name in summary.cohorts]
    choices += [(f"class:{label}", f"predicted {label}") for label in summary.classes]
    return choices


def _picture(display: Callable[[], Any]) -> bytes:
    from intgrad.viz import figure_bytes

    return figure_bytes(display().plot().figure_)


def global_pictures(
    summary: DatasetSummary, group: str | None, features: FeatureSummary, min_count: int
) -> tuple[dict[str, bytes], list[str]]:
    """The global plots of a summary (or of one of its groups) as PNG files by name, and a
    one-line note for each plot that the summary cannot give (e.g. one with no cohorts).

    Args:
        summary: the whole summary.
        group: ``None``, ``"cohort:NAME"`` or ``"class:LABEL"``: what ``features`` is.
        features: the feature summary shown (the whole summary's or the group's).
        min_count: the fewest occurrences of a token drawn (text summaries).
    """
    from intgrad.viz import (
        ClassMapsDisplay,
        CohortDisplay,
        ImportanceDisplay,
        TokenImportanceDisplay,
    )

    kind = summary.metadata.get("feature_kind")
    kind_of, _, name = (group or "").partition(":")
    wanted: dict[str, Callable[[], Any]] = {}
    if kind == "cells":
        classes = [name] if kind_of == "class" else None
        wanted["class-maps.png"] = lambda: ClassMapsDisplay.from_summary(summary, classes)
    elif kind == "tokens":
        wanted["importance.png"] = lambda: TokenImportanceDisplay.from_summary(
            features, top=_PLOT_TOP, min_count=max(min_count, 1)
        )
    else:
        wanted["importance.png"] = lambda: ImportanceDisplay.from_summary(features, _PLOT_TOP)
    if summary.cohorts and kind != "cells":
        cohorts = [name] if kind_of == "cohort" else None
        wanted["cohorts.png"] = lambda: CohortDisplay.from_summary(summary, cohorts, _COHORT_TOP)
    pictures, notes = {}, []
    for file, display in wanted.items():
        try:
            pictures[file] = _picture(display)
        except ValueError as error:
            notes.append(f"{file.removesuffix('.png')}: {error}")
    return pictures, notes


def _row_frames(folder: Path) -> tuple[Any, Any] | str:
    """The per-row attributions and values of the dataset job in ``folder`` (its shards), or
    why there are none, in one line that never names the server's path."""
    from intgrad.datasets import DatasetResult

    try:
        result = DatasetResult.open(folder)
        if not result.shards:
            return "the job folder keeps no per-row attributions (no shards next to the summary)"
        return result.attributions(), result.values()
    except ImportError as error:
        return f"reading the per-row attributions needs {error.name or 'pyarrow'}"
    except (OSError, ValueError, KeyError) as error:
        return f"the per-row attributions could not be read ({type(error).__name__})"


def row_pictures(
    folder: Path | None, summary: DatasetSummary, check: Callable[[], None]
) -> tuple[dict[str, bytes], list[str]]:
    """The plots of every example's attributions that a table job's folder allows: the
    beeswarm of the top features and the dependence plot of the top one, as PNG files by
    name (``intgrad tabular explain`` saves the same two), and a note for each one missing.

    Args:
        folder: the server-side job folder the summary was read from; None for an upload
            (a ``summary.json`` alone holds no per-row attributions).
        summary: the summary read from it (its ranking picks the dependence plot's feature).
        check: called after the rows are read; raises when the job is cancelled.
    """
    from intgrad.viz import BeeswarmDisplay, DependenceDisplay

    if folder is None:
        why = "an uploaded summary holds no per-row attributions (open a server-side job)"
        return {}, [f"beeswarm, dependence: {why}"]
    frames = _row_frames(folder)
    if isinstance(frames, str):
        return {}, [f"beeswarm, dependence: {frames}"]
    check()
    attributions, values = frames
    top = summary.features.ranking()[0]
    wanted: dict[str, Callable[[], Any]] = {
        "beeswarm.png": lambda: BeeswarmDisplay.from_frames(attributions, values, _BEESWARM_TOP),
        "dependence.png": lambda: DependenceDisplay.from_frames(attributions, values, top),
    }
    pictures, notes = {}, []
    for file, display in wanted.items():
        try:
            pictures[file] = _picture(display)
        except ValueError as error:
            notes.append(f"{file.removesuffix('.png')}: {error}")
    return pictures, notes


_CAPTIONS = {
    "importance.png": "Mean |a| (grey) and the signed mean with its 95% interval, per feature.",
    "beeswarm.png": "Every example's attribution to the top features, coloured by the "
    "feature's value (at most 2,000 examples).",
    "dependence.png": "The top feature's attribution against its value, coloured by the "
    "feature that goes with it most.",
    "cohorts.png": "Mean |a| of the top features in each cohort, next to all examples.",
    "class-maps.png": "The mean attribution map of each predicted class.",
}


def _metadata_rows(metadata: Mapping[str, Any]) -> str:
    rows = []
    for key in _METADATA_KEYS:
        if metadata.get(key) is None:
            continue
        value = metadata[key]
        text = value if isinstance(value, str) else json.dumps(value)
        text = text if len(text) <= 200 else text[:197] + "..."
        rows.append(f"<tr><td>{esc(key)}</td><td>{esc(text)}</td></tr>")
    return "".join(rows)


def _card(testid: str, label: str, value: float | int, shown: str) -> str:
    return (
        f'<div class="card"><div class="note">{esc(label)}</div>'
        f'<div data-testid="{testid}" data-value="{value!r}" style="font-size:1.4rem">'
        f"{esc(shown)}</div></div>"
    )


@dataclass
class SummaryResult:
    """The global view of one summary (or of one of its cohorts or classes).

    Attributes:
        title: the job's title.
        label: the summary's name as the page lists it.
        choice: what the client sends to open it again (its name, or ``upload:TOKEN``).
        group: the group shown (None: all examples).
        summary: the whole summary.
        rows: the features of the table.
        top, min_count: the table's settings (for the group form).
        picture_files: PNG files by name.
        notes: the plots the summary could not give, one line each.
    """

    title: str
    label: str
    choice: str
    group: str | None
    summary: DatasetSummary
    rows: list[FeatureRow]
    top: int
    min_count: int
    picture_files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def _outputs(self) -> dict[str, dict[str, float | None]]:
        outputs = self.summary.outputs
        return {
            name: {"mean": _finite(outputs.mean[i]), "mean_abs": _finite(outputs.mean_abs[i])}
            for i, name in enumerate(outputs.names)
        }

    def _cards(self) -> str:
        summary = self.summary
        delta = summary.mean_abs_delta()
        cards = [
            _card("examples", "examples", summary.examples, f"{summary.examples:,}"),
            _card("explained", "explained", summary.explained, f"{summary.explained:,}"),
            _card("failed", "failed", summary.failed, f"{summary.failed:,}"),
            _card("mean-abs-delta", "mean |completeness gap|", delta, _shown(delta)),
        ]
        return f'<div class="grid">{"".join(cards)}</div>'

    def _group_form(self) -> str:
        choices = group_choices(self.summary)
        if len(choices) == 1:
            return ""
        return (
            '<form class="controls card" method="post" action="/datasets/open">'
            f'<input type="hidden" name="summary" value="{esc(self.choice)}">'
            '<label>Show<select name="group" data-testid="group-choice">'
            f"{options(choices, self.group or '')}</select></label>"
            f'<label>Features listed<input name="top" value="{self.top}" size="4"></label>'
            '<button type="submit" data-testid="show-group">Show</button></form>'
        )

    def _table(self) -> str:
        if not self.rows:
            return '<p class="note" data-testid="no-features">No feature has an observation.</p>'
        heads = ["feature", "count", "mean |a|", "mean a", "std. error"]
        heads += [f"q{q:g}" for q in QUANTILES]
        header = "".join(f"<th>{esc(h)}</th>" for h in heads)
        body = "".join(row.html() for row in self.rows)
        return (
            f'<table class="numbers" data-testid="feature-table"><thead><tr>{header}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )

    def _figures(self, source: Callable[[str], str]) -> str:
        figures = "".join(
            f'<figure class="card"><img class="picture" data-testid="picture-{esc(name[:-4])}" '
            f'alt="{esc(name)}" src="{source(name)}"><figcaption>'
            f"{esc(_CAPTIONS.get(name, name))}</figcaption></figure>"
            for name in self.picture_files
        )
        notes = "".join(f'<p class="note">{esc(note)}</p>' for note in self.notes)
        return f'<div class="pair">{figures}</div>{notes}'

    def _body(self, source: Callable[[str], str], form: bool) -> str:
        group = self.group or "all examples"
        shown = "" if self.min_count <= 1 else f"; seen at least {self.min_count} times"
        return (
            f'<p class="note">Summary <strong data-testid="summary-name">{esc(self.label)}'
            f'</strong> · shown: <span data-testid="group">{esc(group)}</span></p>'
            f"{self._cards()}{self._group_form() if form else ''}"
            f'<div class="card"><h2>Top features by mean |a|{esc(shown)}</h2>{self._table()}'
            f"</div>{self._figures(source)}"
            f'<div class="card"><h2>Produced by</h2><table class="numbers">'
            f"{_metadata_rows(self.summary.metadata)}</table></div>"
        )

    def html(self, job_id: str) -> str:
        return self._body(lambda name: f"/jobs/{esc(job_id)}/pictures/{esc(name)}", form=True)

    def export_html(self) -> str:
        body = self._body(lambda name: data_uri(self.picture_files[name]), form=False)
        return standalone(self.title, f"<h1>{esc(self.title)}</h1>{body}")

    def export_json(self) -> dict[str, Any]:
        summary = self.summary
        return {
            "summary": self.label,
            "group": self.group,
            "examples": summary.examples,
            "explained": summary.explained,
            "failed": summary.failed,
            "mean_abs_delta": _finite(summary.mean_abs_delta()),
            "outputs": self._outputs(),
            "confidence": CONFIDENCE,
            "min_count": self.min_count,
            "features": [row.to_dict() for row in self.rows],
            "groups": [value for value, _ in group_choices(summary)[1:]],
            "metadata": json.loads(json.dumps(summary.metadata, default=str)),
            "pictures": sorted(self.picture_files),
            "notes": list(self.notes),
        }

    def pictures(self) -> dict[str, bytes]:
        return dict(self.picture_files)


def _verdict(report: DriftReport, labels: Sequence[str]) -> str:
    flagged = report.flagged
    if report.ok:
        headline = f"No drift: no threshold breached in {len(report.rows)} features"
    else:
        headline = f"Drift: {len(flagged)} of {len(report.rows)} features flagged"
        headline += "; the ranking changed" if report.ndcg_breached else ""
    by_name = {row.name: row for row in report.rows}
    items = "".join(
        f'<li data-testid="flagged-feature" data-feature="{esc(name)}">{esc(name)} '
        f'<span class="note">({esc(", ".join(by_name[name].flags))})</span></li>'
        for name in flagged
    )
    breaches = "".join(f"<li>{esc(line)}</li>" for line in report.breaches)
    ndcg = "—" if math.isnan(report.ndcg) else f"{report.ndcg:.4f}"
    return (
        f'<div class="card" data-testid="drift-verdict" data-verdict="'
        f'{"ok" if report.ok else "breached"}" data-ok="{str(report.ok).lower()}" '
        f'data-ndcg="{report.ndcg!r}">'
        f'<h2 class="{"good" if report.ok else "bad"}">{esc(headline)}</h2>'
        f'<p class="note">reference {esc(labels[0])} → current {esc(labels[1])}'
        f"{' · group ' + esc(report.group) if report.group else ''} · nDCG {esc(ndcg)} "
        f"(threshold {report.thresholds.ndcg:g}) · JS threshold {report.thresholds.js:g}</p>"
        + (f"<h3>Flagged features</h3><ul>{items}</ul>" if items else "")
        + (f"<h3>Breaches</h3><ul>{breaches}</ul>" if breaches else "")
        + "</div>"
    )


@dataclass
class DriftResult:
    """A drift report between two summaries: the verdict, and the library's HTML page.

    Attributes:
        title: the job's title.
        labels: the reference's and the current summary's names.
        report: the library's report.
    """

    title: str
    labels: tuple[str, str]
    report: DriftReport
    page: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.page = self.page or self.report.to_html()
        self.numbers = self.numbers or self.report.to_dict()

    def html(self, job_id: str) -> str:
        return (
            f"{_verdict(self.report, self.labels)}"
            '<iframe title="Drift report" data-testid="drift-report" sandbox="" '
            f'srcdoc="{esc(self.page)}" style="width:100%;height:80vh;border:1px solid '
            'var(--line);border-radius:8px;background:#fff"></iframe>'
        )

    def export_html(self) -> str:
        return self.page

    def export_json(self) -> dict[str, Any]:
        return dict(self.numbers)

    def pictures(self) -> dict[str, bytes]:
        return {}


def summary_view(
    title: str,
    label: str,
    choice: str,
    summary: DatasetSummary,
    group: str | None,
    top: int,
    min_count: int | None,
    check: Callable[[], None],
    folder: Path | None = None,
) -> SummaryResult:
    """Compute the global view of ``summary`` (or of ``group``): the table and the plots.

    Args:
        title, label, choice: as :class:`SummaryResult`'s.
        summary: the summary read.
        group: None, ``"cohort:NAME"`` or ``"class:LABEL"``.
        top: how many features the table lists.
        min_count: the fewest observations a listed feature needs; None: :func:`auto_min_count`.
        check: called between stages; raises when the job is cancelled.
        folder: the server-side job folder of the summary (None for an upload); a table
            job's per-row attributions there add the beeswarm and dependence plots of all
            examples (see :func:`row_pictures`).
    """
    from intgrad.datasets import select_group

    features = select_group(summary, group)
    least = auto_min_count(summary, features) if min_count is None else min_count
    rows = feature_rows(features, top, least)
    check()
    pictures, notes = global_pictures(summary, group, features, least)
    if summary.metadata.get("feature_kind") == "columns" and summary.explained:
        if group is None:
            per_row, row_notes = row_pictures(folder, summary, check)
            pictures.update(per_row)
            notes += row_notes
        else:
            notes.append("beeswarm, dependence: drawn for all examples only")
    return SummaryResult(title, label, choice, group, summary, rows, top, least, pictures, notes)
