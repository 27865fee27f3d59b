"""Attribution drift and skew: compare two dataset summaries feature by feature.

A reference summary (training data, last month) and a current one (serving data, today) are
compared on what the model *relies on*, not on the inputs. Per feature (the union of both
summaries' names):

- ``js``: the Jensen–Shannon divergence (base 2, in [0, 1]; Lin 1991) of the two attribution
  distributions, binned at the quantiles of both summaries' sketches pooled (equal-mass bins
  of reference and current together, so a point mass that moves still changes bins) — the
  distance production monitors put on a feature's distribution (Vertex AI Model Monitoring
  uses it for numeric features);
- ``mean_abs_change``: the relative change of mean ``|a|``, ``(cur − ref) / ref``. At
  ``ref = 0`` it is 0 when ``cur = 0`` too and ``+inf`` otherwise (a feature that never
  mattered and now does breaches any threshold); JSON has no infinity, so ``to_dict`` writes
  it as ``null`` beside ``mean_abs_reference = 0``;
- ``mean_shift_z``: the change of the signed mean in units of the standard error of the
  difference of two means, ``(m_cur − m_ref) / sqrt(s²_ref / n_ref + s²_cur / n_cur)`` (Welch:
  the two variances are not assumed equal). Shown, not thresholded: with thousands of
  examples a shift too small to matter is still many standard errors away;
- each side's rank by mean ``|a|`` (1 = most important).

Over all features, the nDCG of the current ranking against the reference (SageMaker Clarify's
feature attribution drift metric, which alerts below 0.9); see :func:`ndcg`.

A feature is *flagged* when its JS divergence exceeds its threshold (:class:`DriftThresholds`:
one for all features, or its own), when ``|mean_abs_change|`` exceeds the relative threshold,
or when one side lacks it (no observations): a column dropped from the data, or a token seen
only in one of the two. The report is *ok* when nothing is flagged and the nDCG is not below its
threshold.

References:
    Lin 1991, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1).
    Järvelin & Kekäläinen 2002, "Cumulated gain-based evaluation of IR techniques", ACM TOIS.
    Amazon SageMaker Clarify, "Feature attribution drift for models in production" (developer
    guide: clarify-model-monitor-feature-attribution-drift).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from intgrad._io import atomic_write_text
from intgrad.datasets.sketch import jensen_shannon
from intgrad.datasets.summary import SUMMARY_FILE, DatasetSummary, FeatureSummary

__all__ = [
    "DRIFT_FORMAT",
    "FLAGS",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "SummarySide",
    "compare",
    "load_summary",
    "ndcg",
    "parse_group",
    "select_group",
]

DRIFT_FORMAT = "intgrad-drift-report/1"

FLAG_JS = "js"
FLAG_MEAN_ABS = "mean-abs-change"
FLAG_ABSENT = "absent-from-current"
FLAG_NEW = "new-in-current"
FLAGS = (FLAG_JS, FLAG_MEAN_ABS, FLAG_ABSENT, FLAG_NEW)
"""Why a feature can be flagged: the codes in :attr:`FeatureDrift.flags`."""

# Metadata that must agree (where both summaries have it) for a comparison to mean anything.
_SAME_KIND_KEYS = ("task", "feature_kind", "map_shape")
_GROUP_KINDS = ("cohort", "class")
_THRESHOLD_KEYS = {
    "js": "js",
    "mean-abs-change": "mean_abs_change",
    "ndcg": "ndcg",
    "min-count": "min_count",
}


# --- thresholds ------------------------------------------------------------------------------


def _checked_threshold(key: str, value: float) -> float:
    value = float(value)
    if key == "min_count":
        if not (value >= 0 and float(value).is_integer()):
            raise ValueError(f"the min-count threshold must be a whole number >= 0, got {value!r}")
    elif key == "mean_abs_change":
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"the mean-abs-change threshold must be >= 0, got {value!r}")
    elif not 0.0 <= value <= 1.0:
        raise ValueError(f"the {key} threshold must be in [0, 1], got {value!r}")
    return value


@dataclass(frozen=True)
class DriftThresholds:
    """When a comparison counts as drift.

    Attributes:
        js: a feature is flagged when its JS divergence exceeds this (in [0, 1]).
        mean_abs_change: ... or when ``|(cur − ref) / ref|`` of its mean ``|a|`` exceeds this
            (relative: 0.5 flags a feature whose mean ``|a|`` fell below half or rose above
            1.5 times the reference's).
        ndcg: the report breaches when the nDCG of the ranking is below this (Clarify: 0.9).
        per_feature: feature name → its own JS threshold, instead of ``js``.
        min_count: a feature observed fewer times than this (on the side that has fewer) is
            reported but never flagged — rare words of a text dataset would otherwise drift by
            sampling noise alone (default 0: every feature can be flagged).
    """

    js: float = 0.1
    mean_abs_change: float = 0.5
    ndcg: float = 0.9
    per_feature: Mapping[str, float] = field(default_factory=dict, hash=False)
    min_count: float = 0

    def __post_init__(self) -> None:
        for key in ("js", "mean_abs_change", "ndcg", "min_count"):
            object.__setattr__(self, key, _checked_threshold(key, getattr(self, key)))
        own = {str(k): _checked_threshold(f"feature:{k}", v) for k, v in self.per_feature.items()}
        object.__setattr__(self, "per_feature", own)

    def js_for(self, name: str) -> float:
        """The JS threshold of feature ``name``: its own, or the common one."""
        return self.per_feature.get(name, self.js)

    @classmethod
    def parse(cls, specs: Iterable[str], base: DriftThresholds | None = None) -> DriftThresholds:
        """Thresholds from ``KEY=VALUE`` strings, over ``base`` (default: the defaults).

        ``KEY`` is ``js``, ``mean-abs-change``, ``ndcg`` or ``feature:NAME`` (a per-feature JS
        threshold; ``NAME`` may itself hold ``=`` and ``:``, the value follows the last ``=``).
        A later spec of the same key wins.

        Raises:
            ValueError: a spec that is not ``KEY=VALUE``, an unknown key, a value that is not a
                number or out of range; the message names the spec.
        """
        base = base or cls()
        values = {
            "js": base.js,
            "mean_abs_change": base.mean_abs_change,
            "ndcg": base.ndcg,
            "min_count": base.min_count,
        }
        own = dict(base.per_feature)
        for spec in specs:
            key, value = _parse_spec(spec)
            if key.startswith("feature:"):
                own[key[len("feature:") :]] = value
            else:
                values[key] = value
        return cls(per_feature=own, **values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "js": self.js,
            "mean_abs_change": self.mean_abs_change,
            "ndcg": self.ndcg,
            "per_feature": dict(self.per_feature),
            "min_count": int(self.min_count),
        }


def _parse_spec(spec: str) -> tuple[str, float]:
    """(``js`` | ``mean_abs_change`` | ``ndcg`` | ``feature:NAME``, checked value) of one spec."""
    key, equals, text = str(spec).rpartition("=")
    key = key.strip()
    if not equals or not key:
        raise ValueError(
            f"threshold {spec!r}: expected KEY=VALUE with KEY one of js, mean-abs-change, "
            "ndcg, min-count or feature:NAME"
        )
    if key.startswith("feature:"):
        if not key[len("feature:") :]:
            raise ValueError(f"threshold {spec!r}: feature:NAME needs a feature name")
        field_name = key
    else:
        field_name = _THRESHOLD_KEYS.get(key.replace("_", "-"), "")
        if not field_name:
            raise ValueError(
                f"threshold {spec!r}: unknown key {key!r} "
                "(expected js, mean-abs-change, ndcg, min-count or feature:NAME)"
            )
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"threshold {spec!r}: {text.strip()!r} is not a number") from None
    try:
        return field_name, _checked_threshold(field_name, value)
    except ValueError as error:
        raise ValueError(f"threshold {spec!r}: {error}") from None


# --- inputs ----------------------------------------------------------------------------------


def load_summary(path: str | os.PathLike[str]) -> DatasetSummary:
    """The summary of a job directory (its ``summary.json``) or of a summary file.

    Raises:
        FileNotFoundError: nothing at ``path``, or a directory without ``summary.json``.
        ValueError: a file that is not a JSON dataset summary (the message says why).
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"{str(source)!r}: no such file or directory")
    file = source / SUMMARY_FILE if source.is_dir() else source
    if not file.is_file():
        raise FileNotFoundError(
            f"{str(source)!r} has no {SUMMARY_FILE} (is it a dataset job's directory?)"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(file)!r} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{str(file)!r}: not an intgrad dataset summary (not a JSON object)")
    try:
        return DatasetSummary.from_dict(data)
    except ValueError as error:
        raise ValueError(f"{str(file)!r}: {error}") from None
    except KeyError as error:
        raise ValueError(f"{str(file)!r}: a dataset summary without the field {error}") from None
    except (TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{str(file)!r}: not a valid dataset summary ({error})") from None


def parse_group(spec: str) -> tuple[str, str]:
    """``"cohort:NAME"`` → ``("cohort", NAME)``; ``"class:LABEL"`` → ``("class", LABEL)``."""
    kind, colon, name = str(spec).partition(":")
    if not colon or kind not in _GROUP_KINDS or not name:
        raise ValueError(f"a group is 'cohort:NAME' or 'class:LABEL', got {spec!r}")
    return kind, name


def select_group(summary: DatasetSummary, group: str | None, side: str = "") -> FeatureSummary:
    """The feature summary that ``group`` names (``None``: all examples).

    Raises:
        ValueError: ``group`` is not ``cohort:NAME`` or ``class:LABEL``.
        KeyError: the summary has no such cohort or class (the message lists those it has).
    """
    if group is None:
        return summary.features
    kind, name = parse_group(group)
    groups = summary.cohorts if kind == "cohort" else summary.classes
    if name not in groups:
        known = ", ".join(repr(k) for k in sorted(groups)) or "none"
        where = f" in the {side} summary" if side else ""
        plural = "cohorts" if kind == "cohort" else "classes"
        raise KeyError(f"no {kind} {name!r}{where} ({plural}: {known})")
    return groups[name]


def _as_summary(source: DatasetSummary | str | os.PathLike[str]) -> tuple[DatasetSummary, str]:
    if isinstance(source, DatasetSummary):
        return source, ""
    return load_summary(source), str(source)


def _check_same_kind(reference: DatasetSummary, current: DatasetSummary) -> None:
    for key in _SAME_KIND_KEYS:
        ref, cur = reference.metadata.get(key), current.metadata.get(key)
        if ref is not None and cur is not None and ref != cur:
            raise ValueError(
                f"the summaries are of different {key.replace('_', ' ')}s "
                f"(reference {ref!r}, current {cur!r}); compare like with like"
            )


def _check_comparable(ref: FeatureSummary, cur: FeatureSummary, group: str | None) -> None:
    what = f"group {group!r} of the" if group else "the"
    for side, summary in (("reference", ref), ("current", cur)):
        if not int(np.sum(summary.count)):
            raise ValueError(f"{what} {side} summary has no attributions to compare")
    if ref.relative_accuracy != cur.relative_accuracy:
        raise ValueError(
            "the summaries' sketches differ in relative accuracy "
            f"({ref.relative_accuracy} and {cur.relative_accuracy}); summarise both alike"
        )


# --- ranking ---------------------------------------------------------------------------------


def _dcg(gains: Sequence[float]) -> float:
    return float(sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1)))


