"""Dataset Display objects: the arrays they compute, what they draw, and every refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.patches import Rectangle

from intgrad.datasets.summary import DatasetSummary, FeatureSummary
from intgrad.viz.dataset import (
    BeeswarmDisplay,
    ClassMapsDisplay,
    CohortDisplay,
    DependenceDisplay,
    ImportanceDisplay,
    TokenImportanceDisplay,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
Z95 = 1.959963984540054  # P(|Z| <= z) = 0.95
POSITIVE, NEGATIVE, MAGNITUDE = "#d6604d", "#4393c3", "0.75"
RTOL = 1e-12

_opened: list[Any] = []


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Clear every figure a test drew; the displays must leave no pyplot figure behind."""
    yield
    import matplotlib.pyplot as plt

    for figure in _opened:
        figure.clear()
    _opened.clear()
    assert plt.get_fignums() == []
    plt.close("all")


def _drawn(display: Any, **kwargs: Any) -> Any:
    """``display.plot(**kwargs)``, checked to return the display; its figure is closed later."""
    assert display.plot(**kwargs) is display
    _opened.append(display.figure_)
    return display


def _ticklabels(ax: Any, axis: str = "y") -> list[str]:
    labels = ax.get_yticklabels() if axis == "y" else ax.get_xticklabels()
    return [t.get_text() for t in labels]


def _bars(ax: Any) -> list[Rectangle]:
    """The axes' bars (rectangles), in drawing order."""
    assert all(isinstance(p, Rectangle) for p in ax.patches)
    return list(ax.patches)


def _errorbars(ax: Any) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def _hex(color: Any) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def matrix() -> tuple[list[str], np.ndarray]:
    """200 examples × 6 features of distinct scales and signs (seed 7)."""
    rng = np.random.default_rng(7)
    names = ["f0", "f1", "f2", "f3", "f4", "f5"]
    loc = np.array([0.5, -2.0, 0.05, 1.0, -0.3, 0.0])
    scale = np.array([1.0, 0.5, 3.0, 0.2, 0.1, 2.0])
    return names, loc + scale * rng.normal(size=(200, 6))


def _expected_importance(values: np.ndarray) -> dict[str, np.ndarray]:
    n = values.shape[0]
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / np.sqrt(n)
    return {
        "mean_abs": np.abs(values).mean(axis=0),
        "mean": mean,
        "low": mean - Z95 * se,
        "high": mean + Z95 * se,
    }


# --- 1. importance ------------------------------------------------------------------------------


