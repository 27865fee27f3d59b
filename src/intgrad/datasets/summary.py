"""Summaries of attributions over a dataset that merge exactly across batches and workers.

Per feature a :class:`FeatureSummary` keeps the count, the signed mean, the sum of squared
deviations (Chan, Golub & LeVeque 1979's pairwise update, so two partial summaries combine into
the summary of the union without revisiting a row), the mean of ``|a|`` and a
:class:`~intgrad.datasets.sketch.QuantileSketch`. Features are named; two summaries over
different names (text: tokens seen in one shard and not another) merge over the union of names.
Counts and sketches merge exactly; means and variances merge to float rounding, and a merge in a
fixed order (shards in order) gives the same bits every time.

A :class:`DatasetSummary` holds one feature summary for all examples, one per cohort and one per
predicted class, plus a summary of the per-example outputs (F(x), F(x′), the completeness gap).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from intgrad._io import atomic_write_text
from intgrad.datasets.sketch import DEFAULT_RELATIVE_ACCURACY, QuantileSketch, bucket_ids

__all__ = ["OUTPUT_NAMES", "SUMMARY_FILE", "DatasetSummary", "FeatureSummary", "normal_quantile"]

OUTPUT_NAMES = ("f_input", "f_baseline", "delta")
"""The per-example scalars a dataset summary keeps besides the features."""

SUMMARY_FILE = "summary.json"
_FORMAT = "intgrad-dataset-summary/1"


def normal_quantile(level: float) -> float:
    """z with P(|Z| <= z) = ``level`` for a standard normal Z (e.g. 1.96 for 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"a confidence level must be in (0, 1), got {level!r}")
    # Bisection on erf: exact to float precision, no SciPy needed.
    low, high = 0.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if math.erf(middle / math.sqrt(2)) < level else (low, middle)
    return (low + high) / 2


