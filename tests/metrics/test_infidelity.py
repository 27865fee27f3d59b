"""Infidelity: zero for exact attributions, the closed form of a wrong one, β, errors."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad import Explainer, integrated_gradients
from intgrad.metrics import infidelity
from tests.metrics._models import Linear, TanhMLP, mlp_layers


@pytest.fixture
def linear(rng: np.random.Generator) -> tuple[Linear, np.ndarray, np.ndarray]:
    w = rng.normal(size=6)
    return Linear(w, b=0.2), rng.normal(size=(3, 6)), w


def test_exact_ig_of_a_linear_model_has_zero_infidelity(linear) -> None:
    model, x, _ = linear
    baseline = np.full(6, 0.3)
    attribution = integrated_gradients(model, x, baselines=baseline, steps=4)
    result = infidelity(model, x, attribution, baselines=baseline, samples=32)
    assert result.values.max() < 1e-28  # measured 3e-31: float64 rounding of 6-term sums
    assert result.perturbation == "baseline(fraction=0.5)" and result.samples == 32
    np.testing.assert_array_equal(result.beta, [1.0, 1.0, 1.0])
    gaussian = infidelity(model, x, attribution, baselines=baseline, perturbation="gaussian")
    assert gaussian.values.max() < 1e-28 and gaussian.perturbation == "gaussian(scale=0.1)"


def test_a_gradient_explanation_is_read_without_inputs(linear) -> None:
    model, x, _ = linear
    gradient = Explainer(model).gradients(x)
    assert gradient.algorithm == "gradient"
    result = infidelity(model, x, gradient, perturbation="gaussian", samples=16)
    assert result.values.max() < 1e-28
    wrong = infidelity(model, x, gradient, perturbation="gaussian", multiply_by_inputs=True)
    assert wrong.values.min() > 1e-4


def test_a_wrong_attribution_matches_the_closed_form(linear) -> None:
    model, x, w = linear
    phi = w * x
    wrong = phi[:, ::-1].copy()
    p = 0.3
    result = infidelity(model, x, wrong, samples=4000, fraction=p, seed=2)
    # I = m ⊙ x with m ~ Bernoulli(p): E[(Σ m e)²] = p(1 − p) Σ e² + p² (Σ e)², e = φ − w ⊙ x.
    e = wrong - phi
    expected = p * (1 - p) * (e**2).sum(1) + p**2 * e.sum(1) ** 2
    assert (result.values > 1e-3).all()
    assert (np.abs(result.values - expected) < 4 * result.standard_error).all()
    np.testing.assert_allclose(result.values, expected, rtol=0.08)  # measured 2.9 % at most


def test_normalising_fits_the_scale(linear) -> None:
    model, x, w = linear
    result = infidelity(model, x, 3.0 * w * x, samples=16, normalise=True)
    np.testing.assert_allclose(result.beta, 1 / 3, rtol=1e-12)
    assert result.values.max() < 1e-28 and result.normalised
    plain = infidelity(model, x, 3.0 * w * x, samples=16)
    assert plain.values.min() > 0.01


def test_features_move_together_and_perturbations_are_seeded(rng: np.random.Generator) -> None:
    w = rng.normal(size=(4, 4, 2))
    images = rng.normal(size=(2, 4, 4, 2))
    model = Linear(w)
    phi = w * images
    exact = infidelity(model, images, phi, features="pixels", samples=8)
    assert exact.values.max() < 1e-27
    noisy = phi + rng.normal(size=phi.shape)
    first = infidelity(model, images, noisy, samples=8, seed=5)
    np.testing.assert_array_equal(
        first.values, infidelity(model, images, noisy, samples=8, seed=5).values
    )
    assert not np.array_equal(
        first.values, infidelity(model, images, noisy, samples=8, seed=6).values
    )


def test_batched_in_one_call_per_block(rng: np.random.Generator) -> None:
    mlp = TanhMLP(mlp_layers(rng))
    x = rng.normal(size=(3, 6))
    attribution = integrated_gradients(mlp, x, target=[0, 1, 2], steps=32)
    calls: list[int] = []

    class Counting(TanhMLP):
        def __call__(self, v: np.ndarray) -> np.ndarray:
            calls.append(v.shape[0])
            return super().__call__(v)

    counted = Counting(mlp_layers(np.random.default_rng(20170304)))
    counted.w1, counted.b1, counted.w2, counted.b2 = mlp.w1, mlp.b1, mlp.w2, mlp.b2
    result = infidelity(counted, x, attribution, samples=10)
    assert calls == [3, 30]  # F(x), then the 10 samples of the 3 examples in one call
    # IG of a tanh MLP satisfies completeness for the whole path only, not for every subset.
    assert result.values.shape == (3,) and np.isfinite(result.values).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"perturbation": "square"}, ValueError, "perturbation must be one of baseline, gaussian"),
        ({"samples": 0}, ValueError, "samples must be >= 1"),
        ({"fraction": 1.5}, ValueError, r"fraction must lie in \[0, 1\]"),
        ({"scale": 0.0}, ValueError, "scale must be > 0"),
        ({"multiply_by_inputs": 1}, TypeError, "multiply_by_inputs must be a bool or None"),
        ({"baselines": np.zeros(3)}, ValueError, "baselines of shape"),
    ],
)
def test_infidelity_refuses(kwargs, error, message) -> None:
    x = np.ones((2, 4))
    with pytest.raises(error, match=message):
        infidelity(Linear(np.ones(4)), x, x, **kwargs)


def test_integer_inputs_need_baseline_ids() -> None:
    ids = np.ones((2, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="infidelity on token ids needs baselines="):
        infidelity(Linear(np.ones(4)), ids, np.ones((2, 4)))