def test_importance_numbers_match_the_matrix(matrix: tuple[list[str], np.ndarray]) -> None:
    names, values = matrix
    summary = FeatureSummary.of_matrix(names, values)
    expected = _expected_importance(values)
    order = np.argsort(-expected["mean_abs"], kind="stable")[:4]

    display = ImportanceDisplay.from_summary(DatasetSummary(features=summary), top=4)

    assert display.names == tuple(names[i] for i in order)
    assert display.level == 0.95
    np.testing.assert_allclose(display.mean_abs, expected["mean_abs"][order], rtol=RTOL)
    np.testing.assert_allclose(display.mean, expected["mean"][order], rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(display.mean_abs, summary.mean_abs[order], rtol=0, atol=0)
    np.testing.assert_allclose(display.mean, summary.mean[order], rtol=0, atol=0)
    np.testing.assert_allclose(display.ci_low, expected["low"][order], rtol=1e-10)
    np.testing.assert_allclose(display.ci_high, expected["high"][order], rtol=1e-10)
    np.testing.assert_array_equal(display.counts, [200] * 4)
    assert np.all(np.diff(display.mean_abs) <= 0)


def test_importance_from_feature_summary_keeps_all_and_other_levels(
    matrix: tuple[list[str], np.ndarray],
) -> None:
    names, values = matrix
    summary = FeatureSummary.of_matrix(names, values)
    display = ImportanceDisplay.from_summary(summary, top=50, level=0.5)
    assert set(display.names) == set(names) and len(display.names) == 6
    assert display.names == summary.ranking()
    half = (display.ci_high - display.ci_low) / 2
    se = values.std(axis=0, ddof=1) / np.sqrt(200)
    order = [names.index(n) for n in display.names]
    # z for a 50% interval: 0.6744897501960817.
    np.testing.assert_allclose(half, 0.6744897501960817 * se[order], rtol=1e-10)


def test_importance_skips_unobserved_and_nan_interval_for_one_observation() -> None:
    summary = FeatureSummary.of_pairs(
        ["once", "never", "many"], np.array([0, 2, 2, 2]), np.array([-5.0, 1.0, 2.0, 4.0])
    )
    display = ImportanceDisplay.from_summary(summary)
    assert display.names == ("once", "many")
    np.testing.assert_array_equal(display.counts, [1, 3])
    assert np.isnan(display.ci_low[0]) and np.isnan(display.ci_high[0])
    se = np.std([1.0, 2.0, 4.0], ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(display.ci_low[1], 7 / 3 - Z95 * se, rtol=1e-12)
    _drawn(display)  # a NaN interval draws no error bar, and no warning
    assert len(display.ax_.patches) == 4


def test_importance_ties_keep_first_seen_order() -> None:
    values = np.array([[1.0, -1.0, 2.0], [-1.0, 1.0, -2.0]])
    display = ImportanceDisplay.from_summary(FeatureSummary.of_matrix(["a", "b", "c"], values))
    assert display.names == ("c", "a", "b")


def test_importance_plot_draws_paired_bars(matrix: tuple[list[str], np.ndarray]) -> None:
    names, values = matrix
    display = ImportanceDisplay.from_summary(FeatureSummary.of_matrix(names, values), top=5)
    _drawn(display)
    ax = display.ax_
    assert display.figure_ is ax.figure
    assert ax.get_xlabel() == "attribution"
    assert _ticklabels(ax) == list(display.names)
    np.testing.assert_allclose(ax.get_yticks(), np.arange(5))
    assert ax.get_ylim() == (4.5, -0.5)  # most important on top
    bars = _bars(ax)
    assert len(bars) == 10
    grey, signed = bars[:5], bars[5:]
    np.testing.assert_allclose([b.get_width() for b in grey], display.mean_abs, rtol=1e-12)
    np.testing.assert_allclose([b.get_width() for b in signed], display.mean, rtol=1e-12)
    np.testing.assert_allclose([b.get_y() + b.get_height() / 2 for b in grey], np.arange(5) - 0.2)
    np.testing.assert_allclose([b.get_y() + b.get_height() / 2 for b in signed], np.arange(5) + 0.2)
    assert {_hex(b.get_facecolor()) for b in grey} == {_hex(MAGNITUDE)}
    wanted = [POSITIVE if m >= 0 else NEGATIVE for m in display.mean]
    assert [_hex(b.get_facecolor()) for b in signed] == wanted
    assert POSITIVE in wanted and NEGATIVE in wanted  # both signs are exercised
    # One error bar per feature, spanning the interval.
    errorbar = _errorbars(ax)
    assert len(errorbar) == 1
    (segments,) = errorbar[0].lines[2]
    spans = np.array([[s[0, 0], s[1, 0]] for s in segments.get_segments()])
    np.testing.assert_allclose(np.sort(spans, axis=1)[:, 0], display.ci_low, rtol=1e-10)
    np.testing.assert_allclose(np.sort(spans, axis=1)[:, 1], display.ci_high, rtol=1e-10)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "mean |a|",
        "signed mean > 0",
        "signed mean < 0",
    ]
    assert legend.get_title().get_text() == "error bars: 95% CI"


def test_importance_tick_labels_with_counts_and_dollar() -> None:
    values = np.ones((1234, 2)) * np.array([2.0, 1.0])
    display = ImportanceDisplay.from_summary(FeatureSummary.of_matrix(["$x", "y"], values))
    _drawn(display, show_counts=True)
    assert _ticklabels(display.ax_) == [r"\$x (1,234)", "y (1,234)"]


def test_importance_plot_into_given_axes_and_kwargs() -> None:
    from matplotlib.figure import Figure

    figure = Figure()
    _opened.append(figure)
    left, right = figure.subplots(1, 2)
    display = ImportanceDisplay(
        ["a", "b"], [2.0, 1.0], [1.0, -1.0], [0.5, -1.5], [1.5, -0.5], [3, 3]
    )
    assert display.plot(ax=right, alpha=0.5) is display
    assert display.ax_ is right and display.figure_ is figure
    assert not left.patches and len(right.patches) == 4
    assert all(p.get_alpha() == 0.5 for p in right.patches)


def test_importance_save_writes_png_atomically(
    tmp_path: Path, matrix: tuple[list[str], np.ndarray]
) -> None:
    names, values = matrix
    display = ImportanceDisplay.from_summary(FeatureSummary.of_matrix(names, values), top=3)
    target = tmp_path / "importance.png"
    result = display.save(target, dpi=40)  # draws on demand
    _opened.append(display.figure_)
    assert result == target
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(tmp_path) == ["importance.png"]
    # A redraw into the same file replaces it; still no temporary left behind.
    first = target.read_bytes()
    display.save(str(target), dpi=20)
    assert target.read_bytes()[:8] == PNG_SIGNATURE and target.read_bytes() != first
    assert os.listdir(tmp_path) == ["importance.png"]


@pytest.mark.parametrize("dpi", [0.0, -1.0, float("nan")])
def test_save_refuses_bad_dpi(tmp_path: Path, dpi: float) -> None:
    display = ImportanceDisplay(["a"], [1.0], [1.0], [0.0], [2.0], [2])
    with pytest.raises(ValueError, match=r"^dpi must be positive, got"):
        display.save(tmp_path / "x.png", dpi=dpi)
    assert os.listdir(tmp_path) == []


# --- 5. tokens ----------------------------------------------------------------------------------


def _token_summary(kind: str | None = "tokens") -> DatasetSummary:
    # "rare" has the largest |a| but occurs twice; "the" is frequent and small.
    names = ["the", "good", "rare", "bad"]
    counts = {"the": 40, "good": 8, "rare": 2, "bad": 5}
    loc = {"the": 0.01, "good": 0.8, "rare": 5.0, "bad": -0.6}
    rng = np.random.default_rng(3)
    features = np.concatenate([np.full(counts[n], i) for i, n in enumerate(names)])
    values = np.concatenate([loc[n] + 0.05 * rng.normal(size=counts[n]) for n in names])
    metadata = {} if kind is None else {"feature_kind": kind}
    return DatasetSummary(
        features=FeatureSummary.of_pairs(names, features, values), metadata=metadata
    )


def test_token_importance_filters_by_min_count() -> None:
    summary = _token_summary()
    display = TokenImportanceDisplay.from_summary(summary, min_count=5)
    assert display.names == ("good", "bad", "the")
    assert display.min_count == 5
    np.testing.assert_array_equal(display.counts, [8, 5, 40])
    features = summary.features
    take = [features.index(n) for n in display.names]
    np.testing.assert_allclose(display.mean_abs, features.mean_abs[take], rtol=0)
    low, high = features.confidence_interval(0.95)
    np.testing.assert_allclose(display.ci_low, low[take], rtol=0)
    np.testing.assert_allclose(display.ci_high, high[take], rtol=0)

    everything = TokenImportanceDisplay.from_summary(summary.features, min_count=1, top=2)
    assert everything.names == ("rare", "good")


def test_token_importance_plot_labels_counts() -> None:
    display = _drawn(TokenImportanceDisplay.from_summary(_token_summary(), min_count=5))
    assert _ticklabels(display.ax_) == ["good (8)", "bad (5)", "the (40)"]
    assert display.ax_.get_ylabel() == "token (occurrences)"
    assert len(display.ax_.patches) == 6
    plain = _drawn(TokenImportanceDisplay.from_summary(_token_summary()), show_counts=False)
    assert _ticklabels(plain.ax_) == ["good", "bad", "the"]
    assert plain.ax_.get_ylabel() == "token"


def test_token_importance_refusals() -> None:
    with pytest.raises(
        ValueError,
        match=r"^TokenImportanceDisplay needs a summary of 'tokens' features, got 'columns'",
    ):
        TokenImportanceDisplay.from_summary(_token_summary("columns"))
    # A summary without a kind is taken as it is.
    assert TokenImportanceDisplay.from_summary(_token_summary(None)).names[0] == "good"
    with pytest.raises(
        ValueError,
        match=r"^no token occurs at least min_count=41 times \(the most frequent occurs 40 times\)",
    ):
        TokenImportanceDisplay.from_summary(_token_summary(), min_count=41)
    with pytest.raises(ValueError, match=r"^min_count must be an integer >= 1, got 0"):
        TokenImportanceDisplay.from_summary(_token_summary(), min_count=0)
    with pytest.raises(ValueError, match=r"^top must be an integer >= 1, got 0"):
        TokenImportanceDisplay.from_summary(_token_summary(), top=0)
    with pytest.raises(ValueError, match=r"^a confidence level must be in \(0, 1\), got 1"):
        TokenImportanceDisplay.from_summary(_token_summary(), level=1.0)


# --- shared refusals of the summary displays ---------------------------------------------------


@pytest.mark.parametrize("top", [0, -3, True, 2.0, "3"])
def test_importance_refuses_bad_top(matrix: tuple[list[str], np.ndarray], top: Any) -> None:
    summary = FeatureSummary.of_matrix(*matrix)
    with pytest.raises(ValueError, match=r"^top must be an integer >= 1, got "):
        ImportanceDisplay.from_summary(summary, top=top)


def test_importance_accepts_numpy_top(matrix: tuple[list[str], np.ndarray]) -> None:
    summary = FeatureSummary.of_matrix(*matrix)
    assert len(ImportanceDisplay.from_summary(summary, top=np.int64(2)).names) == 2


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_importance_refuses_bad_level(matrix: tuple[list[str], np.ndarray], level: float) -> None:
    summary = FeatureSummary.of_matrix(*matrix)
    with pytest.raises(ValueError, match=r"^a confidence level must be in \(0, 1\)"):
        ImportanceDisplay.from_summary(summary, level=level)


@pytest.mark.parametrize(
    "summary",
    [
        FeatureSummary(),
        DatasetSummary(),
        FeatureSummary.of_pairs(["a", "b"], np.zeros(0, np.int64), np.zeros(0)),
    ],
)
def test_importance_refuses_empty_summary(summary: Any) -> None:
    with pytest.raises(ValueError, match=r"^the summary is empty: no feature has an observation$"):
        ImportanceDisplay.from_summary(summary)


def test_importance_refuses_other_objects_and_bad_shapes() -> None:
    with pytest.raises(TypeError, match="expected a DatasetSummary or FeatureSummary, got dict"):
        ImportanceDisplay.from_summary({})
    with pytest.raises(ValueError, match=r"^every array must have shape \(2,\) like names$"):
        ImportanceDisplay(["a", "b"], [1.0, 2.0], [1.0], [0.0, 0.0], [1.0, 1.0], [1, 1])


# --- 2. beeswarm --------------------------------------------------------------------------------


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """500 examples × 5 features (seed 11), on a non-trivial index; values with NaN holes."""
    rng = np.random.default_rng(11)
    index = pd.Index(1000 + 3 * np.arange(500), name="row")
    scales = {"a": 0.2, "b": 2.0, "c": 1.0, "d": 0.05, "e": 0.7}
    attributions = pd.DataFrame(
        {k: s * rng.normal(size=500) for k, s in scales.items()}, index=index
    )
    values = pd.DataFrame({k: rng.normal(size=500) for k in scales}, index=index)
    values.loc[values.index[::7], "b"] = np.nan
    values["e"] = rng.choice(["x", "y", "z"], size=500)
    return attributions, values


def test_beeswarm_top_features_and_subsample(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = frames
    display = BeeswarmDisplay.from_frames(attributions, values, top=3, max_points=120, seed=5)
    mean_abs = attributions.abs().mean(axis=0)
    assert display.names == ("b", "c", "e")
    np.testing.assert_allclose(display.mean_abs, mean_abs[["b", "c", "e"]], rtol=1e-12)
    assert display.attributions.shape == display.offsets.shape == (3, 120)
    assert display.colors is not None and display.colors.shape == (3, 120)
    examples = display.examples
    assert examples.shape == (120,) and len(set(examples.tolist())) == 120
    assert set(examples.tolist()) <= set(attributions.index.tolist())
    assert np.all(np.diff(examples) > 0)  # subsampled rows keep their order
    for row, name in enumerate(display.names):
        np.testing.assert_array_equal(
            display.attributions[row], attributions.loc[examples, name].to_numpy()
        )


def test_beeswarm_is_deterministic_for_a_seed(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = frames
    first = BeeswarmDisplay.from_frames(attributions, values, max_points=100, seed=1)
    again = BeeswarmDisplay.from_frames(attributions, values, max_points=100, seed=1)
    other = BeeswarmDisplay.from_frames(attributions, values, max_points=100, seed=2)
    np.testing.assert_array_equal(first.examples, again.examples)
    np.testing.assert_array_equal(first.offsets, again.offsets)
    np.testing.assert_array_equal(first.colors, again.colors)
    assert not np.array_equal(first.examples, other.examples)


def test_beeswarm_all_rows_when_few(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, _ = frames
    display = BeeswarmDisplay.from_frames(attributions, max_points=500)
    np.testing.assert_array_equal(display.examples, attributions.index.to_numpy())
    assert display.colors is None
    assert display.names == ("b", "c", "e", "a", "d")  # top=15 keeps all five


def test_beeswarm_offsets_and_colors(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = frames
    display = BeeswarmDisplay.from_frames(attributions, values, top=5, max_points=300, seed=0)
    assert np.all(np.abs(display.offsets) < 0.4)
    assert np.abs(display.offsets).max() > 0.2  # dense bins do spread out
    colors = display.colors
    assert colors is not None
    examples = display.examples
    for row, name in enumerate(display.names):
        column = values[name]
        shown = column.loc[examples]
        if name == "e":  # strings: sorted categories x, y, z → 0, 0.5, 1
            wanted = shown.map({"x": 0.0, "y": 0.5, "z": 1.0}).to_numpy(dtype=float)
        else:  # numbers clipped to the 5th–95th percentiles of the whole column
            low, high = np.nanpercentile(column.to_numpy(), [5.0, 95.0])
            wanted = np.clip((shown.to_numpy() - low) / (high - low), 0.0, 1.0)
        np.testing.assert_allclose(colors[row], wanted, rtol=1e-12, atol=1e-15)
    b = display.names.index("b")
    missing = values.loc[examples, "b"].isna().to_numpy()
    assert missing.any()
    np.testing.assert_array_equal(np.isnan(colors[b]), missing)
    finite = colors[np.isfinite(colors)]
    assert finite.min() == 0.0 and finite.max() == 1.0
    assert np.isfinite(np.delete(colors, b, axis=0)).all()


def test_beeswarm_offsets_stack_a_bin_alternately() -> None:
    # Seven equal attributions share one bin; the eighth is alone at the far end of the range.
    attributions = pd.DataFrame({"a": [0.0] * 7 + [1.0]})
    display = BeeswarmDisplay.from_frames(attributions, seed=3)
    offsets = display.offsets[0]
    assert offsets[7] == 0.0
    np.testing.assert_allclose(np.sort(offsets[:7]), [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3])


def test_beeswarm_plot_draws_every_point(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = frames
    display = BeeswarmDisplay.from_frames(attributions, values, top=4, max_points=150, seed=9)
    _drawn(display)
    ax = display.ax_
    assert len(ax.collections) == 4
    assert sum(len(np.asarray(c.get_offsets())) for c in ax.collections) == 4 * 150
    for row, scatter in enumerate(ax.collections):
        points = np.asarray(scatter.get_offsets())
        np.testing.assert_allclose(points[:, 0], display.attributions[row])
        np.testing.assert_allclose(points[:, 1], row + display.offsets[row])
        assert scatter.get_clim() == (0.0, 1.0)
    assert _ticklabels(ax) == list(display.names)
    assert ax.get_ylim() == (3.5, -0.5)
    assert ax.get_xlabel() == "attribution"
    assert len(display.figure_.axes) == 2  # and the colour bar
    colorbar = display.figure_.axes[1]
    assert colorbar.get_ylabel() == "feature value"
    assert _ticklabels(colorbar) == ["low", "high"]

    plain = _drawn(BeeswarmDisplay.from_frames(attributions, top=2, max_points=50))
    assert len(plain.figure_.axes) == 1
    assert sum(len(np.asarray(c.get_offsets())) for c in plain.ax_.collections) == 100


def test_beeswarm_refusals(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = frames
    with pytest.raises(ValueError, match=r"^max_points must be an integer >= 1, got 0"):
        BeeswarmDisplay.from_frames(attributions, max_points=0)
    with pytest.raises(ValueError, match=r"^top must be an integer >= 1, got 0"):
        BeeswarmDisplay.from_frames(attributions, top=0)
    with pytest.raises(ValueError, match=r"^values lacks the columns \['d'\] that attributions"):
        BeeswarmDisplay.from_frames(attributions, values.drop(columns="d"))
    with pytest.raises(ValueError, match=r"^values must have the same index \(examples\)"):
        BeeswarmDisplay.from_frames(attributions, values.iloc[::-1])
    with pytest.raises(TypeError, match="values must be a pandas DataFrame"):
        BeeswarmDisplay.from_frames(attributions, values.to_numpy())
    with pytest.raises(ValueError, match=r"^arrays must have shape \(1, 2\) \(features, points\)$"):
        BeeswarmDisplay(["a"], [1.0], [[1.0, 2.0]], [[0.0]], None, [0, 1])


def test_frame_checks_shared_by_beeswarm_and_dependence() -> None:
    good = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.1]})
    cases: list[tuple[Any, str]] = [
        (
            pd.DataFrame({"token": ["a"], "attribution": [1.0]}),
            r"^attributions is a text job's long table \(one row per token\); "
            r"use TokenImportanceDisplay",
        ),
        (pd.DataFrame(), r"^attributions is empty: shape \(0, 0\), need >= 1 row and column$"),
        (good.iloc[:0], r"^attributions is empty: shape \(0, 2\)"),
        (
            pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]),
            r"^attributions has duplicate column names$",
        ),
        (
            pd.DataFrame({"a": ["x", "y"]}),
            r"^attributions must hold numbers only \(examples × features\)$",
        ),
        (
            pd.DataFrame({"a": [1.0, np.nan]}),
            r"^attributions must be finite \(found NaN or inf\)$",
        ),
        (pd.DataFrame({"a": [1.0, np.inf]}), r"^attributions must be finite"),
    ]
    for frame, message in cases:
        with pytest.raises(ValueError, match=message):
            BeeswarmDisplay.from_frames(frame)
        with pytest.raises(ValueError, match=message):
            DependenceDisplay.from_frames(frame, frame, "a")
    with pytest.raises(TypeError, match="attributions must be a pandas DataFrame"):
        BeeswarmDisplay.from_frames(good.to_numpy())


# --- 3. dependence ------------------------------------------------------------------------------


@pytest.fixture
def interaction() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attribution of x = x·(1+z); "decoy" ≈ x; "w" is noise (seed 21, 600 rows)."""
    rng = np.random.default_rng(21)
    n = 600
    x, z, w = rng.normal(size=(3, n))
    decoy = x + 0.05 * rng.normal(size=n)
    index = pd.RangeIndex(10, 10 + n)
    values = pd.DataFrame({"x": x, "decoy": decoy, "z": z, "w": w}, index=index)
    attributions = pd.DataFrame(
        {"x": x * (1 + z), "decoy": 0.1 * decoy, "z": 0.3 * z, "w": 0.01 * w}, index=index
    )
    return attributions, values


def _expected_score(attribution: np.ndarray, by: np.ndarray, candidate: np.ndarray) -> float:
    groups = np.array_split(np.argsort(by, kind="stable"), 10)  # 600 rows → 10 bins of 60
    total = 0.0
    for g in groups:
        total += g.size * abs(np.corrcoef(attribution[g], candidate[g])[0, 1])
    return total / by.size


def test_dependence_points_equal_the_frames(
    interaction: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    attributions, values = interaction
    display = DependenceDisplay.from_frames(attributions, values, "x", color_by=None)
    assert display.feature == "x" and display.categories is None
    np.testing.assert_array_equal(display.x, values["x"].to_numpy())
    np.testing.assert_array_equal(display.y, attributions["x"].to_numpy())
    np.testing.assert_array_equal(display.examples, np.arange(10, 610))
    assert display.color_by is None and display.colors is None and display.color_scores == {}


def test_dependence_auto_finds_the_interaction(
    interaction: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    attributions, values = interaction
    a = attributions["x"].to_numpy()
    # Globally the decoy goes with the attribution and z does not: a naive rule would fail.
    assert abs(np.corrcoef(a, values["decoy"])[0, 1]) > 0.5
    assert abs(np.corrcoef(a, values["z"])[0, 1]) < 0.1

    display = DependenceDisplay.from_frames(attributions, values, "x")
    assert display.color_by == "z"
    assert set(display.color_scores) == {"decoy", "z", "w"}
    assert all(0.0 <= s <= 1.0 for s in display.color_scores.values())
    for name in ("decoy", "z", "w"):
        wanted = _expected_score(a, values["x"].to_numpy(), values[name].to_numpy())
        np.testing.assert_allclose(display.color_scores[name], wanted, rtol=1e-9)
    assert display.color_scores["z"] > 0.6
    assert display.color_scores["z"] > 2 * max(display.color_scores[k] for k in ("decoy", "w"))
    z = values["z"].to_numpy()
    low, high = np.percentile(z, [5.0, 95.0])
    np.testing.assert_allclose(display.colors, np.clip((z - low) / (high - low), 0, 1), rtol=1e-12)
    assert display.color_categories is None


def test_dependence_honours_color_by(interaction: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = interaction
    display = DependenceDisplay.from_frames(attributions, values, "x", color_by="w")
    assert display.color_by == "w" and display.color_scores == {}
    w = values["w"].to_numpy()
    low, high = np.percentile(w, [5.0, 95.0])
    np.testing.assert_allclose(display.colors, np.clip((w - low) / (high - low), 0, 1), rtol=1e-12)


def test_dependence_auto_none_without_a_candidate() -> None:
    attributions = pd.DataFrame({"x": [0.1, 0.4, 0.2, 0.9], "k": [0.0] * 4})
    values = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "k": [5.0] * 4})
    display = DependenceDisplay.from_frames(attributions, values, "x")
    assert display.color_by is None and display.colors is None
    assert display.color_scores == {"k": 0.0}
    single = DependenceDisplay.from_frames(attributions[["x"]], values[["x"]], "x")
    assert single.color_by is None and single.color_scores == {}


def test_dependence_drops_missing_values(interaction: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = interaction
    values = values.copy()
    values.loc[values.index[:50], "x"] = np.nan
    display = DependenceDisplay.from_frames(attributions, values, "x", color_by="z")
    assert display.x.shape == display.y.shape == display.colors.shape == (550,)
    np.testing.assert_array_equal(display.examples, np.arange(60, 610))
    np.testing.assert_array_equal(display.y, attributions["x"].to_numpy()[50:])


def test_dependence_categorical_feature(interaction: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = interaction
    rng = np.random.default_rng(4)
    size = len(values)
    kind = rng.choice(["mid", "hi", "lo"], size=size)
    z = values["z"].to_numpy()
    base = pd.Series(kind).map({"lo": -1.0, "mid": 0.0, "hi": 1.0}).to_numpy()
    values = values.assign(kind=kind)
    attributions = attributions.assign(kind=base + 0.5 * z)

    display = DependenceDisplay.from_frames(attributions, values, "kind", seed=2)
    assert display.categories == ("hi", "lo", "mid")  # sorted
    codes = pd.Series(kind).map({"hi": 0, "lo": 1, "mid": 2}).to_numpy()
    np.testing.assert_array_equal(np.rint(display.x), codes)
    spread = display.x - codes
    assert np.abs(spread).max() <= 0.35 and np.abs(spread).max() > 0.1
    np.testing.assert_array_equal(display.y, attributions["kind"].to_numpy())
    assert display.color_by == "z"  # within each category the attribution is 0.5·z
    assert display.color_scores["z"] == pytest.approx(1.0, abs=1e-12)
    again = DependenceDisplay.from_frames(attributions, values, "kind", seed=2)
    np.testing.assert_array_equal(display.x, again.x)

    ordered = values.assign(kind=pd.Categorical(kind, categories=["lo", "mid", "hi"], ordered=True))
    by_order = DependenceDisplay.from_frames(attributions, ordered, "kind", color_by="kind")
    assert by_order.categories == ("lo", "mid", "hi")
    assert by_order.color_categories == ("lo", "mid", "hi")
    wanted = pd.Series(kind).map({"lo": 0.0, "mid": 0.5, "hi": 1.0}).to_numpy()
    np.testing.assert_array_equal(by_order.colors, wanted)

    _drawn(by_order)
    ax = by_order.ax_
    np.testing.assert_array_equal(ax.get_xticks(), [0, 1, 2])
    assert _ticklabels(ax, "x") == ["lo", "mid", "hi"]
    colorbar = by_order.figure_.axes[1]
    assert _ticklabels(colorbar) == ["lo", "mid", "hi"]
    np.testing.assert_allclose(colorbar.get_yticks(), [0.0, 0.5, 1.0])
    assert colorbar.get_ylabel() == "kind"


def test_dependence_slants_long_category_names(
    interaction: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    attributions, values = interaction
    names = ["Married-civ-spouse", "Never-married", "Divorced", "Separated"]
    kind = np.random.default_rng(5).choice(names, size=len(values))
    display = _drawn(
        DependenceDisplay.from_frames(
            attributions.assign(kind=1.0), values.assign(kind=kind), "kind", color_by=None
        )
    )
    labels = display.ax_.get_xticklabels()
    assert [t.get_text() for t in labels] == sorted(names)
    assert {t.get_rotation() for t in labels} == {30.0}
    assert {t.get_horizontalalignment() for t in labels} == {"right"}
    short = _drawn(
        DependenceDisplay.from_frames(
            attributions.assign(kind=1.0), values.assign(kind=kind.astype("U1")), "kind"
        )
    )
    assert {t.get_rotation() for t in short.ax_.get_xticklabels()} == {0.0}


def test_dependence_plot(interaction: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = interaction
    display = _drawn(DependenceDisplay.from_frames(attributions, values, "x"))
    ax = display.ax_
    assert len(ax.collections) == 1
    points = np.asarray(ax.collections[0].get_offsets())
    np.testing.assert_allclose(points, np.column_stack([display.x, display.y]))
    np.testing.assert_allclose(ax.collections[0].get_array(), display.colors)
    assert ax.get_xlabel() == "value of x" and ax.get_ylabel() == "attribution of x"
    assert len(display.figure_.axes) == 2
    assert display.figure_.axes[1].get_ylabel() == "z"
    plain = _drawn(DependenceDisplay.from_frames(attributions, values, "x", color_by=None))
    assert len(plain.figure_.axes) == 1


def test_dependence_refusals(interaction: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    attributions, values = interaction
    with pytest.raises(
        ValueError,
        match=r"^no feature 'q' in attributions \(features: \['x', 'decoy', 'z', 'w'\]\)$",
    ):
        DependenceDisplay.from_frames(attributions, values, "q")
    with pytest.raises(ValueError, match=r"^color_by must be 'auto', None or a feature, got 'q'$"):
        DependenceDisplay.from_frames(attributions, values, "x", color_by="q")
    with pytest.raises(ValueError, match=r"^values lacks the columns \['w'\]"):
        DependenceDisplay.from_frames(attributions, values.drop(columns="w"), "x")
    with pytest.raises(ValueError, match=r"^values must have the same index"):
        DependenceDisplay.from_frames(attributions, values.reset_index(drop=True), "x")
    with pytest.raises(
        ValueError, match=r"^x, y, colors and examples must all have shape \(points,\)$"
    ):
        DependenceDisplay("x", [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"^x, y, colors and examples must all have shape"):
        DependenceDisplay("x", [1.0, 2.0], [1.0, 2.0], colors=[0.5])


# --- 4. cohorts ---------------------------------------------------------------------------------


@pytest.fixture
def cohort_summary() -> tuple[DatasetSummary, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(13)
    names = ["age", "income", "hours", "zip"]
    values = rng.normal(size=(300, 4)) * np.array([1.0, 3.0, 0.5, 0.1]) + np.array(
        [0.2, -1.0, 0.0, 0.05]
    )
    male = rng.uniform(size=300) < 0.4
    # The "young" cohort never observes "zip" (its rows carry no zip attribution).
    young = rng.uniform(size=300) < 0.3
    rows, cols = np.nonzero(np.ones((int(young.sum()), 3), bool))
    young_summary = FeatureSummary.of_pairs(names, cols, values[young][rows, cols])
    summary = DatasetSummary(
        examples=300,
        features=FeatureSummary.of_matrix(names, values),
        cohorts={
            "sex=Male": FeatureSummary.of_matrix(names, values[male]),
            "sex=Female": FeatureSummary.of_matrix(names, values[~male]),
            "young": young_summary,
        },
    )
    return summary, values, np.stack([male, ~male, young])


def test_cohort_groups_counts_and_means(
    cohort_summary: tuple[DatasetSummary, np.ndarray, np.ndarray],
) -> None:
    summary, values, masks = cohort_summary
    display = CohortDisplay.from_summary(summary, top=3)
    assert display.names == ("income", "age", "hours")
    assert display.groups == ("all", "sex=Male", "sex=Female", "young")
    take = [1, 0, 2]
    rows = [np.ones(300, bool), *masks]
    np.testing.assert_array_equal(display.counts, [[m.sum()] * 3 for m in rows])
    for g, mask in enumerate(rows):
        part = values[mask][:, take]
        np.testing.assert_allclose(display.mean_abs[g], np.abs(part).mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(display.mean[g], part.mean(axis=0), rtol=1e-10)
        se = part.std(axis=0, ddof=1) / np.sqrt(mask.sum())
        np.testing.assert_allclose(display.ci_low[g], part.mean(axis=0) - Z95 * se, rtol=1e-10)
        np.testing.assert_allclose(display.ci_high[g], part.mean(axis=0) + Z95 * se, rtol=1e-10)
    for g, name in enumerate(display.groups[1:], start=1):
        cohort = summary.cohorts[name].subset(display.names)
        np.testing.assert_array_equal(display.mean_abs[g], cohort.mean_abs)


def test_cohort_unobserved_feature_is_nan(
    cohort_summary: tuple[DatasetSummary, np.ndarray, np.ndarray],
) -> None:
    summary, _, _ = cohort_summary
    display = CohortDisplay.from_summary(summary, cohorts=["young", "young", "sex=Male"])
    assert display.groups == ("all", "young", "sex=Male")  # duplicates dropped
    assert display.names == ("income", "age", "hours", "zip")
    zip_ = display.names.index("zip")
    assert display.counts[1, zip_] == 0
    for array in (display.mean_abs, display.mean, display.ci_low, display.ci_high):
        assert np.isnan(array[1, zip_])
        assert np.isfinite(np.delete(array, zip_, axis=1)).all()
        assert np.isfinite(array[[0, 2]]).all()
    assert CohortDisplay.from_summary(summary, cohorts="young").groups == ("all", "young")


def test_cohort_plot_unsigned_and_signed(
    cohort_summary: tuple[DatasetSummary, np.ndarray, np.ndarray],
) -> None:
    summary, _, _ = cohort_summary
    display = CohortDisplay.from_summary(summary, cohorts=["young", "sex=Male"])
    _drawn(display)
    ax = display.ax_
    assert len(ax.patches) == 3 * 4
    widths = np.array([p.get_width() for p in _bars(ax)]).reshape(3, 4)
    np.testing.assert_allclose(widths, np.nan_to_num(display.mean_abs), rtol=1e-12)
    assert widths[1, 3] == 0.0
    assert ax.get_xlabel() == "mean |a|"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["all", "young", "sex=Male"]
    assert _ticklabels(ax) == list(display.names)
    centres = np.array([p.get_y() + p.get_height() / 2 for p in _bars(ax)]).reshape(3, 4)
    bar = 0.8 / 3
    np.testing.assert_allclose(centres[:, 0], -0.4 + (np.arange(3) + 0.5) * bar)

    signed = _drawn(CohortDisplay.from_summary(summary, cohorts=["young", "sex=Male"]), signed=True)
    ax = signed.ax_
    assert len(ax.patches) == 12
    widths = np.array([p.get_width() for p in _bars(ax)]).reshape(3, 4)
    np.testing.assert_allclose(widths, signed.mean, rtol=1e-12)  # NaN where unobserved
    assert ax.get_xlabel() == "signed mean (95% CI)"
    assert len(_errorbars(ax)) == 3


def test_cohort_refusals(cohort_summary: tuple[DatasetSummary, np.ndarray, np.ndarray]) -> None:
    summary, _, _ = cohort_summary
    with pytest.raises(
        ValueError, match=r"^the summary has no cohorts \(the job was run without any\)$"
    ):
        CohortDisplay.from_summary(DatasetSummary(features=summary.features))
    with pytest.raises(ValueError, match=r"^cohorts is empty; pass None for all of them$"):
        CohortDisplay.from_summary(summary, cohorts=[])
    with pytest.raises(
        ValueError,
        match=r"^no cohort 'old' in this summary \(cohorts: sex=Male, sex=Female, young\)$",
    ):
        CohortDisplay.from_summary(summary, cohorts=["young", "old"])
    with pytest.raises(ValueError, match=r"^top must be an integer >= 1"):
        CohortDisplay.from_summary(summary, top=0)
    with pytest.raises(ValueError, match=r"^a confidence level must be in \(0, 1\)"):
        CohortDisplay.from_summary(summary, level=0.0)
    with pytest.raises(ValueError, match=r"^the summary is empty"):
        CohortDisplay.from_summary(DatasetSummary(cohorts=summary.cohorts))
    with pytest.raises(TypeError, match="CohortDisplay needs a DatasetSummary, got FeatureSummary"):
        CohortDisplay.from_summary(summary.features)
    with pytest.raises(
        ValueError, match=r"^every array must have shape \(2, 1\) \(groups, features\)$"
    ):
        CohortDisplay(["a"], ["all", "g"], [[1.0]], [[1.0]], [[0.0]], [[2.0]], [[1]])


# --- 6. class maps ------------------------------------------------------------------------------

ROWS, COLS = 2, 3


def _cells_summary(**metadata: Any) -> tuple[DatasetSummary, dict[str, np.ndarray]]:
    """Classes "cat" (5 examples) and "dog" (3), cells named in a shuffled order."""
    rng = np.random.default_rng(17)
    names = [f"r{r}c{c}" for r in range(ROWS) for c in range(COLS)]
    shuffled = [names[i] for i in (4, 0, 5, 2, 1, 3)]
    per_class = {
        "cat": rng.normal(size=(5, 6)) + np.arange(6),
        "dog": rng.normal(size=(3, 6)) - np.arange(6),
    }
    # Columns in canonical (row-major) order; the summaries see them shuffled.
    perm = [names.index(n) for n in shuffled]
    classes = {k: FeatureSummary.of_matrix(shuffled, v[:, perm]) for k, v in per_class.items()}
    everything = np.concatenate(list(per_class.values()))
    meta: dict[str, Any] = {"feature_kind": "cells", "map_shape": [ROWS, COLS], **metadata}
    summary = DatasetSummary(
        examples=8,
        features=FeatureSummary.of_matrix(shuffled, everything[:, perm]),
        classes=classes,
        metadata=meta,
    )
    return summary, per_class


def test_class_maps_are_row_major_means() -> None:
    summary, per_class = _cells_summary()
    display = ClassMapsDisplay.from_summary(summary)
    assert display.classes == ("cat", "dog")
    assert display.maps.shape == (2, ROWS, COLS)
    np.testing.assert_array_equal(display.counts, [5, 3])
    for k, name in enumerate(display.classes):
        wanted = np.abs(per_class[name]).mean(axis=0).reshape(ROWS, COLS)
        np.testing.assert_allclose(display.maps[k], wanted, rtol=1e-12)
    assert display.signed is False
    assert display.vmin == 0.0 and display.vmax == pytest.approx(display.maps.max(), rel=0)

    signed = ClassMapsDisplay.from_summary(summary, classes=["dog"], signed=True)
    assert signed.classes == ("dog",)
    np.testing.assert_allclose(
        signed.maps[0], per_class["dog"].mean(axis=0).reshape(ROWS, COLS), rtol=1e-12
    )
    top = np.abs(signed.maps).max()
    assert signed.vmin == -top and signed.vmax == top


def test_class_maps_unobserved_cell_is_nan() -> None:
    summary, _ = _cells_summary()
    names = list(summary.features.names)
    # "bird": two examples, cell r1c2 never observed, r0c0 observed once.
    features = np.array([names.index(n) for n in ["r0c0", "r0c1", "r0c1", "r0c2", "r1c0", "r1c1"]])
    bird = FeatureSummary.of_pairs(names, features, np.array([1.0, -2.0, 4.0, 0.5, 0.5, 0.5]))
    summary.classes["bird"] = bird
    display = ClassMapsDisplay.from_summary(summary, classes=["bird", "cat"])
    expected = np.array([[1.0, 3.0, 0.5], [0.5, 0.5, np.nan]])
    np.testing.assert_allclose(display.maps[0], expected, rtol=1e-12)
    np.testing.assert_array_equal(display.counts, [2, 5])  # a class's most observed cell


def test_class_maps_plot_panels() -> None:
    summary, _ = _cells_summary()
    display = _drawn(ClassMapsDisplay.from_summary(summary), columns=1)
    assert display.axes_.shape == (2,)
    assert [p.get_title() for p in display.axes_] == ["cat (n=5)", "dog (n=3)"]
    for panel, wanted in zip(display.axes_, display.maps, strict=True):
        (image,) = panel.get_images()
        np.testing.assert_array_equal(image.get_array(), wanted)
        assert image.get_clim() == (display.vmin, display.vmax)
    # Stacked in one column: the first panel sits above the second.
    first, second = (p.get_position() for p in display.axes_)
    assert first.y0 > second.y0
    assert not display.ax_.axison
    colorbar = [a for a in display.figure_.axes if a.get_ylabel() == "mean |a|"]
    assert len(colorbar) == 1
    assert len(display.figure_.axes) == 4  # hidden parent, two panels, colour bar


def test_class_maps_refusals(tmp_path: Path) -> None:
    summary, _ = _cells_summary()
    with pytest.raises(
        ValueError,
        match=r"^ClassMapsDisplay needs a summary of 'cells' features \(an image job\), "
        r"got 'tokens' features$",
    ):
        ClassMapsDisplay.from_summary(_cells_summary(feature_kind="tokens")[0])
    no_kind = DatasetSummary(features=summary.features, classes=summary.classes)
    with pytest.raises(ValueError, match=r"got None features$"):
        ClassMapsDisplay.from_summary(no_kind)
    for shape in ([2], [0, 3], "2x3", None, [2.0, 3.0], [2, 3, 1]):
        with pytest.raises(
            ValueError, match=r"^metadata\['map_shape'\] must be \[rows, cols\] of positive ints"
        ):
            ClassMapsDisplay.from_summary(_cells_summary(map_shape=shape)[0])
    with pytest.raises(
        ValueError, match=r"^the summary's features are not the cells of a 3×2 map$"
    ):
        ClassMapsDisplay.from_summary(_cells_summary(map_shape=[3, 2])[0])
    with pytest.raises(ValueError, match=r"^the summary has no per-class summaries$"):
        ClassMapsDisplay.from_summary(
            DatasetSummary(features=summary.features, metadata=summary.metadata)
        )
    with pytest.raises(ValueError, match=r"^classes is empty; pass None for all of them$"):
        ClassMapsDisplay.from_summary(summary, classes=[])
    with pytest.raises(
        ValueError, match=r"^no class 'bird' in this summary \(classes: cat, dog\)$"
    ):
        ClassMapsDisplay.from_summary(summary, classes=["cat", "bird"])
    with pytest.raises(ValueError, match=r"^the summary is empty"):
        ClassMapsDisplay.from_summary(DatasetSummary(metadata=summary.metadata))
    with pytest.raises(TypeError, match="ClassMapsDisplay needs a DatasetSummary"):
        ClassMapsDisplay.from_summary(summary.features)
    with pytest.raises(ValueError, match=r"^maps must have shape \(1, rows, cols\)$"):
        ClassMapsDisplay(["a"], np.zeros((2, 2)), [1])
    with pytest.raises(ValueError, match=r"^maps must have shape \(0, rows, cols\)$"):
        ClassMapsDisplay([], np.zeros((0, 2, 2)), [])
    with pytest.raises(ValueError, match=r"^counts must have shape \(1,\) like classes$"):
        ClassMapsDisplay(["a"], np.zeros((1, 2, 2)), [1, 2])
    display = ClassMapsDisplay.from_summary(summary)
    with pytest.raises(ValueError, match=r"^columns must be an integer >= 1, got 0"):
        display.plot(columns=0)
    from matplotlib.figure import Figure

    figure = Figure()
    _opened.append(figure)
    with pytest.raises(
        ValueError, match=r"^ax must be a subplot \(from add_subplot or subplots\)$"
    ):
        display.plot(ax=figure.add_axes((0.0, 0.0, 1.0, 1.0)))


def test_class_maps_all_zero_maps_get_unit_range() -> None:
    display = ClassMapsDisplay(["a", "b"], np.zeros((2, 2, 2)), [1, 1], signed=True)
    assert (display.vmin, display.vmax) == (-1.0, 1.0)


# --- matplotlib stays out of the import ---------------------------------------------------------


def test_import_and_arrays_without_matplotlib() -> None:
    code = (
        "import sys\n"
        "import numpy as np, pandas as pd\n"
        "import intgrad.viz.dataset as d\n"
        "from intgrad.datasets.summary import FeatureSummary\n"
        "assert 'matplotlib' not in sys.modules, 'on import'\n"
        "s = FeatureSummary.of_matrix(['a', 'b'], np.ones((3, 2)))\n"
        "d.ImportanceDisplay.from_summary(s)\n"
        "f = pd.DataFrame({'a': [1.0, 2.0, 3.0], 'b': [0.0, 1.0, 0.5]})\n"
        "d.BeeswarmDisplay.from_frames(f, f)\n"
        "d.DependenceDisplay.from_frames(f, f, 'a')\n"
        "assert 'matplotlib' not in sys.modules, 'computing arrays'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MPLBACKEND", None)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_every_display_saves_a_png(
    tmp_path: Path,
    frames: tuple[pd.DataFrame, pd.DataFrame],
    cohort_summary: tuple[DatasetSummary, np.ndarray, np.ndarray],
) -> None:
    attributions, values = frames
    displays: dict[str, Any] = {
        "tokens": TokenImportanceDisplay.from_summary(_token_summary()),
        "beeswarm": BeeswarmDisplay.from_frames(attributions, values, max_points=50),
        "dependence": DependenceDisplay.from_frames(attributions, values, "e"),
        "cohorts": CohortDisplay.from_summary(cohort_summary[0]),
        "maps": ClassMapsDisplay.from_summary(_cells_summary()[0]),
    }
    for name, display in displays.items():
        target = display.save(tmp_path / f"{name}.png", dpi=20)
        _opened.append(display.figure_)
        assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(os.listdir(tmp_path)) == sorted(f"{n}.png" for n in displays)


@pytest.mark.parametrize("signed", [False, True])
def test_cohort_names_with_dollar_render(tmp_path: Path, signed: bool) -> None:
    values = np.array([[1.0], [2.0]])
    features = FeatureSummary.of_matrix(["a"], values)
    summary = DatasetSummary(features=features, cohorts={"cost=$1^{x-$": features})
    display = _drawn(CohortDisplay.from_summary(summary), signed=signed)
    display.save(tmp_path / "cohorts.png", dpi=20)  # mathtext would fail to parse here
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert legend == ["all", r"cost=\$1^{x-\$"]