def _by_importance(scores: Mapping[str, float]) -> list[str]:
    """Names by score, largest first; ties keep the mapping's order."""
    return sorted(scores, key=lambda name: -scores[name])


def ndcg(
    reference: Mapping[str, float], current: Mapping[str, float], top_k: int | None = None
) -> float:
    """The nDCG of the current feature ranking, with the reference's importance as relevance.

    With ``f′_1, f′_2, …`` the features by current importance and ``f_1, f_2, …`` by reference
    importance ``a(f)`` (mean ``|a|``; 0 for a feature the reference lacks)::

        DCG  = Σ_{i=1..k} a(f′_i) / log2(i + 1)
        IDCG = Σ_{i=1..k} a(f_i)  / log2(i + 1)
        nDCG = DCG / IDCG

    with ``k`` = ``top_k`` or every feature (Järvelin & Kekäläinen 2002; the feature attribution
    drift metric of SageMaker Clarify, which alerts below 0.9). It is 1 for identical rankings,
    drops most when important features fall, and a feature the current side lacks adds nothing
    to DCG. Ties keep the mappings' order.

    Args:
        reference, current: feature name → importance (finite, >= 0).
        top_k: rank positions that count (>= 1), or ``None`` for all.

    Returns:
        nDCG in [0, 1]; NaN when every reference importance is 0 (no ranking to keep).
    """
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    for side, scores in (("reference", reference), ("current", current)):
        if any(not (math.isfinite(v) and v >= 0) for v in scores.values()):
            raise ValueError(f"the {side} importances must be finite and >= 0")
    ideal = sorted(reference.values(), reverse=True)[:top_k]
    gains = [reference.get(name, 0.0) for name in _by_importance(current)][:top_k]
    best = _dcg(ideal)
    return _dcg(gains) / best if best > 0 else math.nan


