"""A quantile sketch that merges exactly: DDSketch's logarithmic buckets over signed values.

Attributions are signed and span many orders of magnitude, so the sketch keeps, per bucket of
relative width ``2α/(1−α)``, an integer count (Masson, Rim & Lee 2019, "DDSketch: a fast and
fully-mergeable quantile sketch with relative-error guarantees", VLDB). Every quantile it
returns is within relative error ``α`` of a value of the data at that rank. The bucket grid is
fixed by ``α`` alone (no collapsing), so merging is the addition of integer counts: exact,
associative and commutative — a summary merged over shards in any order or grouping is the same.

Values with ``|v| <= MIN_MAGNITUDE`` share the zero bucket; magnitudes above ``MAX_MAGNITUDE``
are clipped to the top bucket. Between them ``α = 0.01`` gives at most ~5,500 buckets; a sketch
stores only the buckets it has seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_RELATIVE_ACCURACY",
    "MAX_MAGNITUDE",
    "MIN_MAGNITUDE",
    "QuantileSketch",
    "bucket_ids",
    "jensen_shannon",
]

DEFAULT_RELATIVE_ACCURACY = 0.01
MIN_MAGNITUDE = 1e-12
MAX_MAGNITUDE = 1e12


@dataclass(frozen=True)
class _Grid:
    """The bucket grid of one relative accuracy: bucket ``k`` holds ``(γ^(k−1), γ^k]``."""

    relative_accuracy: float

    @property
    def gamma(self) -> float:
        return (1 + self.relative_accuracy) / (1 - self.relative_accuracy)

    @property
    def offset(self) -> int:
        """Shifts the lowest bucket key to 1, so a signed id's sign is the value's sign."""
        return 1 - math.ceil(math.log(MIN_MAGNITUDE, self.gamma))

    @property
    def top(self) -> int:
        return math.ceil(math.log(MAX_MAGNITUDE, self.gamma)) + self.offset

    def ids(self, values: np.ndarray) -> np.ndarray:
        magnitude = np.clip(np.abs(values), MIN_MAGNITUDE, MAX_MAGNITUDE)
        keys = np.ceil(np.log(magnitude) / math.log(self.gamma)).astype(np.int64) + self.offset
        keys = np.clip(keys, 1, self.top)
        return np.where(np.abs(values) <= MIN_MAGNITUDE, 0, np.sign(values).astype(np.int64) * keys)

    def value(self, ids: np.ndarray) -> np.ndarray:
        """The representative of each bucket: within relative error α of all it holds."""
        ids = np.asarray(ids, dtype=np.int64)
        keys = np.abs(ids) - self.offset
        middle = 2 * np.power(self.gamma, keys.astype(np.float64)) / (self.gamma + 1)
        return np.where(ids == 0, 0.0, np.sign(ids) * middle)


def bucket_ids(
    values: np.ndarray, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY
) -> np.ndarray:
    """shape of ``values``, int64: the signed bucket id of each value (ascending with value)."""
    return _Grid(_checked_accuracy(relative_accuracy)).ids(np.asarray(values, dtype=np.float64))


def _checked_accuracy(relative_accuracy: float) -> float:
    if not 0 < relative_accuracy < 1:
        raise ValueError(f"relative_accuracy must be in (0, 1), got {relative_accuracy!r}")
    return float(relative_accuracy)


@dataclass
class QuantileSketch:
    """Counts of values per signed logarithmic bucket; ids ascend with the values they hold.

    Attributes:
        relative_accuracy: α, the bound on the relative error of a returned quantile.
        counts: bucket id → number of values in it (0 is the zero bucket).
    """

    relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY
    counts: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.relative_accuracy = _checked_accuracy(self.relative_accuracy)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, values: np.ndarray) -> None:
        """Count ``values`` (any shape, finite) into the sketch."""
        values = np.asarray(values, dtype=np.float64).ravel()
        if not np.isfinite(values).all():
            raise ValueError("a quantile sketch takes finite values only (got NaN or inf)")
        ids, counts = np.unique(_Grid(self.relative_accuracy).ids(values), return_counts=True)
        self.add_counts(ids, counts)

    def add_counts(self, ids: np.ndarray, counts: np.ndarray) -> None:
        """Add ``counts`` values to buckets ``ids`` (both shape (buckets,))."""
        for bucket, number in zip(ids.tolist(), counts.tolist(), strict=True):
            self.counts[bucket] = self.counts.get(bucket, 0) + number

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """A new sketch of both sets of values (exact: counts add)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError(
                "cannot merge sketches of different relative accuracy "
                f"({self.relative_accuracy} and {other.relative_accuracy})"
            )
        counts = dict(self.counts)
        for bucket, number in other.counts.items():
            counts[bucket] = counts.get(bucket, 0) + number
        return QuantileSketch(self.relative_accuracy, counts)

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array(sorted(self.counts), dtype=np.int64)
        return ids, np.array([self.counts[i] for i in ids.tolist()], dtype=np.int64)

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """The value at quantile(s) ``q`` in [0, 1] (lower rank, as ``np.quantile``'s "lower")."""
        qs = np.asarray(q, dtype=np.float64)
        if np.any((qs < 0) | (qs > 1)) or not np.isfinite(qs).all():
            raise ValueError(f"quantiles must lie in [0, 1], got {q!r}")
        if not self.counts:
            result = np.full(qs.shape, np.nan)
        else:
            ids, counts = self._sorted()
            rank = np.floor(qs * (counts.sum() - 1))
            position = np.searchsorted(np.cumsum(counts), rank, side="right")
            result = _Grid(self.relative_accuracy).value(ids[position])
        return float(result) if np.ndim(q) == 0 else result

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """shape of ``x``: the fraction of values in buckets wholly at or below each ``x``.

        A bucket counts as at or below ``x`` when its representative is; exact at bucket
        resolution, which is what a comparison of two sketches of one grid needs.
        """
        points = np.asarray(x, dtype=np.float64)
        if not self.counts:
            return np.full(points.shape, np.nan)
        ids, counts = self._sorted()
        representatives = _Grid(self.relative_accuracy).value(ids)
        below = np.searchsorted(representatives, points, side="right")
        cumulative = np.concatenate([[0], np.cumsum(counts)])
        return cumulative[below] / counts.sum()

    def to_dict(self) -> dict[str, Any]:
        ids = sorted(self.counts)
        return {
            "relative_accuracy": self.relative_accuracy,
            "ids": ids,
            "counts": [self.counts[i] for i in ids],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantileSketch:
        ids, counts = data["ids"], data["counts"]
        if len(ids) != len(counts):
            raise ValueError("a stored sketch has different numbers of ids and counts")
        counts_by_id = dict(zip(map(int, ids), map(int, counts), strict=True))
        return cls(float(data["relative_accuracy"]), counts_by_id)


def jensen_shannon(reference: QuantileSketch, current: QuantileSketch, bins: int = 20) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of two sketched distributions.

    The bins are the quantiles at ``i / bins`` of both sketches pooled (equal-mass bins, as drift
    monitors bin a feature), so the divergence does not depend on the sketch's fine grid, a
    sample of the same distribution scores near 0 and identical sketches exactly 0 — and a
    point mass that moves (a binary feature's attributions) still lands in other bins.

    Args:
        reference, current: sketches of one grid (the same relative accuracy).
        bins: number of pooled quantile bins (repeated edges, e.g. many zeros, merge).

    Returns:
        The divergence; NaN when either sketch is empty.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if reference.relative_accuracy != current.relative_accuracy:
        raise ValueError("compare sketches of the same relative accuracy")
    if not reference.counts or not current.counts:
        return math.nan
    pooled = reference.merge(current)
    edges = np.asarray(pooled.quantile(np.arange(0, bins + 1) / bins))
    inner = np.unique(edges)
    p, q = (np.diff(np.concatenate([[0.0], s.cdf(inner), [1.0]])) for s in (reference, current))
    middle = (p + q) / 2
    return float(0.5 * _kl(p, middle) + 0.5 * _kl(q, middle))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))
