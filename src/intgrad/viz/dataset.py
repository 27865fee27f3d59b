"""Global views of a dataset's attributions as Display objects: importance, beeswarm, cohorts.

Every Display follows scikit-learn's plotting API: a ``from_...`` class method computes all the
arrays once (NumPy and pandas only), ``plot(ax=None, **kwargs)`` draws them with matplotlib and
keeps ``ax_`` and ``figure_``, and ``save(path)`` writes the figure as a PNG atomically. This
module imports matplotlib only inside ``plot``, so the arrays can be computed (and tested) without
it. A new figure is built on the Agg canvas, outside pyplot, so no global figure state is created.

Signed and unsigned importance go together: a bar of mean ``|a|`` alone hides whether a feature
pushes the output up or down, or both in turn (shap#2692), so :class:`ImportanceDisplay` pairs it
with the signed mean and its confidence interval.

References:
    Lundberg & Lee (2017), "A Unified Approach to Interpreting Model Predictions", NeurIPS
    (the beeswarm and dependence plots of SHAP).
    scikit-learn, "Developing with the Plotting API", doc/developers/plotting.rst.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from intgrad.datasets.summary import DatasetSummary, FeatureSummary, normal_quantile
from intgrad.viz._display import Display, new_axes
from intgrad.viz.heatmaps import DEFAULT_CMAP, DEFAULT_SIGNED_CMAP

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "BeeswarmDisplay",
    "ClassMapsDisplay",
    "CohortDisplay",
    "DependenceDisplay",
    "ImportanceDisplay",
    "TokenImportanceDisplay",
]

_POSITIVE, _NEGATIVE, _MAGNITUDE = "#d6604d", "#4393c3", "0.75"  # the ends of RdBu_r, and grey
_VALUE_CMAP = "coolwarm"  # feature value: low (blue) to high (red)
_MISSING_COLOR = "0.6"
_SWARM_BINS = 100
_SWARM_HALF_WIDTH = 0.4
_MAX_BINS = 10
_ROWS_PER_BIN = 30
_MAX_COLOR_TICKS = 10

FloatArray = NDArray[np.float64]


# --- checks shared by the displays ------------------------------------------------------------


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_top(top: int) -> int:
    return _positive_int("top", top)


def _feature_summary(summary: DatasetSummary | FeatureSummary) -> FeatureSummary:
    """The all-examples feature summary of ``summary``, checked to hold an observation."""
    if isinstance(summary, DatasetSummary):
        summary = summary.features
    if not isinstance(summary, FeatureSummary):
        raise TypeError(
            f"expected a DatasetSummary or FeatureSummary, got {type(summary).__name__}"
        )
    if not summary.names or not summary.count.any():
        raise ValueError("the summary is empty: no feature has an observation")
    return summary


def _feature_kind(summary: DatasetSummary | FeatureSummary) -> str | None:
    if isinstance(summary, DatasetSummary):
        kind = summary.metadata.get("feature_kind")
        return None if kind is None else str(kind)
    return None


def _check_kind(display: str, summary: DatasetSummary | FeatureSummary, kinds: set[str]) -> None:
    kind = _feature_kind(summary)
    if kind is not None and kind not in kinds:
        wanted = " or ".join(repr(k) for k in sorted(kinds))
        raise ValueError(f"{display} needs a summary of {wanted} features, got {kind!r} features")


def _top_by_mean_abs(summary: FeatureSummary, keep: NDArray[np.bool_], top: int) -> list[int]:
    """Indices of the ``top`` kept features by mean ``|a|``, largest first (stable on ties)."""
    order = np.argsort(-summary.mean_abs, kind="stable")
    return [int(i) for i in order if keep[i]][:top]


def _label(text: object) -> str:
    # A "$" in a token or column name would start matplotlib's mathtext.
    return str(text).replace("$", r"\$")


# --- matplotlib, imported only here ------------------------------------------------------------


def _value_colorbar(ax: Axes, label: str, categories: tuple[str, ...] | None = None) -> Any:
    """A colour bar for values normalised to [0, 1]: ``low``/``high``, or the category names."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=_VALUE_CMAP)
    figure: Any = ax.figure  # the subfigure, when ax is in one
    bar = figure.colorbar(mappable, ax=ax, aspect=40, pad=0.02)
    if categories is not None and 1 < len(categories) <= _MAX_COLOR_TICKS:
        bar.set_ticks(
            np.linspace(0.0, 1.0, len(categories)), labels=[_label(c) for c in categories]
        )
    else:
        bar.set_ticks([0.0, 1.0], labels=["low", "high"])
    bar.set_label(_label(label))
    return bar


def _value_cmap() -> Any:
    import matplotlib

    return matplotlib.colormaps[_VALUE_CMAP].with_extremes(bad=_MISSING_COLOR)


def _rows_height(rows: float) -> float:
    return min(2.0 + 0.38 * rows, 16.0)


def _signed_bars(
    ax: Axes,
    y: FloatArray,
    height: float,
    mean: FloatArray,
    low: FloatArray,
    high: FloatArray,
    colors: Any,
    label: str,
    kwargs: Mapping[str, Any],
) -> Any:
    """Bars of ``mean`` at ``y`` with error bars from ``low`` to ``high`` (NaN: none drawn)."""
    error = np.stack([mean - low, high - mean])
    style = {"color": colors, "ecolor": "0.2", "capsize": 2.0, "label": label, **kwargs}
    return ax.barh(y, mean, height=height, xerr=error, **style)