@dataclass
class FeatureSummary:
    """Mergeable statistics of attributions, one entry per named feature.

    Attributes:
        names: the features, in first-seen order.
        count: shape (features,), int64, observations of each feature (examples, or token
            occurrences for text).
        mean: shape (features,), float64, the signed mean attribution.
        m2: shape (features,), float64, the sum of squared deviations from the mean.
        mean_abs: shape (features,), float64, the mean of ``|attribution|``.
        sketches: one quantile sketch of the attributions per feature.
    """

    names: tuple[str, ...] = ()
    count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mean_abs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sketches: tuple[QuantileSketch, ...] = ()
    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY

    @classmethod
    def of_matrix(
        cls,
        names: Sequence[str],
        values: np.ndarray,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> FeatureSummary:
        """The summary of ``values``, shape (examples, features), finite, columns ``names``."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(f"values must have shape (examples, {len(names)}), got {values.shape}")
        rows, columns = values.shape
        features = np.broadcast_to(np.arange(columns), (rows, columns))
        return cls.of_pairs(names, features.ravel(), values.ravel(), relative_accuracy)

    @classmethod
    def of_pairs(
        cls,
        names: Sequence[str],
        features: np.ndarray,
        values: np.ndarray,
        relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY,
    ) -> FeatureSummary:
        """The summary of observations ``values[i]`` of feature ``names[features[i]]``.

        Args:
            names: the feature names; an observation's feature is an index into them.
            features: shape (observations,), int, the feature of each observation.
            values: shape (observations,), finite floats.
        """
        features = np.asarray(features, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.float64).ravel()
        if features.shape != values.shape:
            raise ValueError("features and values must have the same number of observations")
        if not np.isfinite(values).all():
            raise ValueError("a feature summary takes finite attributions only")
        if features.size and (features.min() < 0 or features.max() >= len(names)):
            raise ValueError("an observation's feature index is out of range")
        size = len(names)
        count = np.bincount(features, minlength=size).astype(np.int64)
        safe = np.maximum(count, 1)
        mean = np.bincount(features, values, minlength=size) / safe
        m2 = np.bincount(features, (values - mean[features]) ** 2, minlength=size)
        mean_abs = np.bincount(features, np.abs(values), minlength=size) / safe
        sketches = _sketches(size, features, values, relative_accuracy)
        return cls(tuple(names), count, mean, m2, mean_abs, sketches, relative_accuracy)

    @property
    def variance(self) -> np.ndarray:
        """shape (features,): the sample variance (ddof 1); NaN below two observations."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.count > 1, self.m2 / (self.count - 1), np.nan)

    @property
    def standard_error(self) -> np.ndarray:
        """shape (features,): the standard error of the signed mean, ``sqrt(variance / n)``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(self.variance / self.count)

    def confidence_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """The normal-approximation interval of the signed mean: (low, high), each (features,)."""
        half = normal_quantile(level) * self.standard_error
        return self.mean - half, self.mean + half

    def quantiles(self, q: float) -> np.ndarray:
        """shape (features,): each feature's attribution quantile ``q`` (from the sketch)."""
        return np.array([sketch.quantile(q) for sketch in self.sketches], dtype=np.float64)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no feature named {name!r} in this summary") from None

    def ranking(self) -> tuple[str, ...]:
        """Feature names by mean ``|a|``, largest first (ties keep first-seen order)."""
        order = np.argsort(-self.mean_abs, kind="stable")
        return tuple(self.names[i] for i in order)

    def merge(self, other: FeatureSummary) -> FeatureSummary:
        """The summary of both sets of observations, over the union of feature names."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("cannot merge summaries whose sketches differ in accuracy")
        names = self.names + tuple(n for n in other.names if n not in set(self.names))
        left, right = self._aligned(names), other._aligned(names)
        return _combined(names, left, right, self.relative_accuracy)

    def _aligned(self, names: tuple[str, ...]) -> FeatureSummary:
        if names == self.names:
            return self
        position = {name: i for i, name in enumerate(self.names)}
        take = np.array([position.get(name, -1) for name in names], dtype=np.int64)
        present = take >= 0

        def pick(values: np.ndarray) -> np.ndarray:
            out = np.zeros(len(names), values.dtype)
            out[present] = values[take[present]]
            return out

        sketches = tuple(
            self.sketches[i] if i >= 0 else QuantileSketch(self.relative_accuracy)
            for i in take.tolist()
        )
        return FeatureSummary(
            names,
            pick(self.count),
            pick(self.mean),
            pick(self.m2),
            pick(self.mean_abs),
            sketches,
            self.relative_accuracy,
        )

    def subset(self, names: Sequence[str]) -> FeatureSummary:
        """The summary restricted to ``names`` (in that order; absent names have count 0)."""
        return self._aligned(tuple(names))

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "count": self.count.tolist(),
            "mean": self.mean.tolist(),
            "m2": self.m2.tolist(),
            "mean_abs": self.mean_abs.tolist(),
            "relative_accuracy": self.relative_accuracy,
            "sketches": [s.to_dict() for s in self.sketches],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSummary:
        names = tuple(str(n) for n in data["names"])
        mean, m2, mean_abs = (np.asarray(data[k], np.float64) for k in ("mean", "m2", "mean_abs"))
        count = np.asarray(data["count"], dtype=np.int64)
        if any(a.shape != (len(names),) for a in (count, mean, m2, mean_abs)):
            raise ValueError("a stored feature summary has arrays of the wrong length")
        sketches = tuple(QuantileSketch.from_dict(s) for s in data["sketches"])
        if len(sketches) != len(names):
            raise ValueError("a stored feature summary has the wrong number of sketches")
        return cls(names, count, mean, m2, mean_abs, sketches, float(data["relative_accuracy"]))


def _sketches(
    size: int, features: np.ndarray, values: np.ndarray, relative_accuracy: float
) -> tuple[QuantileSketch, ...]:
    """One sketch per feature, built with one ``np.unique`` over (feature, bucket) keys."""
    by_feature: list[dict[int, int]] = [{} for _ in range(size)]
    if values.size:
        ids = bucket_ids(values, relative_accuracy)
        # One int64 key per observation: the feature above, the bucket id (shifted ≥ 0) below.
        shift = int(np.abs(ids).max()) + 1
        keys, counts = np.unique(features * (2 * shift + 1) + (ids + shift), return_counts=True)
        owners, buckets = np.divmod(keys, 2 * shift + 1)
        boundaries = np.flatnonzero(np.diff(owners)).tolist()
        starts, stops = [0, *(b + 1 for b in boundaries)], [*(b + 1 for b in boundaries), None]
        bucket_list, count_list = (buckets - shift).tolist(), counts.tolist()
        for start, stop in zip(starts, stops, strict=True):
            owner = int(owners[start])
            by_feature[owner] = dict(
                zip(bucket_list[start:stop], count_list[start:stop], strict=True)
            )
    return tuple(QuantileSketch(relative_accuracy, counts) for counts in by_feature)


def _combined(
    names: tuple[str, ...], a: FeatureSummary, b: FeatureSummary, relative_accuracy: float
) -> FeatureSummary:
    count = a.count + b.count
    safe = np.maximum(count, 1)
    gap = b.mean - a.mean
    share = b.count / safe
    mean = a.mean + gap * share
    m2 = a.m2 + b.m2 + gap**2 * a.count * share
    mean_abs = a.mean_abs + (b.mean_abs - a.mean_abs) * share
    sketches = tuple(x.merge(y) for x, y in zip(a.sketches, b.sketches, strict=True))
    return FeatureSummary(names, count, mean, m2, mean_abs, sketches, relative_accuracy)


def _merge_groups(
    left: Mapping[str, FeatureSummary], right: Mapping[str, FeatureSummary]
) -> dict[str, FeatureSummary]:
    merged = dict(left)
    for key, summary in right.items():
        merged[key] = merged[key].merge(summary) if key in merged else summary
    return merged


@dataclass
class DatasetSummary:
    """What a dataset job keeps about all its examples; merges exactly with another part.

    Attributes:
        examples: examples processed (explained or failed).
        failed: examples that failed (their errors are in the shards).
        features: the attributions of every explained example.
        outputs: per-example F(x), F(x′) and the completeness gap (:data:`OUTPUT_NAMES`).
        cohorts: cohort name (``"column=value"`` or a predicate's name) → its summary.
        classes: predicted class label → the summary of examples predicted so.
        metadata: what produced it (task, model, baseline, steps, feature kind, ...).
    """

    examples: int = 0
    failed: int = 0
    features: FeatureSummary = field(default_factory=FeatureSummary)
    outputs: FeatureSummary = field(default_factory=FeatureSummary)
    cohorts: dict[str, FeatureSummary] = field(default_factory=dict)
    classes: dict[str, FeatureSummary] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def explained(self) -> int:
        return self.examples - self.failed

    def merge(self, other: DatasetSummary) -> DatasetSummary:
        """The summary of both parts (metadata: this one's, which the parts must share)."""
        return DatasetSummary(
            examples=self.examples + other.examples,
            failed=self.failed + other.failed,
            features=self.features.merge(other.features),
            outputs=self.outputs.merge(other.outputs),
            cohorts=_merge_groups(self.cohorts, other.cohorts),
            classes=_merge_groups(self.classes, other.classes),
            metadata=dict(self.metadata or other.metadata),
        )

    def cohort(self, name: str) -> FeatureSummary:
        try:
            return self.cohorts[name]
        except KeyError:
            known = ", ".join(sorted(self.cohorts)) or "none"
            raise KeyError(f"no cohort {name!r} in this summary (cohorts: {known})") from None

    def mean_abs_delta(self) -> float:
        """The mean ``|F(x) − F(x′) − Σ a|`` over explained examples (NaN when none)."""
        if "delta" not in self.outputs.names:
            return math.nan
        return float(self.outputs.mean_abs[self.outputs.index("delta")])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "examples": self.examples,
            "failed": self.failed,
            "features": self.features.to_dict(),
            "outputs": self.outputs.to_dict(),
            "cohorts": {k: v.to_dict() for k, v in self.cohorts.items()},
            "classes": {k: v.to_dict() for k, v in self.classes.items()},
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetSummary:
        if data.get("format") != _FORMAT:
            raise ValueError(f"not an intgrad dataset summary (expected format {_FORMAT!r})")
        return cls(
            examples=int(data["examples"]),
            failed=int(data["failed"]),
            features=FeatureSummary.from_dict(data["features"]),
            outputs=FeatureSummary.from_dict(data["outputs"]),
            cohorts={k: FeatureSummary.from_dict(v) for k, v in data["cohorts"].items()},
            classes={k: FeatureSummary.from_dict(v) for k, v in data["classes"].items()},
            metadata=dict(data.get("metadata", {})),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the summary as JSON atomically; a directory gets ``summary.json`` inside."""
        target = Path(path)
        if target.is_dir():
            target = target / SUMMARY_FILE
        atomic_write_text(target, json.dumps(self.to_dict(), separators=(",", ":")))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DatasetSummary:
        """Read a summary file, or a job directory's ``summary.json``."""
        source = Path(path)
        if source.is_dir():
            source = source / SUMMARY_FILE
        if not source.is_file():
            raise FileNotFoundError(f"no dataset summary at {str(source)!r}")
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{str(source)!r} is not a JSON dataset summary: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{str(source)!r} is not a JSON dataset summary")
        return cls.from_dict(data)
