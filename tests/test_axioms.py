"""The paper's axioms and closed forms, checked for every installed backend.

Sundararajan, Taly & Yan (2017): completeness, sensitivity, implementation invariance,
linearity and symmetry preservation. Models are built from NumPy weights by ``tests/frameworks``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from intgrad import METHODS, integrated_gradients


def _layers(rng: np.random.Generator, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (rng.normal(0, 1 / np.sqrt(a), (a, b)), rng.normal(0, 0.1, b))
        for a, b in itertools.pairwise(sizes)
    ]


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_completeness_on_smooth_models(framework: Any, rng, activation: str) -> None:
    model = framework.mlp(_layers(rng, [6, 16, 16, 4]), activation, softmax=True)
    x = framework.tensor(rng.normal(size=(3, 6)), "float64")
    result = integrated_gradients(model, x, target=[0, 2, 3], steps=64)
    gap = np.abs(result.f_input - result.f_baseline)
    assert (gap > 1e-3).all()
    np.testing.assert_array_less(np.abs(result.delta), 1e-4 * gap)
    sums = framework.numpy(result.attributions).sum(axis=1)
    np.testing.assert_allclose(sums, result.attribution_sums, rtol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_gap_shrinks_with_steps(framework: Any, rng, method: str) -> None:
    model = framework.mlp(_layers(rng, [5, 12, 3]), "tanh")
    x = framework.tensor(rng.normal(size=(2, 5)) * 2, "float64")
    gaps = [
        np.abs(integrated_gradients(model, x, target=1, steps=n, method=method).delta).max()
        for n in (4, 16, 64)
    ]
    assert gaps[0] > gaps[1] > gaps[2] or gaps[2] < 1e-12
    assert gaps[2] < 0.2 * gaps[0] or gaps[2] < 1e-12


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("steps", [2, 7])
def test_linear_model_gives_weights_times_difference(framework: Any, rng, method, steps) -> None:
    weight, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    model = framework.mlp([(weight, bias)], "none")
    x_np, base_np = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    result = integrated_gradients(
        model,
        framework.tensor(x_np, "float64"),
        baselines=framework.tensor(base_np, "float64"),
        target=2,
        steps=steps,
        method=method,
    )
    expected = weight[:, 2] * (x_np - base_np)
    np.testing.assert_allclose(framework.numpy(result.attributions), expected, rtol=1e-12)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)


def test_tutorial_min_function_at_one_gives_point_eight(framework: Any) -> None:
    # f(x) = min(x, 0.8): the gradient is 1 below 0.8 and 0 above, so IG(1) = 0.8.
    model = framework.elementwise("min", 0.8)
    x = framework.tensor([[1.0]], "float64")
    result = integrated_gradients(model, x, steps=10, method="riemann_middle")
    assert framework.numpy(result.attributions)[0, 0] == pytest.approx(0.8, abs=1e-12)
    assert result.delta[0] == pytest.approx(0.0, abs=1e-12)
    approx = integrated_gradients(model, x, steps=300, method="riemann_trapezoid")
    assert framework.numpy(approx.attributions)[0, 0] == pytest.approx(0.8, abs=2e-3)


def test_quadratic_matches_its_formula(framework: Any, rng) -> None:
    # F = c·Σx²: IG_i = c·(x_i² − x′_i²), and Gauss–Legendre with 1 node is exact (linear
    # integrand).
    x_np, base_np = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    result = integrated_gradients(
        framework.elementwise("square", 1.5),
        framework.tensor(x_np, "float64"),
        baselines=framework.tensor(base_np, "float64"),
        steps=1,
    )
    np.testing.assert_allclose(
        framework.numpy(result.attributions), 1.5 * (x_np**2 - base_np**2), rtol=1e-12
    )


def test_sensitivity(framework: Any, rng) -> None:
    # (a) one feature differs from the baseline and changes the output: it gets the whole change;
    # (b) a feature the model ignores gets zero.
    weight = np.zeros((3, 1))
    weight[0, 0] = 2.0
    model = framework.mlp([(weight, np.zeros(1)), (np.ones((1, 1)), np.zeros(1))], "tanh")
    x = framework.tensor([[0.7, 5.0, -3.0]], "float64")
    result = integrated_gradients(model, x, steps=64)
    attributions = framework.numpy(result.attributions)[0]
    assert attributions[0] == pytest.approx(np.tanh(1.4), rel=1e-6)
    assert attributions[1] == 0.0 and attributions[2] == 0.0


def test_symmetry_preservation(framework: Any, rng) -> None:
    # F symmetric in features 0 and 1; equal values at input and baseline → equal attributions.
    hidden = rng.normal(size=(1, 8))
    first = np.concatenate([hidden, hidden, rng.normal(size=(1, 8))])
    model = framework.mlp([(first, rng.normal(size=8)), (rng.normal(size=(8, 1)), [0.0])])
    x = framework.tensor([[0.9, 0.9, -0.4]], "float64")
    attributions = framework.numpy(integrated_gradients(model, x, steps=32).attributions)[0]
    assert attributions[0] == pytest.approx(attributions[1], rel=1e-12)
    assert abs(attributions[0]) > 1e-3


def test_linearity(framework: Any, rng) -> None:
    model = framework.mlp(_layers(rng, [4, 10, 2]), "tanh")
    x = framework.tensor(rng.normal(size=(2, 4)), "float64")
    ig = [framework.numpy(integrated_gradients(model, x, target=t).attributions) for t in (0, 1)]
    combined = integrated_gradients(model, x, output=lambda o: 2.0 * o[:, 0] - 3.0 * o[:, 1])
    np.testing.assert_allclose(
        framework.numpy(combined.attributions), 2.0 * ig[0] - 3.0 * ig[1], rtol=1e-10, atol=1e-13
    )


def test_implementation_invariance(framework: Any, rng) -> None:
    # Net B duplicates every hidden unit and halves the outgoing weights: same function,
    # different network.
    (w1, b1), (w2, b2) = _layers(rng, [5, 6, 3])
    net_a = framework.mlp([(w1, b1), (w2, b2)], "tanh")
    net_b = framework.mlp(
        [(np.hstack([w1, w1]), np.concatenate([b1, b1])), (np.vstack([w2, w2]) / 2, b2)], "tanh"
    )
    x = framework.tensor(rng.normal(size=(3, 5)), "float64")
    a = integrated_gradients(net_a, x, target=1, steps=16)
    b = integrated_gradients(net_b, x, target=1, steps=16)
    np.testing.assert_allclose(
        framework.numpy(a.attributions), framework.numpy(b.attributions), rtol=1e-10, atol=1e-14
    )


def test_chunking_invariance(framework: Any, rng) -> None:
    model = framework.mlp(_layers(rng, [6, 8, 3]), "tanh")
    x = framework.tensor(rng.normal(size=(4, 6)), "float64")
    results = [
        integrated_gradients(
            model,
            x,
            target=[0, 1, 2, 0],
            steps=9,
            batch_size=size,
            seed=1,
            baselines=["black", "uniform"],
            return_path=True,
        )
        for size in (1, 7, 36)
    ]
    reference = framework.numpy(results[0].attributions)
    for result in results[1:]:
        np.testing.assert_allclose(framework.numpy(result.attributions), reference, rtol=1e-12)
        np.testing.assert_allclose(result.delta, results[0].delta, atol=1e-14)
        np.testing.assert_allclose(result.path.outputs, results[0].path.outputs, rtol=1e-12)


def test_multiple_inputs_and_additional_forward_args(framework: Any, rng) -> None:
    w1, w2 = rng.normal(size=(3, 2)), rng.normal(size=(4, 2))
    model = framework.two_inputs(w1, w2)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    scale = np.array([[1.0], [3.0]])
    result = integrated_gradients(
        model,
        (framework.tensor(a, "float64"), framework.tensor(b, "float64")),
        target=[0, 1],
        steps=48,
        additional_forward_args=(framework.tensor(scale, "float64"),),
    )
    attr_a, attr_b = (framework.numpy(t) for t in result.attributions)
    assert attr_a.shape == (2, 3) and attr_b.shape == (2, 4)
    expected_total = np.tanh(np.einsum("ni,ij->nj", a, w1) + b @ w2)[[0, 1], [0, 1]] * scale[:, 0]
    np.testing.assert_allclose(attr_a.sum(1) + attr_b.sum(1), expected_total, rtol=1e-6)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-6)


def test_several_baselines_average_and_report_each_delta(framework: Any, rng) -> None:
    model = framework.mlp(_layers(rng, [3, 6, 2]), "tanh")
    x = framework.tensor(rng.normal(size=(2, 3)), "float64")
    each = [integrated_gradients(model, x, target=0, baselines=b) for b in ("black", 0.5)]
    both = integrated_gradients(model, x, target=0, baselines=["black", 0.5])
    np.testing.assert_allclose(
        framework.numpy(both.attributions),
        (framework.numpy(each[0].attributions) + framework.numpy(each[1].attributions)) / 2,
        rtol=1e-12,
    )
    np.testing.assert_allclose(both.baseline_deltas, [each[0].delta, each[1].delta], atol=1e-15)
    assert both.steps == 100 and both.baselines == ("black", "constant(0.5)")


def test_path_record(framework: Any, rng) -> None:
    weight = rng.normal(size=(4, 1))
    model = framework.mlp([(weight, np.array([0.3]))], "none")
    x_np = rng.normal(size=(2, 4))
    result = integrated_gradients(
        model,
        framework.tensor(x_np, "float64"),
        steps=5,
        method="riemann_trapezoid",
        return_path=True,
    )
    path = result.path
    np.testing.assert_allclose(path.alphas, np.tile(np.linspace(0, 1, 5), (2, 1)))
    np.testing.assert_allclose(path.outputs, 0.3 + path.alphas * (x_np @ weight), rtol=1e-12)
    np.testing.assert_allclose(path.mean_gradients, weight.mean(), rtol=1e-12)
    assert path.outputs[:, -1] == pytest.approx(result.f_input)


def test_float32_inputs_keep_their_dtype(framework: Any, rng) -> None:
    model = framework.mlp(_layers(rng, [3, 4, 2]), "tanh", dtype="float32")
    x = framework.tensor(rng.normal(size=(2, 3)), "float32")
    attributions = framework.numpy(integrated_gradients(model, x, target=0).attributions)
    assert attributions.dtype == np.float32 and attributions.shape == (2, 3)