# --- per feature -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureDrift:
    """How one feature's attributions differ between the reference and the current summary.

    Attributes:
        name: the feature.
        js: Jensen–Shannon divergence of the two distributions; NaN when a side lacks it.
        mean_abs_reference, mean_abs_current: mean ``|a|`` of each side (0 where absent).
        mean_abs_change: ``(cur − ref) / ref``; 0 at ref = cur = 0, ``+inf`` at ref = 0 < cur,
            NaN when a side lacks the feature.
        mean_reference, mean_current: the signed means.
        mean_shift_z: ``(m_cur − m_ref)`` over the standard error of that difference; NaN
            below two observations on a side (0 or ±inf when both variances are 0).
        count_reference, count_current: observations of the feature on each side.
        rank_reference, rank_current: 1-based rank by mean ``|a|`` on each side; None where
            the side lacks the feature.
        js_threshold: the JS threshold that applied to this feature.
        flags: why it is flagged (codes of :data:`FLAGS`); empty when it is not.
    """

    name: str
    js: float
    mean_abs_reference: float
    mean_abs_current: float
    mean_abs_change: float
    mean_reference: float
    mean_current: float
    mean_shift_z: float
    count_reference: int
    count_current: int
    rank_reference: int | None
    rank_current: int | None
    js_threshold: float
    flags: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def present(self) -> str:
        """``"both"``, ``"reference"`` (absent from current) or ``"current"`` (new)."""
        if self.count_reference and self.count_current:
            return "both"
        return "reference" if self.count_reference else "current"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and infinities become None."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["flags"] = list(self.flags)
        data["present"] = self.present
        return _json_ready(data)


def _union(ref: FeatureSummary, cur: FeatureSummary) -> tuple[str, ...]:
    """Names observed on either side: the reference's order, then the current's new ones."""
    seen = [n for n, c in zip(ref.names, ref.count.tolist(), strict=True) if c > 0]
    known = set(seen)
    seen += [
        n for n, c in zip(cur.names, cur.count.tolist(), strict=True) if c > 0 and n not in known
    ]
    return tuple(seen)


def _ranks(summary: FeatureSummary) -> list[int | None]:
    """1-based rank of each feature by mean ``|a|`` among those observed; None where not."""
    present = np.flatnonzero(summary.count > 0)
    order = present[np.argsort(-summary.mean_abs[present], kind="stable")]
    ranks: list[int | None] = [None] * len(summary.names)
    for rank, index in enumerate(order.tolist(), start=1):
        ranks[index] = rank
    return ranks