def _importance_legend(ax: Axes, level: float) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=_MAGNITUDE, label="mean |a|"),
        Patch(color=_POSITIVE, label="signed mean > 0"),
        Patch(color=_NEGATIVE, label="signed mean < 0"),
    ]
    ax.legend(
        handles=handles, loc="lower right", fontsize="small", title=f"error bars: {level:.0%} CI"
    )


# --- 1. importance: mean |a| and the signed mean ------------------------------------------------


class ImportanceDisplay(Display):
    """Global feature importance: mean ``|a|`` paired with the signed mean and its interval.

    Each feature gets two bars on one attribution axis: a grey bar of the mean ``|a|`` and,
    beside it, a bar of the signed mean (red when positive, blue when negative) with its
    normal-approximation confidence interval as an error bar. The same axis makes them
    comparable: a signed mean near the mean ``|a|`` is a consistent push one way, one near zero
    under a long grey bar an effect whose sign varies between examples.

    Args:
        names: shape (features,), the features, most important first.
        mean_abs: shape (features,), the mean of ``|attribution|``.
        mean: shape (features,), the signed mean attribution.
        ci_low, ci_high: shape (features,), the interval of the signed mean (NaN under two
            observations).
        counts: shape (features,), int, observations of each feature.
        level: the interval's confidence level, in (0, 1).

    Attributes:
        ax_: the :class:`~matplotlib.axes.Axes` drawn into, after :meth:`plot`.
        figure_: its (root) :class:`~matplotlib.figure.Figure`, after :meth:`plot`.
    """

    def __init__(
        self,
        names: Sequence[str],
        mean_abs: ArrayLike,
        mean: ArrayLike,
        ci_low: ArrayLike,
        ci_high: ArrayLike,
        counts: ArrayLike,
        level: float = 0.95,
    ) -> None:
        self.names = tuple(str(n) for n in names)
        self.mean_abs = np.asarray(mean_abs, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.ci_low = np.asarray(ci_low, dtype=np.float64)
        self.ci_high = np.asarray(ci_high, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        arrays = (self.mean_abs, self.mean, self.ci_low, self.ci_high, self.counts)
        if any(a.shape != (len(self.names),) for a in arrays):
            raise ValueError(f"every array must have shape ({len(self.names)},) like names")
        self.level = float(level)

    @classmethod
    def _of(cls, summary: FeatureSummary, chosen: Sequence[int], level: float) -> ImportanceDisplay:
        low, high = summary.confidence_interval(level)
        take = np.asarray(chosen, dtype=np.int64)
        return cls(
            [summary.names[i] for i in chosen],
            summary.mean_abs[take],
            summary.mean[take],
            low[take],
            high[take],
            summary.count[take],
            level,
        )

    @classmethod
    def from_summary(
        cls, summary: DatasetSummary | FeatureSummary, top: int = 15, level: float = 0.95
    ) -> ImportanceDisplay:
        """The ``top`` observed features by mean ``|a|`` of ``summary``.

        Args:
            summary: a dataset summary (its all-examples features are used) or one feature
                summary, e.g. ``summary.cohort("sex=Male")``.
            top: how many features to keep, >= 1 (all of them when fewer).
            level: the confidence level of the signed mean's interval, in (0, 1).
        """
        top, features = _check_top(top), _feature_summary(summary)
        normal_quantile(level)
        return cls._of(features, _top_by_mean_abs(features, features.count > 0, top), level)

    def _tick_labels(self, show_counts: bool) -> list[str]:
        if not show_counts:
            return [_label(n) for n in self.names]
        return [f"{_label(n)} ({c:,})" for n, c in zip(self.names, self.counts, strict=True)]

    def plot(
        self, ax: Axes | None = None, *, show_counts: bool = False, **kwargs: Any
    ) -> ImportanceDisplay:
        """Draw the paired bars, most important feature on top.

        Args:
            ax: the axes to draw into; a new figure when None.
            show_counts: whether the tick labels give each feature's observation count.
            **kwargs: passed to both :meth:`~matplotlib.axes.Axes.barh` calls.
        """
        ax = new_axes(type(self).__name__, ax, (7.0, _rows_height(len(self.names))))
        y = np.arange(len(self.names), dtype=np.float64)
        style = {"height": 0.4, "color": _MAGNITUDE, "label": "mean |a|", **kwargs}
        ax.barh(y - 0.2, self.mean_abs, **style)
        colors = np.where(self.mean >= 0, _POSITIVE, _NEGATIVE).tolist()
        label = f"signed mean ({self.level:.0%} CI)"
        _signed_bars(ax, y + 0.2, 0.4, self.mean, self.ci_low, self.ci_high, colors, label, kwargs)
        ax.axvline(0.0, color="0.3", linewidth=0.8)
        ax.set_yticks(y, self._tick_labels(show_counts))
        ax.set_ylim(len(self.names) - 0.5, -0.5)
        ax.set_xlabel("attribution")
        _importance_legend(ax, self.level)
        self._keep(ax)
        return self


# --- 5. tokens -----------------------------------------------------------------------------------


class TokenImportanceDisplay(ImportanceDisplay):
    """Global token importance for a text dataset: :class:`ImportanceDisplay` over tokens.

    One feature per token string; a token's count is its number of occurrences, shown in its
    tick label. Only tokens seen at least ``min_count`` times are ranked, so that a token seen
    once with a large attribution (and no interval) does not crowd out the well-estimated ones.

    Args:
        as :class:`ImportanceDisplay`, plus ``min_count``, the threshold that was applied.
    """

    def __init__(self, *args: Any, min_count: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.min_count = int(min_count)

    @classmethod
    def from_summary(  # type: ignore[override]
        cls,
        summary: DatasetSummary | FeatureSummary,
        top: int = 20,
        min_count: int = 5,
        level: float = 0.95,
    ) -> TokenImportanceDisplay:
        """The ``top`` tokens by mean ``|a|`` among those seen at least ``min_count`` times.

        Args:
            summary: a dataset summary of ``"tokens"`` features, or a feature summary.
            top: how many tokens to keep, >= 1.
            min_count: the fewest occurrences a token needs to be ranked, >= 1.
            level: the confidence level of the signed mean's interval, in (0, 1).
        """
        top = _check_top(top)
        min_count = _positive_int("min_count", min_count)
        _check_kind(cls.__name__, summary, {"tokens"})
        features = _feature_summary(summary)
        normal_quantile(level)
        keep = features.count >= min_count
        if not keep.any():
            raise ValueError(
                f"no token occurs at least min_count={min_count} times "
                f"(the most frequent occurs {int(features.count.max())} times)"
            )
        chosen = _top_by_mean_abs(features, keep, top)
        base = ImportanceDisplay._of(features, chosen, level)
        arrays = (base.mean_abs, base.mean, base.ci_low, base.ci_high, base.counts)
        return cls(base.names, *arrays, level=level, min_count=min_count)

    def plot(
        self, ax: Axes | None = None, *, show_counts: bool = True, **kwargs: Any
    ) -> TokenImportanceDisplay:
        """Draw the paired bars; tick labels give each token's occurrences unless told not to."""
        super().plot(ax, show_counts=show_counts, **kwargs)
        self.ax_.set_ylabel("token (occurrences)" if show_counts else "token")
        return self


# --- tables of per-example results --------------------------------------------------------------


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - pandas comes with the frames
        raise ImportError(
            "per-example displays need pandas: pip install 'intgrad[datasets]' (or pandas)"
        ) from error
    return pd


def _attribution_matrix(attributions: Any) -> FloatArray:
    """``attributions`` as float64 (examples, features), checked to be a finite wide table."""
    pd = _pandas()
    if not isinstance(attributions, pd.DataFrame):
        raise TypeError(f"attributions must be a pandas DataFrame, got {type(attributions)}")
    if {"token", "attribution"} <= set(attributions.columns):
        raise ValueError(
            "attributions is a text job's long table (one row per token); "
            "use TokenImportanceDisplay on the job's summary instead"
        )
    if attributions.empty:
        raise ValueError(
            f"attributions is empty: shape {attributions.shape}, need >= 1 row and column"
        )
    if attributions.columns.has_duplicates:
        raise ValueError("attributions has duplicate column names")
    try:
        matrix = attributions.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("attributions must hold numbers only (examples × features)") from None
    if not np.isfinite(matrix).all():
        raise ValueError("attributions must be finite (found NaN or inf)")
    return matrix


def _aligned_values(values: Any, attributions: Any) -> Any:
    """``values`` with ``attributions``' columns, in order; the index must be the same."""
    pd = _pandas()
    if not isinstance(values, pd.DataFrame):
        raise TypeError(f"values must be a pandas DataFrame, got {type(values)}")
    missing = [c for c in attributions.columns if c not in values.columns]
    if missing:
        raise ValueError(f"values lacks the columns {missing!r} that attributions has")
    if not values.index.equals(attributions.index):
        raise ValueError("values must have the same index (examples) as attributions")
    return values[list(attributions.columns)]


def _encode(column: Any) -> tuple[FloatArray, tuple[str, ...] | None]:
    """A column as floats: numbers as they are, or category codes; missing values are NaN.

    Returns the floats and, for a categorical column, its categories (code ``i`` is
    ``categories[i]``; an ordered categorical keeps its order, others are sorted).
    """
    pd = _pandas()
    categorical = isinstance(column.dtype, pd.CategoricalDtype)
    if not categorical and pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), None
    codes_of = column.cat if categorical else pd.Categorical(column)
    codes = np.asarray(codes_of.codes, dtype=np.float64)
    codes[codes < 0] = np.nan
    return codes, tuple(str(c) for c in codes_of.categories)


def _unit_scale(encoded: FloatArray, categories: tuple[str, ...] | None) -> FloatArray:
    """Values mapped to [0, 1] for colouring (NaN stays NaN, drawn grey).

    Categories: code / (categories − 1). Numbers: clipped to their 5th–95th percentiles, as
    SHAP does so that a few outliers do not wash out the rest (min–max when those coincide).
    """
    if categories is not None:
        if len(categories) < 2:
            return np.where(np.isfinite(encoded), 0.5, np.nan)
        return encoded / (len(categories) - 1)
    finite = encoded[np.isfinite(encoded)]
    if not finite.size:
        return np.full_like(encoded, np.nan)
    low, high = np.percentile(finite, [5.0, 95.0])
    if high <= low:
        low, high = finite.min(), finite.max()
    if high <= low:
        return np.where(np.isfinite(encoded), 0.5, np.nan)
    return np.clip((encoded - low) / (high - low), 0.0, 1.0)


def _swarm_offsets(
    x: FloatArray, bin_width: float, rng: np.random.Generator, half_width: float
) -> FloatArray:
    """Offsets across a swarm's axis that stack points sharing a bin of ``x``: 0, +1, −1, +2, …

    Points fall into bins of ``bin_width`` along ``x``; within a bin they are visited in an order
    drawn from ``rng`` (so the stacking does not follow the rows' order) and placed alternately
    above and below the centre, so a bin's spread grows with the number of points in it: the
    local density. The offsets are scaled so that the densest bin spans at most ``half_width``
    each side. Deterministic for a given generator state.
    """
    if not x.size:
        return np.zeros(0)
    bins = np.floor((x - x.min()) / bin_width) if bin_width > 0 else np.zeros_like(x)
    visit = np.lexsort((rng.permutation(x.size), bins))
    sorted_bins = bins[visit]
    starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, x.size]))
    rank = np.arange(x.size) - run
    layer = np.ceil(rank / 2) * np.where(rank % 2 == 1, 1.0, -1.0)
    offsets = np.empty(x.size)
    offsets[visit] = layer
    return offsets * (half_width / (np.abs(offsets).max() + 1.0))


