"""Guided IG: exact on linear models, complete as steps grow, the least important features first,
batched per example, in agreement with PAIR's reference, and the same in every framework.

The core is tested on the NumPy reference backend with models whose gradients are written by
hand; the framework matrix runs the same MLP natively and compares with that reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from intgrad import Explainer, integrated_gradients
from intgrad._core.guided import GuidedPath, GuidedSettings, guided_path_integral
from intgrad.family.guided import guided_ig
from tests.closed_forms import TanhMLP as FrameworkMLP

AGREEMENT = 1e-12  # against PAIR, float64 (measured 1.3e-15)
FRAMEWORK_TOLERANCE = 1e-12  # float64 framework vs NumPy reference (measured <= 2.7e-15)
FLOAT32_TOLERANCE = 1e-5  # float32 framework vs float64 reference (measured <= 3.3e-7)


# --- models with hand-written gradients (NumPy reference backend) ----------------------------


class Linear:
    """F(x) = x · w per row (a constant gradient); records every batch of points it sees."""

    def __init__(self, w: np.ndarray) -> None:
        self.w = np.asarray(w, dtype=np.float64)
        self.points: list[np.ndarray] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.points.append(x.copy())
        return x @ self.w

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.broadcast_to(self.w, inputs[0].shape) * cotangent[:, None],)


class TanhMLP:
    """F(x) = tanh(x W + b) · V per row: outputs (rows, classes); counts its calls."""

    def __init__(self, rng: np.random.Generator, features: int = 10, hidden: int = 8) -> None:
        self.W = rng.normal(size=(features, hidden))
        self.b = rng.normal(size=hidden)
        self.V = rng.normal(size=(hidden, 3))
        self.calls: list[int] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(x.shape[0])
        return np.tanh(x @ self.W + self.b) @ self.V

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        hidden = np.tanh(inputs[0] @ self.W + self.b)
        return (((1.0 - hidden**2) * (cotangent @ self.V.T)) @ self.W.T,)


class Saturating:
    """F(x) = Σ_i min(x_i, c_i) · w_i: each feature stops counting once it passes c_i."""

    def __init__(self, c: np.ndarray, w: np.ndarray) -> None:
        self.c, self.w = c, w

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.minimum(x, self.c) * self.w).sum(axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return ((inputs[0] < self.c) * self.w * cotangent[:, None],)


class Split:
    """``inner`` of the features of two inputs side by side: F(a, b) = inner([a, b])."""

    def __init__(self, inner: TanhMLP, width: int) -> None:
        self.inner, self.width = inner, width

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.inner(np.concatenate([a, b], axis=1))

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        (joined,) = self.inner.vjp((np.concatenate(inputs, axis=1),), cotangent)
        return joined[:, : self.width], joined[:, self.width :]


class NotFinite:
    """F(x) = Σ sqrt(x): its gradient is infinite at the black baseline."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x).sum(axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        with np.errstate(divide="ignore"):
            return (0.5 / np.sqrt(inputs[0]) * cotangent[:, None],)


@pytest.fixture
def mlp(rng: np.random.Generator) -> TanhMLP:
    return TanhMLP(rng)


@pytest.fixture
def batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(size=(4, 10)), 0.1 * rng.normal(size=(4, 10))


# --- exactness and completeness ---------------------------------------------------------------


def test_linear_model_gives_integrated_gradients_exactly(rng: np.random.Generator) -> None:
    model = Linear(rng.normal(size=7))
    x, x0 = rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    for max_dist in (1.0, 0.1, 0.0):
        result = guided_ig(model, x, baselines=x0, steps=9, max_dist=max_dist, backend="numpy")
        np.testing.assert_allclose(result.attributions, (x - x0) * model.w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)
    ig = integrated_gradients(model, x, baselines=x0, steps=5, backend="numpy")
    np.testing.assert_allclose(result.attributions, ig.attributions, rtol=1e-12, atol=1e-14)