def _relative_change(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        change = (cur - ref) / ref
    return np.where(ref > 0, change, np.where(cur > 0, np.inf, 0.0))


def _mean_shift_z(ref: FeatureSummary, cur: FeatureSummary) -> np.ndarray:
    spread = ref.standard_error**2 + cur.standard_error**2
    gap = cur.mean - ref.mean
    with np.errstate(divide="ignore", invalid="ignore"):
        z = gap / np.sqrt(spread)
    degenerate = np.where(gap == 0, 0.0, np.copysign(np.inf, gap))
    return np.where(np.isnan(spread), np.nan, np.where(spread > 0, z, degenerate))


def _flags(row: dict[str, Any], change_threshold: float, min_count: float) -> tuple[str, ...]:
    if max(row["count_reference"], row["count_current"]) < min_count:
        return ()
    if not row["count_current"]:
        return (FLAG_ABSENT,)
    if not row["count_reference"]:
        return (FLAG_NEW,)
    if min(row["count_reference"], row["count_current"]) < min_count:
        return ()
    flags = []
    if row["js"] > row["js_threshold"]:
        flags.append(FLAG_JS)
    if abs(row["mean_abs_change"]) > change_threshold:
        flags.append(FLAG_MEAN_ABS)
    return tuple(flags)


def _rows(
    ref: FeatureSummary, cur: FeatureSummary, thresholds: DriftThresholds, bins: int
) -> list[FeatureDrift]:
    names = _union(ref, cur)
    a, b = ref.subset(names), cur.subset(names)
    both = (a.count > 0) & (b.count > 0)
    columns = {
        "mean_abs_reference": a.mean_abs,
        "mean_abs_current": b.mean_abs,
        "mean_abs_change": np.where(both, _relative_change(a.mean_abs, b.mean_abs), np.nan),
        "mean_reference": a.mean,
        "mean_current": b.mean,
        "mean_shift_z": np.where(both, _mean_shift_z(a, b), np.nan),
    }
    ranks_a, ranks_b = _ranks(a), _ranks(b)
    rows = []
    for i, name in enumerate(names):
        row: dict[str, Any] = {key: float(values[i]) for key, values in columns.items()}
        row.update(
            name=name,
            js=jensen_shannon(a.sketches[i], b.sketches[i], bins) if both[i] else math.nan,
            count_reference=int(a.count[i]),
            count_current=int(b.count[i]),
            rank_reference=ranks_a[i],
            rank_current=ranks_b[i],
            js_threshold=thresholds.js_for(name),
        )
        flags = _flags(row, thresholds.mean_abs_change, thresholds.min_count)
        rows.append(FeatureDrift(**row, flags=flags))
    return rows


def _drift_order(row: FeatureDrift) -> tuple[bool, float, float]:
    """Sort key: a feature one side lacks first, then by JS, then by importance."""
    missing = math.isnan(row.js)
    return (
        not missing,
        -(0.0 if missing else row.js),
        -max(row.mean_abs_reference, row.mean_abs_current),
    )


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummarySide:
    """What the report keeps of one compared summary.

    Attributes:
        source: the path it was read from; ``""`` for a summary passed in memory.
        examples, failed: the job's examples processed and failed (all groups).
        observations: the most observations of any one feature in the compared group (tables
            and images: the examples in it; text: the commonest word's occurrences).
        features: features observed in the compared group.
        metadata: the summary's metadata (task, model, baseline, ...).
    """

    source: str
    examples: int
    failed: int
    observations: int
    features: int
    metadata: Mapping[str, Any]

    @classmethod
    def of(cls, summary: DatasetSummary, group: FeatureSummary, source: str) -> SummarySide:
        counts = group.count
        return cls(
            source=source,
            examples=summary.examples,
            failed=summary.failed,
            observations=int(counts.max()) if counts.size else 0,
            features=int(np.count_nonzero(counts)),
            metadata=dict(summary.metadata),
        )

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["metadata"] = dict(self.metadata)
        return _json_ready(data)


@dataclass(frozen=True)
class DriftReport:
    """The comparison of a current summary with a reference: per feature and overall.

    Attributes:
        rows: one :class:`FeatureDrift` per feature of either side, features one side lacks
            first, then by JS divergence, largest first.
        ndcg: the nDCG of the current ranking against the reference's (see :func:`ndcg`).
        thresholds: what counted as drift.
        reference, current: the two compared summaries.
        bins: bins of the JS divergence, at the quantiles of both sketches pooled.
        top_k: rank positions the nDCG counted (None: all).
        group: the compared group (None: all examples).
    """

    rows: tuple[FeatureDrift, ...]
    ndcg: float
    thresholds: DriftThresholds
    reference: SummarySide
    current: SummarySide
    bins: int = 20
    top_k: int | None = None
    group: str | None = None

    @property
    def flagged(self) -> tuple[str, ...]:
        """The flagged features' names in row order (one side lacks them, then by JS)."""
        return tuple(row.name for row in self.rows if row.flagged)

    @property
    def ndcg_breached(self) -> bool:
        return not math.isnan(self.ndcg) and self.ndcg < self.thresholds.ndcg

    @property
    def ok(self) -> bool:
        """True when no threshold is breached."""
        return not self.ndcg_breached and not self.flagged

    @property
    def breaches(self) -> tuple[str, ...]:
        """One line per breached threshold: the ranking first, then each flagged feature."""
        lines = []
        if self.ndcg_breached:
            within = f" over the top {self.top_k}" if self.top_k else ""
            lines.append(
                f"nDCG of the feature ranking{within} {self.ndcg:.4f} is below "
                f"{self.thresholds.ndcg:g}"
            )
        for row in self.rows:
            lines.extend(_reasons(row, self.thresholds))
        return tuple(lines)

    def row(self, name: str) -> FeatureDrift:
        """The row of feature ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no feature named {name!r} in this report")

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report, JSON-ready (NaN and infinities become None)."""
        return _json_ready(
            {
                "format": DRIFT_FORMAT,
                "ok": self.ok,
                "group": self.group,
                "ndcg": self.ndcg,
                "top_k": self.top_k,
                "bins": self.bins,
                "thresholds": self.thresholds.to_dict(),
                "flagged": list(self.flagged),
                "breaches": list(self.breaches),
                "reference": self.reference.to_dict(),
                "current": self.current.to_dict(),
                "features": [row.to_dict() for row in self.rows],
            }
        )

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame indexed by feature name (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError("DriftReport.to_frame needs pandas: pip install pandas") from error
        records = [
            {**{f.name: getattr(row, f.name) for f in fields(row)}, "flagged": row.flagged}
            for row in self.rows
        ]
        frame = pd.DataFrame.from_records(records, columns=[*_ROW_FIELDS, "flagged"])
        for column in ("rank_reference", "rank_current"):
            frame[column] = frame[column].astype("Int64")
        return frame.set_index("name")

    def to_html(self, *, max_rows: int = 200, chart_features: int = 12) -> str:
        """A self-contained HTML page of the report (inline CSS and SVG, no external assets).

        Args:
            max_rows: table rows shown in JS order, followed by up to as many flagged rows
                from further down.
            chart_features: features in the bar chart, the most important on either side.
        """
        return _page(self, max_rows, chart_features)

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` atomically; its directory must exist."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        atomic_write_text(path, text + "\n")
        return Path(path)

    def save_html(self, path: str | os.PathLike[str], **options: int) -> Path:
        """Write :meth:`to_html` to ``path`` atomically; its directory must exist."""
        atomic_write_text(path, self.to_html(**options))
        return Path(path)


_ROW_FIELDS = tuple(f.name for f in fields(FeatureDrift))


def _reasons(row: FeatureDrift, thresholds: DriftThresholds) -> list[str]:
    """One human-readable line per threshold that ``row`` breaches."""
    name = f"feature {row.name!r}"
    if FLAG_ABSENT in row.flags:
        return [f"{name}: absent from the current summary (mean |a| {row.mean_abs_reference:.4g})"]
    if FLAG_NEW in row.flags:
        return [f"{name}: new in the current summary (mean |a| {row.mean_abs_current:.4g})"]
    lines = []
    if FLAG_JS in row.flags:
        own = " (its own threshold)" if row.name in thresholds.per_feature else ""
        lines.append(f"{name}: JS divergence {row.js:.4f} > {row.js_threshold:g}{own}")
    if FLAG_MEAN_ABS in row.flags:
        lines.append(
            f"{name}: mean |a| {row.mean_abs_reference:.4g} -> {row.mean_abs_current:.4g} "
            f"({_percent(row.mean_abs_change)}), beyond +/-{thresholds.mean_abs_change:.0%}"
        )
    return lines


def _percent(change: float) -> str:
    if math.isnan(change):
        return "n/a"
    return "from 0" if math.isinf(change) else f"{change:+.1%}"


def _json_ready(value: Any) -> Any:
    """``value`` with NaN and infinities as None, mappings as dicts, sequences as lists."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_ready(v) for v in value]
    return value


def compare(
    reference: DatasetSummary | str | os.PathLike[str],
    current: DatasetSummary | str | os.PathLike[str],
    *,
    thresholds: DriftThresholds | None = None,
    bins: int = 20,
    top_k: int | None = None,
    group: str | None = None,
) -> DriftReport:
    """Compare the attributions of a current dataset summary with a reference's.

    Args:
        reference, current: :class:`DatasetSummary` objects, or paths to a job directory or a
            ``summary.json``.
        thresholds: what counts as drift (default :class:`DriftThresholds()`).
        bins: bins of each feature's JS divergence (>= 1), at the quantiles of the reference
            and current sketches pooled.
        top_k: rank positions the nDCG counts (>= 1), or None for all features.
        group: None for all examples, ``"cohort:NAME"`` or ``"class:LABEL"`` for that group.

    Returns:
        The :class:`DriftReport`.

    Raises:
        FileNotFoundError: a path with no summary.
        ValueError: an unreadable summary, summaries of different tasks or feature kinds,
            a side with no attributions, or bad ``bins``, ``top_k`` or ``group``.
        KeyError: a group one side lacks, or a per-feature threshold for a feature neither
            side has.
    """
    thresholds = thresholds or DriftThresholds()
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    (ref_summary, ref_source), (cur_summary, cur_source) = map(_as_summary, (reference, current))
    _check_same_kind(ref_summary, cur_summary)
    ref = select_group(ref_summary, group, "reference")
    cur = select_group(cur_summary, group, "current")
    _check_comparable(ref, cur, group)
    rows = _rows(ref, cur, thresholds, bins)
    unknown = sorted(set(thresholds.per_feature) - {row.name for row in rows})
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise KeyError(f"a per-feature threshold names a feature neither summary has: {listed}")
    scores = [{r.name: r.mean_abs_reference for r in rows if r.count_reference}]
    scores.append({r.name: r.mean_abs_current for r in rows if r.count_current})
    return DriftReport(
        rows=tuple(sorted(rows, key=_drift_order)),
        ndcg=ndcg(scores[0], scores[1], top_k),
        thresholds=thresholds,
        reference=SummarySide.of(ref_summary, ref, ref_source),
        current=SummarySide.of(cur_summary, cur, cur_source),
        bins=bins,
        top_k=top_k,
        group=group,
    )


# --- HTML ------------------------------------------------------------------------------------

_REFERENCE_COLOR = "#4c78a8"
_CHIP_LABELS = {
    FLAG_JS: "JS",
    FLAG_MEAN_ABS: "mean |a|",
    FLAG_ABSENT: "absent now",
    FLAG_NEW: "new",
}
_CURRENT_COLOR = "#f58518"
# What HTML forbids: C0 controls other than tab, newline and carriage return; DEL; C1.
_HTML_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_CSS = """
:root { --ref: #4c78a8; --cur: #f58518; --bad: #b42318; --bad-bg: #fef3f2;
  --bad-line: #fecdca; --ok: #067647; --ok-bg: #ecfdf3; --ok-line: #abefc6;
  --ink: #101828; --muted: #667085; --line: #eaecf0; --paper: #ffffff; --page: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 32px 24px 48px; }
h1 { font-size: 24px; margin: 0; letter-spacing: -0.01em; }
h2 { font-size: 15px; margin: 0 0 12px; }
.subtitle { color: var(--muted); margin: 4px 0 0; }
.verdict { display: flex; gap: 14px; align-items: flex-start; margin: 20px 0 16px;
  padding: 14px 18px; border-radius: 12px; border: 1px solid; }
.verdict.ok { background: var(--ok-bg); border-color: var(--ok-line); color: var(--ok); }
.verdict.drift { background: var(--bad-bg); border-color: var(--bad-line); color: var(--bad); }
.verdict .mark { font-size: 22px; line-height: 1; }
.verdict strong { font-size: 16px; display: block; }
.verdict ul { margin: 6px 0 0; padding-left: 18px; color: var(--ink); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card, section { background: var(--paper); border: 1px solid var(--line); border-radius: 12px; }
.card { flex: 1 1 200px; padding: 14px 16px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.05em; }
.card .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .note { color: var(--muted); font-size: 12px; }
.card.bad .value { color: var(--bad); }
section { padding: 18px 20px; margin-top: 16px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th { color: var(--muted); font-size: 12px; font-weight: 600; }
.name { text-align: left; white-space: normal; overflow-wrap: break-word; }
td.name { font-weight: 550; }
tbody tr:hover td { background: #f9fafb; }
tr.flagged td { background: var(--bad-bg); }
tr.flagged:hover td { background: #fee4e2; }
tr.flagged td:first-child { box-shadow: inset 3px 0 0 var(--bad); }
.flags { text-align: left; }
.chip { display: inline-block; margin: 1px 0 1px 4px; padding: 0 8px; border-radius: 999px;
  white-space: nowrap; font-size: 11px; font-weight: 600; background: var(--bad); color: #fff; }
.meter { display: inline-block; width: 48px; height: 6px; margin-right: 8px; border-radius: 3px;
  background: var(--line); vertical-align: middle; position: relative; overflow: hidden; }
.meter span { position: absolute; left: 0; top: 0; bottom: 0; background: #98a2b3; }
tr.flagged .meter span { background: var(--bad); }
.muted { color: var(--muted); }
.up { color: var(--bad); } .down { color: var(--ref); }
.meta td { text-align: left; white-space: normal; overflow-wrap: break-word; }
.meta td:first-child { color: var(--muted); white-space: nowrap; }
.meta tr.differs td { background: #fffaeb; }
.legend { display: inline-flex; gap: 16px; font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; }
svg text { font-family: inherit; }
.method { color: var(--muted); font-size: 13px; }
.method code { color: var(--ink); }
"""


def _esc(value: object) -> str:
    return html.escape(_HTML_CONTROL.sub("", str(value)), quote=True)


def _number(value: float, spec: str = ".4g") -> str:
    if math.isnan(value):
        return '<span class="muted">—</span>'
    if math.isinf(value):
        return "+∞" if value > 0 else "−∞"
    return format(value, spec).replace("-", "−")


def _page(report: DriftReport, max_rows: int, chart_features: int) -> str:
    title = "Attribution drift" + (f" · {report.group}" if report.group else "")
    parts = [
        _header(report, title),
        _verdict(report),
        _cards(report),
        _chart_section(report, chart_features),
        _table_section(report, max_rows),
        _sides_section(report),
        _method_section(report),
    ]
    body = "\n".join(part for part in parts if part)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _side_label(side: SummarySide) -> str:
    return side.source or "(in memory)"


def _header(report: DriftReport, title: str) -> str:
    ref, cur = _side_label(report.reference), _side_label(report.current)
    return (
        f"<header><h1>{_esc(title)}</h1>"
        f'<p class="subtitle">reference <b>{_esc(ref)}</b> → current <b>{_esc(cur)}</b></p>'
        "</header>"
    )


def _verdict(report: DriftReport) -> str:
    if report.ok:
        return (
            '<div class="verdict ok"><span class="mark">✓</span><div>'
            "<strong>No drift: every threshold holds</strong>"
            f"{len(report.rows)} features compared.</div></div>"
        )
    shown = report.breaches[:12]
    more = len(report.breaches) - len(shown)
    items = "".join(f"<li>{_esc(line)}</li>" for line in shown)
    if more:
        items += f'<li class="muted">… and {more} more</li>'
    return (
        '<div class="verdict drift"><span class="mark">⚠</span><div>'
        f"<strong>Drift detected: {len(report.flagged)} of {len(report.rows)} features flagged"
        f"{', ranking changed' if report.ndcg_breached else ''}</strong>"
        f"<ul>{items}</ul></div></div>"
    )


def _card(label: str, value: str, note: str, bad: bool = False) -> str:
    css = "card bad" if bad else "card"
    return (
        f'<div class="{css}"><div class="label">{label}</div>'
        f'<div class="value">{value}</div><div class="note">{note}</div></div>'
    )


def _cards(report: DriftReport) -> str:
    limits = report.thresholds
    within = f"top {report.top_k}" if report.top_k else "all features"
    own = len(limits.per_feature)
    rule = f"JS > {limits.js:g}" + (f" ({own} own)" if own else "")
    measured = [row for row in report.rows if not math.isnan(row.js)]
    worst = max(measured, key=lambda row: row.js, default=None)
    return (
        '<div class="cards">'
        + _card(
            "nDCG of the ranking",
            _number(report.ndcg, ".3f"),
            f"threshold {limits.ndcg:g} · {within}",
            report.ndcg_breached,
        )
        + _card(
            "Flagged features",
            f'{len(report.flagged)} <small class="muted">/ {len(report.rows)}</small>',
            f"{_esc(rule)} or mean |a| ±{limits.mean_abs_change:.0%}",
            bool(report.flagged),
        )
        + _card(
            "Largest JS divergence",
            _number(math.nan if worst is None else worst.js, ".3f"),
            "" if worst is None else _esc(_short(worst.name, 40)),
            worst is not None and worst.flagged,
        )
        + _card(
            "Examples",
            f"{report.reference.examples:,} → {report.current.examples:,}",
            f"failed {report.reference.failed:,} → {report.current.failed:,}",
        )
        + "</div>"
    )


def _tick_step(largest: float) -> float:
    """A 1, 2, 2.5 or 5 × 10^e step that splits ``[0, largest]`` into at most 5 ticks."""
    rough = largest / 4
    exponent = math.floor(math.log10(rough))
    for step in (1.0, 2.0, 2.5, 5.0):
        if step * 10**exponent >= rough * (1 - 1e-9):
            return step * 10**exponent
    return 10.0 ** (exponent + 1)


def _short(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _chart_rows(report: DriftReport, limit: int) -> list[FeatureDrift]:
    ordered = sorted(report.rows, key=lambda r: -max(r.mean_abs_reference, r.mean_abs_current))
    return ordered[:limit]


def _svg_chart(rows: Sequence[FeatureDrift]) -> str:
    """Grouped horizontal bars of mean ``|a|``: reference above current, per feature."""
    label_width = 16 + 7 * max(len(_short(row.name)) for row in rows)
    width, bar, pitch, top = 980, 11, 34, 12
    x0, plot = label_width + 12, 980 - label_width - 12 - 64
    largest = max(max(r.mean_abs_reference, r.mean_abs_current) for r in rows)
    step = _tick_step(largest) if largest > 0 else 0.25
    ticks = max(1, math.ceil(largest / step * (1 - 1e-9)))
    scale = step * ticks
    height = top + pitch * len(rows) + 26
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="mean |a| of the reference and the current summary">'
    ]
    for tick in range(ticks + 1):
        x = x0 + plot * tick / ticks
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 22}" '
            'stroke="#eaecf0"/>'
            f'<text x="{x:.1f}" y="{height - 8}" font-size="11" fill="#667085" '
            f'text-anchor="middle">{_number(step * tick, ".3g")}</text>'
        )
    for i, row in enumerate(rows):
        parts.append(_svg_feature(row, top + pitch * i, x0, plot / scale, bar, label_width))
    parts.append("</svg>")
    return "".join(parts)


def _svg_feature(
    row: FeatureDrift, y: float, x0: float, per_unit: float, bar: int, label_width: int
) -> str:
    color = "#b42318" if row.flagged else "#101828"
    weight = "650" if row.flagged else "500"
    tip = (
        f"{row.name}: mean |a| reference {row.mean_abs_reference:.4g}, "
        f"current {row.mean_abs_current:.4g}"
    )
    parts = [
        f"<g><title>{_esc(tip)}</title>",
        f'<text x="{label_width}" y="{y + bar + 4:.1f}" font-size="12" text-anchor="end" '
        f'fill="{color}" font-weight="{weight}">{_esc(_short(row.name))}</text>',
    ]
    for offset, value, fill in (
        (0, row.mean_abs_reference, _REFERENCE_COLOR),
        (bar + 2, row.mean_abs_current, _CURRENT_COLOR),
    ):
        length = max(value * per_unit, 0.0)
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + offset:.1f}" width="{length:.1f}" height="{bar}" '
            f'rx="2" fill="{fill}"/>'
            f'<text x="{x0 + length + 5:.1f}" y="{y + offset + bar - 2:.1f}" font-size="10" '
            f'fill="#667085">{_number(value, ".3g")}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _chart_section(report: DriftReport, limit: int) -> str:
    rows = _chart_rows(report, limit)
    if not rows or limit < 1:
        return ""
    legend = (
        '<span class="legend">'
        f'<span><span class="swatch" style="background:{_REFERENCE_COLOR}"></span>reference'
        "</span>"
        f'<span><span class="swatch" style="background:{_CURRENT_COLOR}"></span>current</span>'
        "</span>"
    )
    return (
        f"<section><h2>Mean |attribution| of the top {len(rows)} features &nbsp; {legend}</h2>"
        f"{_svg_chart(rows)}</section>"
    )


def _table_rows(report: DriftReport, max_rows: int) -> list[FeatureDrift]:
    """The first ``max_rows`` rows, and up to ``max_rows`` flagged rows after them."""
    later = [row for row in report.rows[max_rows:] if row.flagged][:max_rows]
    return [*report.rows[:max_rows], *later]


def _change_cell(change: float) -> str:
    if math.isnan(change):
        return '<span class="muted">—</span>'
    css = "up" if change > 0 else "down" if change < 0 else "muted"
    text = "new" if math.isinf(change) else _number(change * 100, "+.1f") + "%"
    return f'<span class="{css}">{text}</span>'


def _rank_cell(row: FeatureDrift) -> str:
    def rank(value: int | None) -> str:
        return "—" if value is None else str(value)

    return f"{rank(row.rank_reference)} → {rank(row.rank_current)}"


def _table_row(row: FeatureDrift, js_scale: float) -> str:
    width = 0.0 if math.isnan(row.js) else min(100.0, 100 * row.js / js_scale)
    own = f' <span class="muted">/ {row.js_threshold:g}</span>' if row.flagged else ""
    chips = "".join(
        f'<span class="chip" title="{flag}">{_CHIP_LABELS[flag]}</span>' for flag in row.flags
    )
    cells = [
        f'<td class="name">{_esc(row.name)}</td>',
        f'<td><span class="meter"><span style="width:{width:.1f}%"></span></span>'
        f"{_number(row.js, '.4f')}{own}</td>",
        f"<td>{_number(row.mean_abs_reference if row.count_reference else math.nan)}</td>",
        f"<td>{_number(row.mean_abs_current if row.count_current else math.nan)}</td>",
        f"<td>{_change_cell(row.mean_abs_change)}</td>",
        f"<td>{_number(row.mean_shift_z, '+.2f')}</td>",
        f"<td>{_rank_cell(row)}</td>",
        f'<td class="flags">{chips}</td>',
    ]
    css = ' class="flagged"' if row.flagged else ""
    return f"<tr{css}>{''.join(cells)}</tr>"


def _table_section(report: DriftReport, max_rows: int) -> str:
    rows = _table_rows(report, max_rows)
    finite = [r.js for r in report.rows if not math.isnan(r.js)]
    js_scale = max([*finite, *(r.js_threshold for r in rows), 1e-12])
    head = (
        '<tr><th class="name">feature</th><th>JS divergence</th><th>mean |a| reference</th>'
        "<th>mean |a| current</th><th>change</th><th>mean shift (z)</th>"
        '<th>rank ref → cur</th><th class="flags">flags</th></tr>'
    )
    body = "\n".join(_table_row(row, js_scale) for row in rows)
    hidden = len(report.rows) - len(rows)
    flagged = len(report.flagged) - sum(row.flagged for row in rows)
    among = f", {flagged:,} of them flagged" if flagged else ""
    note = (
        f'<p class="muted">{hidden:,} more features are not shown{among}; the JSON report has '
        "every feature.</p>"
        if hidden
        else ""
    )
    return (
        "<section><h2>Features by Jensen–Shannon divergence</h2>"
        f"<table><thead>{head}</thead><tbody>\n{body}\n</tbody></table>{note}</section>"
    )


def _meta_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    short = text if len(text) <= 90 else text[:89] + "…"
    return f'<span title="{_esc(text)}">{_esc(short)}</span>'


def _sides_section(report: DriftReport) -> str:
    ref, cur = report.reference, report.current
    facts: list[tuple[str, Any, Any]] = [
        ("source", _side_label(ref), _side_label(cur)),
        ("examples", f"{ref.examples:,}", f"{cur.examples:,}"),
        ("failed", f"{ref.failed:,}", f"{cur.failed:,}"),
        ("features observed", f"{ref.features:,}", f"{cur.features:,}"),
        ("most observations of a feature", f"{ref.observations:,}", f"{cur.observations:,}"),
    ]
    missing = object()
    for key in sorted(set(ref.metadata) | set(cur.metadata)):
        facts.append((key, ref.metadata.get(key, missing), cur.metadata.get(key, missing)))
    rows = []
    for key, left, right in facts:
        css = ' class="differs"' if left != right and key != "source" else ""
        cells = (
            '<span class="muted">—</span>' if value is missing else _meta_value(value)
            for value in (left, right)
        )
        rows.append(f"<tr{css}><td>{_esc(key)}</td><td>{'</td><td>'.join(cells)}</td></tr>")
    return (
        "<section><h2>The two summaries</h2>"
        '<table class="meta"><thead><tr><th class="name"></th><th class="name">reference</th>'
        '<th class="name">current</th></tr></thead><tbody>'
        f"{''.join(rows)}</tbody></table>"
        '<p class="muted">Rows that differ are highlighted.</p></section>'
    )


def _method_section(report: DriftReport) -> str:
    group = f"group <code>{_esc(report.group)}</code>" if report.group else "all examples"
    return (
        '<section class="method"><h2>How this is computed</h2>'
        f"<p>Compared: {group}. <b>JS divergence</b>: Jensen–Shannon divergence (base 2, 0 to 1) "
        f"of each feature's attributions, in {report.bins} bins at the quantiles of the "
        "reference and current attributions pooled. "
        "<b>change</b>: (current − reference) / reference of mean |a|. <b>mean shift (z)</b>: "
        "the change of the signed mean over the standard error of the difference. "
        "<b>nDCG</b>: <code>DCG / IDCG</code> with <code>DCG = Σ<sub>i</sub> a(f′<sub>i</sub>)"
        " / log<sub>2</sub>(i + 1)</code> over the current ranking f′ and IDCG the same over "
        "the reference ranking, a = the reference's mean |a| (the feature attribution drift "
        "metric of SageMaker Clarify). A feature is flagged when its JS divergence or its "
        "change exceeds the threshold, or when one side lacks it.</p>"
        "<p>Made by <code>intgrad drift</code>.</p></section>"
    )