def _subsample(rows: int, max_points: int, rng: np.random.Generator) -> NDArray[np.int64]:
    max_points = _positive_int("max_points", max_points)
    if rows <= max_points:
        return np.arange(rows, dtype=np.int64)
    return np.sort(rng.choice(rows, size=max_points, replace=False)).astype(np.int64)


# --- 2. beeswarm ---------------------------------------------------------------------------------


class BeeswarmDisplay(Display):
    """SHAP's beeswarm: one row per feature, one point per example at its attribution.

    Points are spread across their row by local density (:func:`_swarm_offsets`: bins of
    1/100 of the plotted attributions' range, so the stacking follows the density as drawn) and
    coloured by the example's value of that feature, normalised per feature to [0, 1]:
    numbers clipped to their 5th–95th percentiles, categories by their code. Missing values are
    grey.

    Args:
        names: shape (features,), most important (mean ``|a|``) first; row 0 is drawn on top.
        mean_abs: shape (features,), the mean ``|a|`` over all rows (before subsampling).
        attributions: shape (features, points), each point's attribution.
        offsets: shape (features, points), in [−0.4, 0.4], each point's offset from its row.
        colors: shape (features, points), in [0, 1] or NaN (missing); None without values.
        examples: shape (points,), the index labels of the drawn rows.

    Attributes:
        ax_, figure_: the axes and (root) figure, after :meth:`plot`.
    """

    def __init__(
        self,
        names: Sequence[str],
        mean_abs: ArrayLike,
        attributions: ArrayLike,
        offsets: ArrayLike,
        colors: ArrayLike | None,
        examples: ArrayLike,
    ) -> None:
        self.names = tuple(str(n) for n in names)
        self.mean_abs = np.asarray(mean_abs, dtype=np.float64)
        self.attributions = np.asarray(attributions, dtype=np.float64)
        self.offsets = np.asarray(offsets, dtype=np.float64)
        self.colors = None if colors is None else np.asarray(colors, dtype=np.float64)
        self.examples = np.asarray(examples)
        shape = (len(self.names), self.examples.shape[0])
        arrays = [self.attributions, self.offsets] + ([] if self.colors is None else [self.colors])
        if self.mean_abs.shape != shape[:1] or any(a.shape != shape for a in arrays):
            raise ValueError(f"arrays must have shape {shape} (features, points)")

    @classmethod
    def from_frames(
        cls,
        attributions: Any,
        values: Any | None = None,
        top: int = 15,
        max_points: int = 2000,
        seed: int = 0,
    ) -> BeeswarmDisplay:
        """The ``top`` features by mean ``|a|``, at most ``max_points`` examples.

        Args:
            attributions: a DataFrame, rows = examples, columns = features, finite floats.
            values: a DataFrame with the same index and columns: the feature values (numbers,
                or strings/categoricals); None to draw the points uncoloured.
            top: how many features, >= 1.
            max_points: the most examples drawn, >= 1; more are subsampled without replacement.
            seed: seeds the subsample and the order of stacking within a bin.
        """
        top, matrix = _check_top(top), _attribution_matrix(attributions)
        frame = None if values is None else _aligned_values(values, attributions)
        rng = np.random.default_rng(seed)
        rows = _subsample(matrix.shape[0], max_points, rng)
        mean_abs = np.abs(matrix).mean(axis=0)
        chosen = np.argsort(-mean_abs, kind="stable")[:top]
        shown = matrix[rows][:, chosen].T
        span = float(shown.max() - shown.min())
        offsets = np.stack(
            [_swarm_offsets(x, span / _SWARM_BINS, rng, _SWARM_HALF_WIDTH) for x in shown]
        )
        colors = None
        if frame is not None:
            colors = np.stack([_unit_scale(*_encode(frame.iloc[:, j]))[rows] for j in chosen])
        names = [str(attributions.columns[j]) for j in chosen]
        examples = attributions.index.to_numpy()[rows]
        return cls(names, mean_abs[chosen], shown, offsets, colors, examples)

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> BeeswarmDisplay:
        """Draw one scatter per feature (row 0 on top), and a colour bar when coloured.

        Args:
            ax: the axes to draw into; a new figure when None.
            **kwargs: passed to every :meth:`~matplotlib.axes.Axes.scatter` call.
        """
        ax = new_axes(type(self).__name__, ax, (7.0, _rows_height(len(self.names))))
        cmap = _value_cmap()
        for row, (x, offset) in enumerate(zip(self.attributions, self.offsets, strict=True)):
            color: dict[str, Any] = {"color": "0.4"}
            if self.colors is not None:
                color = {"c": self.colors[row], "cmap": cmap, "vmin": 0.0, "vmax": 1.0}
            style = {"s": 10.0, "linewidths": 0.0, "alpha": 0.9, **color, **kwargs}
            ax.scatter(x, row + offset, rasterized=True, **style)
        ax.axvline(0.0, color="0.3", linewidth=0.8)
        ax.set_yticks(np.arange(len(self.names)), [_label(n) for n in self.names])
        ax.set_ylim(len(self.names) - 0.5, -0.5)
        ax.set_xlabel("attribution")
        if self.colors is not None:
            _value_colorbar(ax, "feature value")
        self._keep(ax)
        return self