def test_result_reports_the_method_and_completeness(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    result = guided_ig(mlp, x, baselines=x0, target=1, steps=32, backend="numpy")
    assert (result.algorithm, result.method, result.steps) == ("guided_ig", "guided", 32)
    assert result.forward_evaluations == 1
    np.testing.assert_array_equal(result.steps_per_example, [32] * 4)
    np.testing.assert_array_equal(result.target, [1] * 4)
    assert result.baselines == ("explicit(4, 10)",)
    np.testing.assert_allclose(result.f_input, mlp(x)[:, 1], rtol=1e-13)
    np.testing.assert_allclose(result.f_baseline, mlp(x0)[:, 1], rtol=1e-13)
    sums = result.attributions.sum(axis=1)
    np.testing.assert_allclose(result.attribution_sums, sums, rtol=1e-13)
    np.testing.assert_allclose(result.delta, sums - (result.f_input - result.f_baseline))
    np.testing.assert_allclose(result.baseline_deltas, result.delta[None])


def test_without_delta_no_forward_pass(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    result = guided_ig(mlp, x, baselines=x0, target=0, steps=8, return_delta=False)
    assert result.delta is None and result.f_input is None
    assert result.forward_evaluations == 0
    assert len(mlp.calls) == 8  # one call per step for the whole batch, nothing else


def test_completeness_gap_shrinks_with_steps_on_a_tanh_mlp(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    gaps = []
    for steps in (16, 64, 256):
        result = guided_ig(mlp, x, baselines=x0, target=2, steps=steps, backend="numpy")
        gaps.append(float(np.abs(result.delta).max()))
    # Measured: 0.77, 0.149, 0.050 (about 1/steps) for |F(x) − F(x′)| of 1.0 to 6.1.
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.07
    assert gaps[2] < gaps[0] / 10


def test_completeness_gap_shrinks_with_steps_when_features_saturate(
    rng: np.random.Generator,
) -> None:
    c = rng.uniform(0.2, 0.8, size=12)
    model = Saturating(c, rng.uniform(0.5, 2.0, size=12))
    x = rng.uniform(0.0, 1.5, size=(2, 12))
    exact = (np.minimum(x, c) * model.w).sum(axis=1)  # F(x) − F(0): 6.1 and 7.3
    gaps = []
    for steps in (8, 32, 128, 512):
        result = guided_ig(model, x, steps=steps, backend="numpy")
        np.testing.assert_allclose(result.f_input - result.f_baseline, exact, rtol=1e-13)
        gaps.append(float(np.abs(result.delta).max()))
    # Moving a feature past its kink in one move counts its whole move at the gradient before
    # the kink, so the gap is large at few steps. Measured: 3.14, 0.81, 0.33, 0.057.
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[3] < 0.1
    assert gaps[3] < gaps[0] / 30


# --- the path ---------------------------------------------------------------------------------


def test_path_moves_features_in_increasing_gradient_order() -> None:
    """Hand-checked: |w| = 3, 1, 4, 2, so feature 1 moves first, then 3, then 0, then 2."""
    model = Linear([3.0, -1.0, 4.0, 2.0])
    x = np.array([[1.0, 3.0, 1.0, 1.0]])  # L1 distance 6, so each of 3 steps covers 2
    result = guided_ig(model, x, steps=3, return_delta=False, backend="numpy")
    visited = np.concatenate(model.points)
    # Step 1: feature 1 goes 2/3 of its way (γ = 2/3); step 2: it arrives, then feature 3
    # goes all the way; step 3: feature 0, then feature 2; the path ends at x.
    np.testing.assert_allclose(
        visited, [[0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 3.0, 0.0, 1.0]], atol=1e-15
    )
    np.testing.assert_allclose(result.attributions, x * model.w, atol=1e-15)


def test_each_step_covers_its_share_of_the_distance(rng: np.random.Generator) -> None:
    x, x0 = rng.normal(size=(3, 20)), rng.normal(size=(3, 20))
    path = GuidedPath(x, x0, GuidedSettings(steps=5, fraction=0.1).checked())
    total = np.abs(x - x0).sum(axis=1)
    for step in range(5):
        path.advance(step, rng.normal(size=(3, 20)))
        left = np.abs(path.points - x).sum(axis=1)
        np.testing.assert_allclose(left, total * (1 - (step + 1) / 5), rtol=1e-9, atol=1e-12)
        # Every feature stays between its baseline and its input.
        between = (path.points - x0) * (x - path.points)
        assert (between >= -1e-12).all()
    np.testing.assert_array_equal(path.points, x)  # exactly at the end


def test_max_dist_keeps_every_feature_near_the_straight_line(rng: np.random.Generator) -> None:
    x, x0 = rng.normal(size=(2, 30)), np.zeros((2, 30))
    path = GuidedPath(x, x0, GuidedSettings(steps=10, max_dist=0.2).checked())
    for step in range(10):
        path.advance(step, rng.normal(size=(2, 30)))
        alpha = (path.points - x0) / (x - x0)
        line = (step + 1) / 10
        assert alpha.min() >= line - 0.2 - 1e-12 and alpha.max() <= line + 0.2 + 1e-12


def test_an_example_equal_to_its_baseline_gets_zero(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    x0 = x0.copy()
    x0[2] = x[2]
    result = guided_ig(mlp, x, baselines=x0, target=0, steps=16, backend="numpy")
    np.testing.assert_array_equal(result.attributions[2], 0.0)
    np.testing.assert_allclose(result.delta[2], 0.0, atol=1e-15)


# --- batching ---------------------------------------------------------------------------------


def test_a_batch_gives_what_each_example_gives_alone(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    together = guided_ig(mlp, x, baselines=x0, target=[0, 1, 2, 1], steps=40, backend="numpy")
    for index, target in enumerate([0, 1, 2, 1]):
        row = slice(index, index + 1)
        alone = guided_ig(mlp, x[row], baselines=x0[row], target=target, steps=40)
        np.testing.assert_allclose(together.attributions[row], alone.attributions, atol=1e-13)
        np.testing.assert_allclose(together.delta[row], alone.delta, atol=1e-13)


def test_one_model_call_per_step_for_the_batch_and_batch_size_only_chunks_it(
    mlp: TanhMLP, batch
) -> None:
    x, x0 = batch
    whole = guided_ig(mlp, x, baselines=x0, target=1, steps=12, backend="numpy")
    assert mlp.calls == [4] * 12 + [4]  # 12 steps, then F(x) once
    mlp.calls.clear()
    chunked = guided_ig(mlp, x, baselines=x0, target=1, steps=12, batch_size=1, backend="numpy")
    assert mlp.calls == [1] * 4 * 13
    np.testing.assert_allclose(chunked.attributions, whole.attributions, atol=1e-14)
    np.testing.assert_allclose(chunked.delta, whole.delta, atol=1e-14)


def test_progress_counts_gradient_evaluations(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    seen: list[tuple[int, int]] = []
    guided_ig(mlp, x, baselines=x0, target=0, steps=3, progress=lambda *p: seen.append(p))
    assert seen == [(4, 12), (8, 12), (12, 12)]


def test_an_explainer_is_reused(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    explainer = Explainer(mlp, backend="numpy")
    via_session = guided_ig(explainer, x, baselines=x0, target=2, steps=10)
    direct = guided_ig(mlp, x, baselines=x0, target=2, steps=10, backend="numpy")
    np.testing.assert_array_equal(via_session.attributions, direct.attributions)


def test_a_tuple_of_inputs_is_one_path_over_all_their_features(mlp: TanhMLP, batch) -> None:
    x, x0 = batch
    joined = guided_ig(mlp, x, baselines=x0, target=0, steps=24, fraction=0.2)
    split = guided_ig(
        Split(mlp, 6),
        (x[:, :6], x[:, 6:]),
        baselines=(x0[:, :6], x0[:, 6:]),
        target=0,
        steps=24,
        fraction=0.2,
        backend="numpy",
    )
    assert isinstance(split.attributions, tuple) and len(split.attributions) == 2
    np.testing.assert_allclose(np.concatenate(split.attributions, axis=1), joined.attributions)
    np.testing.assert_allclose(split.delta, joined.delta, atol=1e-13)


# --- agreement with PAIR's reference implementation -------------------------------------------


class _NumpyWithOldQuantile:
    """NumPy as PAIR's guided_ig.py sees it: ``quantile(interpolation=)`` is ``method=`` (the
    keyword NumPy 2.4 removed); nothing else changes, and only that module sees it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def quantile(values: Any, q: Any, interpolation: Any = "linear", **options: Any) -> Any:
        return np.quantile(values, q, method=interpolation, **options)


@pytest.fixture
def pair_guided_ig(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    guided = pytest.importorskip("saliency.core.guided_ig")
    monkeypatch.setattr(guided, "np", _NumpyWithOldQuantile())
    yield guided.GuidedIG()


@pytest.mark.parametrize(("max_dist", "fraction"), [(1.0, 0.25), (0.02, 0.25), (0.3, 0.1)])
def test_agrees_with_pair(mlp: TanhMLP, batch, pair_guided_ig, max_dist, fraction) -> None:
    from saliency.core import INPUT_OUTPUT_GRADIENTS

    x, x0 = batch

    def call_model(points: np.ndarray, call_model_args: Any = None, expected_keys: Any = None):
        cotangent = np.zeros((len(points), 3))
        cotangent[:, 1] = 1.0
        return {INPUT_OUTPUT_GRADIENTS: mlp.vjp((points,), cotangent)[0]}

    ours = guided_ig(
        mlp,
        x,
        baselines=x0,
        target=1,
        steps=50,
        fraction=fraction,
        max_dist=max_dist,
        backend="numpy",
    )
    theirs = np.stack(
        [
            pair_guided_ig.GetMask(
                row,
                call_model,
                x_baseline=start,
                x_steps=50,
                fraction=fraction,
                max_dist=max_dist,
            )
            for row, start in zip(x, x0, strict=True)
        ]
    )
    np.testing.assert_allclose(ours.attributions, theirs, rtol=0, atol=AGREEMENT)


# --- every framework --------------------------------------------------------------------------


def _layers(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (rng.normal(size=(5, 6)), rng.normal(size=6)),
        (rng.normal(size=(6, 3)), rng.normal(size=3)),
    ]


def test_every_framework_matches_the_numpy_reference(framework, rng: np.random.Generator) -> None:
    layers = _layers(rng)
    x, x0 = rng.normal(size=(3, 5)), 0.2 * rng.normal(size=(3, 5))
    expected = guided_ig(
        FrameworkMLP(layers), x, baselines=x0, target=[0, 2, 1], steps=20, backend="numpy"
    )
    result = guided_ig(
        framework.mlp(layers),
        framework.tensor(x, "float64"),
        baselines=framework.tensor(x0, "float64"),
        target=[0, 2, 1],
        steps=20,
        batch_size=2,
    )
    attributions = framework.numpy(result.attributions)
    assert attributions.dtype == np.float64
    np.testing.assert_allclose(attributions, expected.attributions, atol=FRAMEWORK_TOLERANCE)
    np.testing.assert_allclose(result.delta, expected.delta, atol=FRAMEWORK_TOLERANCE)
    np.testing.assert_allclose(result.f_input, expected.f_input, rtol=1e-12)


def test_float32_inputs_keep_their_dtype(framework, rng: np.random.Generator) -> None:
    layers = _layers(rng)
    x = rng.normal(size=(2, 5))
    result = guided_ig(
        framework.mlp(layers, dtype="float32"), framework.tensor(x), target=0, steps=64
    )
    reference = guided_ig(FrameworkMLP(layers), x, target=0, steps=64, backend="numpy")
    attributions = framework.numpy(result.attributions)
    assert attributions.dtype == np.float32
    np.testing.assert_allclose(attributions, reference.attributions, atol=FLOAT32_TOLERANCE)
    np.testing.assert_allclose(result.delta, reference.delta, atol=FLOAT32_TOLERANCE)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"steps": 0}, ValueError, "steps must be >= 1, got 0"),
        ({"steps": 2.5}, TypeError, "steps must be a positive int, got 2.5"),
        ({"steps": True}, TypeError, "steps must be a positive int"),
        ({"fraction": 0.0}, ValueError, r"fraction must be in \(0, 1\], got 0.0"),
        ({"fraction": 1.5}, ValueError, r"fraction must be in \(0, 1\], got 1.5"),
        ({"fraction": "all"}, ValueError, r"fraction must be in \(0, 1\]"),
        ({"max_dist": -0.1}, ValueError, r"max_dist must be in \[0, 1\], got -0.1"),
        ({"max_dist": 2}, ValueError, r"max_dist must be in \[0, 1\], got 2"),
        ({"baselines": np.zeros((4, 9))}, ValueError, "does not broadcast to the input's shape"),
        ({"baselines": ["black", "white"]}, ValueError, "one baseline, not a list of 2"),
        ({"target": [0, 1]}, ValueError, "one entry per example"),
    ],
)
def test_bad_arguments_are_refused(mlp: TanhMLP, batch, options, error, message) -> None:
    x, _ = batch
    call = {"target": 0, **options}
    with pytest.raises(error, match=message):
        guided_ig(mlp, x, backend="numpy", **call)
    assert mlp.calls == []  # refused before any model call


def test_baseline_shape_mismatch_is_refused_in_a_framework(framework) -> None:
    layers = _layers(np.random.default_rng(0))
    with pytest.raises(ValueError, match="does not broadcast to the input's shape"):
        guided_ig(
            framework.mlp(layers),
            framework.tensor(np.ones((2, 5)), "float64"),
            baselines=framework.tensor(np.zeros((2, 4)), "float64"),
            target=0,
        )


def test_explainers_it_cannot_use_are_refused(mlp: TanhMLP, batch) -> None:
    x, _ = batch
    pair = (lambda v: v, lambda v: v)
    with pytest.raises(ValueError, match="use an Explainer without a layer"):
        guided_ig(Explainer(mlp, backend="numpy", layer=pair), x, target=0)
    with pytest.raises(ValueError, match="multiply_by_inputs=True"):
        guided_ig(Explainer(mlp, backend="numpy", multiply_by_inputs=False), x, target=0)
    with pytest.raises(ValueError, match="belong to the Explainer"):
        guided_ig(Explainer(mlp, backend="numpy"), x, target=0, backend="numpy")


def test_non_finite_gradients_are_reported() -> None:
    with pytest.raises(ValueError, match=r"NaN or inf for example\(s\) \[0, 1\]"):
        guided_ig(NotFinite(), np.ones((2, 3)), steps=4, backend="numpy")


def test_the_core_checks_what_the_gradient_function_returns() -> None:
    settings = GuidedSettings(steps=3).checked()
    ends, starts = np.ones((2, 4)), np.zeros((2, 4))

    def wrong_shape(points: np.ndarray) -> tuple[np.ndarray, None]:
        return np.ones((2, 3)), None

    def not_finite(points: np.ndarray) -> tuple[np.ndarray, None]:
        return np.where(points[:, :1] > 0, np.nan, np.ones_like(points)), None

    with pytest.raises(ValueError, match=r"points' shape \(2, 4\), got \(2, 3\)"):
        guided_path_integral(ends, starts, wrong_shape, settings)
    with pytest.raises(ValueError, match=r"example\(s\) \[0, 1\] at Guided IG step 2"):
        guided_path_integral(ends, starts, not_finite, settings)


def test_idgi_reweighting_of_the_guided_path_adds_up_exactly(mlp, batch) -> None:
    x, x0 = batch
    plain = guided_ig(mlp, x, baselines=x0, target=1, steps=16, backend="numpy")
    reweighted = guided_ig(
        mlp, x, baselines=x0, target=1, steps=16, reweight="idgi", backend="numpy"
    )
    assert reweighted.algorithm == "idgi:guided_ig" and reweighted.steps == plain.steps
    # Guided IG's Riemann sum leaves a gap at 16 steps; IDGI's steps add up by construction.
    assert np.abs(plain.delta).max() > 1e-3
    np.testing.assert_allclose(reweighted.delta, 0.0, atol=1e-12)
    np.testing.assert_allclose(reweighted.f_baseline, plain.f_baseline, rtol=1e-12)


def test_idgi_reweighting_of_a_linear_model_is_its_closed_form() -> None:
    weights = np.array([1.0, -2.0, 0.5])
    x = np.array([[0.5, 1.0, -2.0]])
    result = guided_ig(Linear(weights), x, steps=8, reweight="idgi", backend="numpy")
    change = float(result.f_input[0] - result.f_baseline[0])
    np.testing.assert_allclose(result.attributions[0], weights**2 / (weights**2).sum() * change)


def test_reweight_must_be_idgi_or_none(mlp, batch) -> None:
    with pytest.raises(ValueError, match="reweight must be None or 'idgi'"):
        guided_ig(mlp, batch[0], target=1, reweight="smooth", backend="numpy")