# --- 3. dependence -------------------------------------------------------------------------------


def _value_groups(encoded: FloatArray, categorical: bool) -> list[NDArray[np.int64]]:
    """Rows grouped by the feature's value: by category, or by equal-size bins of sorted value.

    A numeric feature gets between 1 and 10 bins of about 30 rows or more each.
    """
    finite = np.flatnonzero(np.isfinite(encoded))
    if categorical:
        return [finite[encoded[finite] == code] for code in np.unique(encoded[finite])]
    ordered = finite[np.argsort(encoded[finite], kind="stable")]
    bins = int(np.clip(ordered.size // _ROWS_PER_BIN, 1, _MAX_BINS))
    return [b.astype(np.int64) for b in np.array_split(ordered, bins)]


def _abs_correlation(a: FloatArray, b: FloatArray) -> float:
    valid = np.isfinite(b)
    a, b = a[valid], b[valid]
    if a.size < 3:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return abs(float((a * b).sum())) / scale if scale > 0 else 0.0


def _interaction_scores(
    attribution: FloatArray,
    groups: Sequence[NDArray[np.int64]],
    candidates: Mapping[str, FloatArray],
) -> dict[str, float]:
    """How strongly each candidate's values go with the attribution within value groups.

    A candidate's score is the mean over ``groups`` (weighted by their sizes) of the absolute
    Pearson correlation, within the group, between the attribution and the candidate's values;
    in [0, 1]. A group of under 3 valid rows, or one where either side is constant, counts as 0;
    NaN values are left out.
    """
    total = sum(g.size for g in groups)
    scores = {}
    for name, values in candidates.items():
        weighted = sum(g.size * _abs_correlation(attribution[g], values[g]) for g in groups)
        scores[name] = weighted / total if total else 0.0
    return scores


class DependenceDisplay(Display):
    """One feature's attribution against its value, coloured by a second feature.

    A numeric feature is drawn at its values; a categorical one at its category codes with the
    points of a category spread sideways by density (as in the beeswarm), categories as ticks.
    Examples whose value of the feature is missing are left out.

    Args:
        feature: the feature drawn.
        x: shape (points,), the horizontal positions (values, or codes plus spread).
        y: shape (points,), the feature's attributions.
        categories: the categories of a categorical feature (code ``i`` = ``categories[i]``),
            else None.
        color_by: the colouring feature, or None.
        colors: shape (points,), ``color_by``'s values scaled to [0, 1] (NaN: missing), or None.
        color_categories: ``color_by``'s categories when categorical, else None.
        color_scores: feature → interaction score in [0, 1] when ``color_by`` was ``"auto"``
            (see :meth:`from_frames`), else empty.
        examples: shape (points,), the index labels of the drawn rows.

    Attributes:
        ax_, figure_: the axes and (root) figure, after :meth:`plot`.
    """

    def __init__(
        self,
        feature: str,
        x: ArrayLike,
        y: ArrayLike,
        *,
        categories: tuple[str, ...] | None = None,
        color_by: str | None = None,
        colors: ArrayLike | None = None,
        color_categories: tuple[str, ...] | None = None,
        color_scores: Mapping[str, float] | None = None,
        examples: ArrayLike | None = None,
    ) -> None:
        self.feature = str(feature)
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.categories = categories
        self.color_by = color_by
        self.colors = None if colors is None else np.asarray(colors, dtype=np.float64)
        self.color_categories = color_categories
        self.color_scores = dict(color_scores or {})
        self.examples = np.arange(self.x.size) if examples is None else np.asarray(examples)
        arrays = [self.y, self.examples] + ([] if self.colors is None else [self.colors])
        if self.x.ndim != 1 or any(a.shape != self.x.shape for a in arrays):
            raise ValueError("x, y, colors and examples must all have shape (points,)")

    @classmethod
    def from_frames(
        cls,
        attributions: Any,
        values: Any,
        feature: str,
        color_by: str | None = "auto",
        seed: int = 0,
    ) -> DependenceDisplay:
        """Compute the points for ``feature`` from per-example frames.

        Args:
            attributions: a DataFrame, rows = examples, columns = features, finite floats.
            values: a DataFrame with the same index and columns: the feature values.
            feature: the column to draw.
            color_by: ``"auto"``, a column name, or None for no colour. ``"auto"`` takes the
                other feature whose values go most with the residual of ``feature``'s
                attribution: the rows are grouped by ``feature``'s value (its categories, or up
                to 10 equal-count bins of sorted value, about 30 rows or more each), and a
                candidate scores the size-weighted mean over the groups of the absolute
                correlation, within the group, of the attribution with the candidate's values
                (categories by code). Within a group ``feature``'s value is nearly fixed, so
                this is the correlation with what that value does not explain; an interaction
                ``a ≈ x·z`` scores high for ``z`` even when the global correlation vanishes
                (the rule of SHAP's ``approximate_interactions``). The highest score wins, the
                first column on ties; None when no candidate scores above 0. The scores are
                kept in ``color_scores``.
            seed: seeds the sideways spread of a categorical feature's points.
        """
        matrix = _attribution_matrix(attributions)
        frame = _aligned_values(values, attributions)
        columns = [str(c) for c in attributions.columns]
        if feature not in columns:
            raise ValueError(f"no feature {feature!r} in attributions (features: {columns})")
        if color_by is not None and color_by != "auto" and color_by not in columns:
            raise ValueError(f"color_by must be 'auto', None or a feature, got {color_by!r}")
        column = columns.index(feature)
        encoded, categories = _encode(frame.iloc[:, column])
        attribution = matrix[:, column]
        scores: dict[str, float] = {}
        if color_by == "auto":
            groups = _value_groups(encoded, categorical=categories is not None)
            color_by, scores = cls._auto_color(frame, columns, column, groups, attribution)
        shown = np.flatnonzero(np.isfinite(encoded))
        x = encoded[shown]
        if categories is not None:
            x = x + cls._category_spread(x, attribution[shown], seed)
        color_args: dict[str, Any] = {}
        if color_by is not None:
            color_values, color_categories = _encode(frame.iloc[:, columns.index(color_by)])
            colors = _unit_scale(color_values, color_categories)[shown]
            color_args = {"colors": colors, "color_categories": color_categories}
        return cls(
            feature,
            x,
            attribution[shown],
            categories=categories,
            color_by=color_by,
            color_scores=scores,
            examples=attributions.index.to_numpy()[shown],
            **color_args,
        )

    @staticmethod
    def _auto_color(
        frame: Any,
        columns: list[str],
        column: int,
        groups: Sequence[NDArray[np.int64]],
        attribution: FloatArray,
    ) -> tuple[str | None, dict[str, float]]:
        candidates = {
            name: _encode(frame.iloc[:, j])[0] for j, name in enumerate(columns) if j != column
        }
        scores = _interaction_scores(attribution, groups, candidates)
        if not scores or max(scores.values()) <= 0.0:
            return None, scores
        return max(scores, key=scores.__getitem__), scores

    @staticmethod
    def _category_spread(codes: FloatArray, attribution: FloatArray, seed: int) -> FloatArray:
        rng = np.random.default_rng(seed)
        span = float(attribution.max() - attribution.min()) if attribution.size else 0.0
        spread = np.zeros_like(codes)
        for code in np.unique(codes):
            rows = np.flatnonzero(codes == code)
            spread[rows] = _swarm_offsets(attribution[rows], span / _SWARM_BINS, rng, 0.35)
        return spread

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> DependenceDisplay:
        """Draw the scatter, and a colour bar named after ``color_by`` when coloured.

        Args:
            ax: the axes to draw into; a new figure when None.
            **kwargs: passed to :meth:`~matplotlib.axes.Axes.scatter`.
        """
        ax = new_axes(type(self).__name__, ax, (6.5, 4.5))
        color: dict[str, Any] = {"color": "0.4"}
        if self.colors is not None:
            color = {"c": self.colors, "cmap": _value_cmap(), "vmin": 0.0, "vmax": 1.0}
        style = {"s": 12.0, "linewidths": 0.0, "alpha": 0.9, **color, **kwargs}
        ax.scatter(self.x, self.y, rasterized=True, **style)
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        if self.categories is not None:
            ticks = np.arange(len(self.categories))
            labels = [_label(c) for c in self.categories]
            # Long or many category names overlap when horizontal: slant them.
            slanted = sum(len(label) for label in labels) > 40
            ax.set_xticks(
                ticks,
                labels,
                rotation=30 if slanted else 0,
                horizontalalignment="right" if slanted else "center",
            )
        ax.set_xlabel(f"value of {_label(self.feature)}")
        ax.set_ylabel(f"attribution of {_label(self.feature)}")
        if self.color_by is not None:
            _value_colorbar(ax, self.color_by, self.color_categories)
        self._keep(ax)
        return self


# --- 4. cohorts ----------------------------------------------------------------------------------


class CohortDisplay(Display):
    """Grouped bars of each feature's importance in each cohort, next to all examples.

    By default the bars show mean ``|a|`` without error bars: a summary keeps the spread of the
    signed attributions only, not of ``|a|``, so no honest interval for mean ``|a|`` exists.
    ``plot(signed=True)`` draws the signed means instead, with their confidence intervals.
    Features are the ``top`` of all examples by mean ``|a|``; a feature never observed in a
    cohort has NaN there (no bar).

    Args:
        names: shape (features,), most important first.
        groups: shape (groups,), ``"all"`` then the cohorts' names.
        mean_abs, mean, ci_low, ci_high: shape (groups, features).
        counts: shape (groups, features), int, observations per group and feature.
        level: the intervals' confidence level.

    Attributes:
        ax_, figure_: the axes and (root) figure, after :meth:`plot`.
    """

    def __init__(
        self,
        names: Sequence[str],
        groups: Sequence[str],
        mean_abs: ArrayLike,
        mean: ArrayLike,
        ci_low: ArrayLike,
        ci_high: ArrayLike,
        counts: ArrayLike,
        level: float = 0.95,
    ) -> None:
        self.names, self.groups = tuple(names), tuple(groups)
        self.mean_abs = np.asarray(mean_abs, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.ci_low = np.asarray(ci_low, dtype=np.float64)
        self.ci_high = np.asarray(ci_high, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.level = float(level)
        shape = (len(self.groups), len(self.names))
        arrays = (self.mean_abs, self.mean, self.ci_low, self.ci_high, self.counts)
        if any(a.shape != shape for a in arrays):
            raise ValueError(f"every array must have shape {shape} (groups, features)")

    @classmethod
    def from_summary(
        cls,
        summary: DatasetSummary,
        cohorts: str | Sequence[str] | None = None,
        top: int = 10,
        level: float = 0.95,
    ) -> CohortDisplay:
        """All examples and the chosen cohorts over the ``top`` features of all examples.

        Args:
            summary: a dataset summary with cohorts.
            cohorts: cohort names (e.g. ``"sex=Male"``), in the order to draw; all, in the
                summary's order, when None.
            top: how many features, >= 1.
            level: the confidence level of the signed means' intervals, in (0, 1).
        """
        top = _check_top(top)
        if not isinstance(summary, DatasetSummary):
            raise TypeError(f"CohortDisplay needs a DatasetSummary, got {type(summary).__name__}")
        features = _feature_summary(summary)
        normal_quantile(level)
        chosen = cls._cohorts(summary, cohorts)
        names = [features.names[i] for i in _top_by_mean_abs(features, features.count > 0, top)]
        parts = [features.subset(names)] + [summary.cohorts[c].subset(names) for c in chosen]
        bounds = [p.confidence_interval(level) for p in parts]
        observed = np.stack([p.count for p in parts]) > 0
        mean_abs = np.where(observed, np.stack([p.mean_abs for p in parts]), np.nan)
        mean = np.where(observed, np.stack([p.mean for p in parts]), np.nan)
        low, high = (np.stack([b[k] for b in bounds]) for k in (0, 1))
        counts = np.stack([p.count for p in parts])
        return cls(names, ["all", *chosen], mean_abs, mean, low, high, counts, level)

    @staticmethod
    def _cohorts(summary: DatasetSummary, cohorts: str | Sequence[str] | None) -> list[str]:
        if not summary.cohorts:
            raise ValueError("the summary has no cohorts (the job was run without any)")
        if cohorts is None:
            return list(summary.cohorts)
        chosen = list(dict.fromkeys([cohorts] if isinstance(cohorts, str) else cohorts))
        if not chosen:
            raise ValueError("cohorts is empty; pass None for all of them")
        unknown = [c for c in chosen if c not in summary.cohorts]
        if unknown:
            known = ", ".join(summary.cohorts)
            raise ValueError(f"no cohort {unknown[0]!r} in this summary (cohorts: {known})")
        return chosen

    def plot(self, ax: Axes | None = None, *, signed: bool = False, **kwargs: Any) -> CohortDisplay:
        """Draw one group of bars per feature (most important on top), one bar per group.

        Args:
            ax: the axes to draw into; a new figure when None.
            signed: draw the signed means with their intervals instead of mean ``|a|``.
            **kwargs: passed to every :meth:`~matplotlib.axes.Axes.barh` call.
        """
        height = _rows_height(len(self.names) * max(1.0, len(self.groups) / 2.5))
        ax = new_axes(type(self).__name__, ax, (7.5, height))
        y = np.arange(len(self.names), dtype=np.float64)
        bar = 0.8 / len(self.groups)
        for g, group in enumerate(self.groups):
            centre = y - 0.4 + (g + 0.5) * bar
            color = f"C{g % 10}"
            if signed:
                low, high = self.ci_low[g], self.ci_high[g]
                _signed_bars(ax, centre, bar, self.mean[g], low, high, color, _label(group), kwargs)
            else:
                style = {"height": bar, "color": color, "label": _label(group), **kwargs}
                ax.barh(centre, np.nan_to_num(self.mean_abs[g]), **style)
        ax.axvline(0.0, color="0.3", linewidth=0.8)
        ax.set_yticks(y, [_label(n) for n in self.names])
        ax.set_ylim(len(self.names) - 0.5, -0.5)
        ax.set_xlabel(f"signed mean ({self.level:.0%} CI)" if signed else "mean |a|")
        ax.legend(loc="lower right", fontsize="small", title="cohort")
        self._keep(ax)
        return self


# --- 6. class maps -------------------------------------------------------------------------------


def _map_shape(summary: DatasetSummary) -> tuple[int, int]:
    shape = summary.metadata.get("map_shape")
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 2
        or not all(isinstance(s, int) and s >= 1 for s in shape)
    ):
        raise ValueError(
            f"metadata['map_shape'] must be [rows, cols] of positive ints, got {shape!r}"
        )
    return int(shape[0]), int(shape[1])


def _cell_names(rows: int, cols: int) -> tuple[str, ...]:
    return tuple(f"r{r}c{c}" for r in range(rows) for c in range(cols))


class ClassMapsDisplay(Display):
    """The mean attribution map of each predicted class, on one colour scale.

    The cell features ``"r{row}c{col}"`` of an image dataset are put back into their
    ``map_shape`` grid; each panel is one class, titled with its number of examples. Unsigned
    maps show mean ``|a|`` per cell on [0, max]; signed ones the signed mean on [−max, max],
    where max is the largest magnitude over all panels, so the panels compare directly.

    Args:
        classes: shape (classes,), the predicted labels drawn.
        maps: shape (classes, rows, cols), the mean (signed) or mean ``|a|`` per cell; NaN where
            a class has no observation of a cell.
        counts: shape (classes,), int, examples per class (a class's most observed cell).
        signed: whether ``maps`` are signed means.

    Attributes:
        vmin, vmax: the shared colour range.
        ax_: the axes whose area the panels fill (hidden), after :meth:`plot`.
        axes_: shape (classes,), the panels' axes, after :meth:`plot`.
        figure_: the (root) figure, after :meth:`plot`.
    """

    axes_: NDArray[np.object_]

    def __init__(
        self, classes: Sequence[str], maps: ArrayLike, counts: ArrayLike, signed: bool = False
    ) -> None:
        self.classes = tuple(str(c) for c in classes)
        self.maps = np.asarray(maps, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        if self.maps.ndim != 3 or self.maps.shape[0] != len(self.classes) or not self.classes:
            raise ValueError(f"maps must have shape ({len(self.classes)}, rows, cols)")
        if self.counts.shape != (len(self.classes),):
            raise ValueError(f"counts must have shape ({len(self.classes)},) like classes")
        self.signed = bool(signed)
        finite = np.abs(self.maps[np.isfinite(self.maps)])
        top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        self.vmin, self.vmax = (-top if self.signed else 0.0), top

    @classmethod
    def from_summary(
        cls, summary: DatasetSummary, classes: Sequence[str] | None = None, signed: bool = False
    ) -> ClassMapsDisplay:
        """Per-class maps from a dataset summary of ``"cells"`` features.

        Args:
            summary: a dataset summary of an image job (``feature_kind`` ``"cells"``, with
                ``metadata["map_shape"] = [rows, cols]``).
            classes: the predicted labels to draw, in order; all, in the summary's order,
                when None.
            signed: draw signed means (diverging colours) instead of mean ``|a|``.
        """
        if not isinstance(summary, DatasetSummary):
            raise TypeError(
                f"ClassMapsDisplay needs a DatasetSummary, got {type(summary).__name__}"
            )
        if _feature_kind(summary) != "cells":
            raise ValueError(
                f"ClassMapsDisplay needs a summary of 'cells' features (an image job), got "
                f"{summary.metadata.get('feature_kind')!r} features"
            )
        _feature_summary(summary)
        rows, cols = _map_shape(summary)
        names = _cell_names(rows, cols)
        if set(summary.features.names) != set(names):
            raise ValueError(f"the summary's features are not the cells of a {rows}×{cols} map")
        chosen = cls._classes(summary, classes)
        parts = [summary.classes[c].subset(names) for c in chosen]
        stat = [p.mean if signed else p.mean_abs for p in parts]
        maps = np.stack(
            [np.where(p.count > 0, s, np.nan) for p, s in zip(parts, stat, strict=True)]
        )
        counts = [int(p.count.max()) for p in parts]
        return cls(chosen, maps.reshape(len(chosen), rows, cols), counts, signed)

    @staticmethod
    def _classes(summary: DatasetSummary, classes: Sequence[str] | None) -> list[str]:
        if not summary.classes:
            raise ValueError("the summary has no per-class summaries")
        if classes is None:
            return list(summary.classes)
        chosen = list(
            dict.fromkeys(str(c) for c in ([classes] if isinstance(classes, str) else classes))
        )
        if not chosen:
            raise ValueError("classes is empty; pass None for all of them")
        unknown = [c for c in chosen if c not in summary.classes]
        if unknown:
            known = ", ".join(summary.classes)
            raise ValueError(f"no class {unknown[0]!r} in this summary (classes: {known})")
        return chosen

    def plot(self, ax: Axes | None = None, *, columns: int = 4, **kwargs: Any) -> ClassMapsDisplay:
        """Draw one panel per class in a grid filling ``ax``'s area, with one colour bar.

        Args:
            ax: a subplot axes whose area the panels share (it is hidden); a new figure when
                None.
            columns: the most panels per row, >= 1.
            **kwargs: passed to every :meth:`~matplotlib.axes.Axes.imshow` call.
        """
        columns = _positive_int("columns", columns)
        count = len(self.classes)
        ncols = min(count, columns)
        nrows = -(-count // ncols)
        ax = new_axes(type(self).__name__, ax, (2.6 * ncols + 1.0, 2.6 * nrows + 0.3))
        spec = ax.get_subplotspec()
        if spec is None:
            raise ValueError("ax must be a subplot (from add_subplot or subplots)")
        grid = spec.subgridspec(nrows, ncols)
        parent = ax.figure
        panels = [parent.add_subplot(grid[i // ncols, i % ncols]) for i in range(count)]
        cmap = DEFAULT_SIGNED_CMAP if self.signed else DEFAULT_CMAP
        style = {"cmap": cmap, "vmin": self.vmin, "vmax": self.vmax, **kwargs}
        images = [panel.imshow(m, **style) for panel, m in zip(panels, self.maps, strict=True)]
        for panel, label, n in zip(panels, self.classes, self.counts, strict=True):
            panel.set_title(f"{_label(label)} (n={n:,})", fontsize="medium")
            panel.set_axis_off()
        ax.set_axis_off()
        bar = parent.colorbar(images[0], ax=panels, shrink=0.9)
        bar.set_label("mean attribution" if self.signed else "mean |a|")
        self._keep(ax)
        self.axes_ = np.asarray(panels, dtype=object)
        return self
