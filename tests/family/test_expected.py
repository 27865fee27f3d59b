"""Expected Gradients on closed forms (NumPy backend) and on a small MLP in every framework.

The draws are part of the contract — reference rows, then α, then the noise, all from
``numpy.random.default_rng(seed)`` — so a NumPy re-implementation of the estimator from the
same draws (``reference_samples``) must agree with the engine to rounding (1e-12). Statistical
checks use the method's own standard error: |EG − exact| ≤ 4 standard errors per feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import intgrad
from intgrad.family.expected import MonteCarloAlphas, expected_gradients
from tests.closed_forms import Cubic, Quadratic, TanhLinear, TanhMLP, TwoInputs

EXACT = 1e-12
C = np.array([1.0, -2.0, 0.5])


class Linear:
    """F(x) = x · w per row, shape (rows,): every path gives the exact attributions."""

    def __init__(self, w: np.ndarray) -> None:
        self.w = np.asarray(w, dtype=np.float64)

    def __call__(self, x: np.ndarray, *extra: Any) -> np.ndarray:
        return x @ self.w

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x = inputs[0]
        return (np.broadcast_to(self.w, x.shape) * cotangent[:, None],)


def mlp_layers(seed: int = 7) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights of a 3 → 4 → 2 MLP."""
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(3, 4)), rng.normal(size=4) * 0.1),
        (rng.normal(size=(4, 2)), rng.normal(size=2) * 0.1),
    ]


def gradient(model: Any, points: tuple[np.ndarray, ...], target: Any, extras: tuple = ()) -> Any:
    """∂F/∂x of a closed form at ``points`` for per-row ``target`` (None: one output)."""
    outputs = np.asarray(model(*points, *extras))
    cotangent = np.ones(outputs.shape[0])
    if target is not None:
        cotangent = np.zeros_like(outputs)
        cotangent[np.arange(outputs.shape[0]), target] = 1.0
    return model.vjp((*points, *extras), cotangent)[: len(points)]


def reference_samples(
    model: Any,
    inputs: tuple[np.ndarray, ...],
    background: tuple[np.ndarray, ...],
    samples: int,
    seed: int,
    stdevs: tuple[float, ...] | None = None,
    target: Any = None,
    extras: tuple = (),
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per input, the K samples (K, E, ...) of EG and the drawn references, from the draws."""
    examples = inputs[0].shape[0]
    rng = np.random.default_rng(seed)
    index = rng.integers(0, background[0].shape[0], size=(samples, examples)).reshape(-1)
    alphas = rng.uniform(0.0, 1.0, size=(samples, examples)).reshape(-1)
    ends = []
    for x, s in zip(inputs, stdevs or (0.0,) * len(inputs), strict=True):
        tiled = np.tile(x, (samples,) + (1,) * (x.ndim - 1))
        if s:
            tiled = tiled + s * rng.standard_normal(tiled.shape)
        ends.append(tiled)
    starts = [b[index] for b in background]
    column = alphas.reshape(-1, *([1] * (inputs[0].ndim - 1)))
    points = tuple(b + column * (e - b) for b, e in zip(starts, ends, strict=True))
    rows_target = None if target is None else np.tile(target, samples)
    rows_extras = tuple(np.tile(a, (samples,) + (1,) * (a.ndim - 1)) for a in extras)
    grads = gradient(model, points, rows_target, rows_extras)
    per_sample = [
        ((e - b) * g).reshape(samples, examples, *e.shape[1:])
        for e, b, g in zip(ends, starts, grads, strict=True)
    ]
    return per_sample, [s.reshape(samples, examples, *s.shape[1:]) for s in starts]


def _inputs(rng: np.random.Generator, examples: int = 2) -> np.ndarray:
    return rng.normal(size=(examples, 3))


@pytest.mark.parametrize("stdevs", [0.0, 0.3])
def test_matches_the_estimator_from_the_same_draws(rng: np.random.Generator, stdevs: float):
    x, background = _inputs(rng), rng.normal(size=(4, 3))
    result = expected_gradients(
        Quadratic(C), x, background=background, samples=6, stdevs=stdevs, seed=3, backend="numpy"
    )
    (per_sample,), (starts,) = reference_samples(Quadratic(C), (x,), (background,), 6, 3, (stdevs,))
    np.testing.assert_allclose(result.attributions, per_sample.mean(axis=0), rtol=EXACT)
    expected_se = per_sample.std(axis=0, ddof=1) / np.sqrt(6)
    np.testing.assert_allclose(result.standard_error, expected_se, rtol=1e-10)
    # Each sample's gap: the sum of its attributions minus F(x̃_k) − F(x′_k).
    gaps = result.baseline_deltas
    assert gaps.shape == (6, 2)
    np.testing.assert_allclose(result.delta, gaps.mean(axis=0), rtol=EXACT)
    np.testing.assert_allclose(result.f_baseline, (C * starts**2).sum(-1).mean(0), rtol=EXACT)
    if stdevs == 0.0:
        f_x = (C * x**2).sum(-1)
        np.testing.assert_allclose(gaps, per_sample.sum(-1) - (f_x - (C * starts**2).sum(-1)))
        np.testing.assert_allclose(result.f_input, f_x, rtol=EXACT)
    assert result.algorithm == "expected_gradients" and result.method == "monte_carlo"
    assert result.steps == 6 and result.forward_evaluations == 12
    np.testing.assert_array_equal(result.steps_per_example, [6, 6])
    np.testing.assert_allclose(result.attribution_sums, result.attributions.sum(-1), rtol=1e-12)


def test_single_reference_is_ig_monte_carlo(rng: np.random.Generator):
    # One background row b: EG is (x − b) · mean_k ∂F(b + α_k(x − b)), IG's Monte Carlo
    # estimate; for F = Σ c x² that is 2c(x − b)(b + ᾱ(x − b)) with ᾱ the mean α drawn.
    x, b = _inputs(rng), rng.normal(size=(1, 3))
    result = expected_gradients(Quadratic(C), x, background=b, samples=5, seed=11, backend="numpy")
    draws = np.random.default_rng(11)
    draws.integers(0, 1, size=(5, 2))
    mean_alpha = draws.uniform(0.0, 1.0, size=(5, 2)).mean(axis=0)[:, None]
    expected = 2 * C * (x - b) * (b + mean_alpha * (x - b))
    np.testing.assert_allclose(result.attributions, expected, rtol=EXACT)


def test_converges_to_the_expectation_over_the_background(rng: np.random.Generator):
    # F = Σ x³: IG from b is x³ − b³ exactly, so EG's expectation is x³ − mean_j b_j³.
    x, background = _inputs(rng), rng.normal(size=(5, 3))
    exact = x**3 - (background**3).mean(axis=0)
    result = expected_gradients(Cubic(), x, background=background, samples=4000, seed=0)
    z = np.abs(result.attributions - exact) / result.standard_error
    assert z.max() < 4.0  # measured 1.82
    small = expected_gradients(Cubic(), x, background=background, samples=1000, seed=1)
    ratio = small.standard_error / result.standard_error  # √(4000/1000) = 2
    assert abs(ratio.mean() - 2.0) < 0.15  # measured 2.02


def test_is_exact_for_a_linear_model_whatever_the_draws(rng: np.random.Generator):
    w = np.array([0.5, -1.0, 2.0])
    x, b = _inputs(rng), rng.normal(size=(1, 3))
    for seed in (0, 1, 2):
        result = expected_gradients(Linear(w), x, background=b, samples=3, seed=seed)
        np.testing.assert_allclose(result.attributions, (x - b) * w, rtol=EXACT)
        np.testing.assert_allclose(result.standard_error, 0.0, atol=1e-15)
        np.testing.assert_allclose(result.baseline_deltas, 0.0, atol=1e-12)
    wide = expected_gradients(Linear(w), x, background=rng.normal(size=(7, 3)), samples=9, seed=4)
    np.testing.assert_allclose(wide.delta, 0.0, atol=1e-12)  # completeness holds per sample
    np.testing.assert_allclose(
        wide.attributions.sum(-1), wide.f_input - wide.f_baseline, rtol=1e-12
    )


def test_without_multiplying_by_inputs_returns_the_expected_gradient(rng: np.random.Generator):
    w = np.array([0.5, -1.0, 2.0])
    x, background = _inputs(rng), rng.normal(size=(3, 3))
    result = expected_gradients(
        Linear(w), x, background=background, samples=4, seed=0, multiply_by_inputs=False
    )
    np.testing.assert_allclose(result.attributions, np.broadcast_to(w, x.shape), rtol=EXACT)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)  # of the multiplied attributions


def test_seeds(rng: np.random.Generator):
    x, background = _inputs(rng), rng.normal(size=(4, 3))

    def run(seed: int | None) -> intgrad.Attribution:
        return expected_gradients(Cubic(), x, background=background, samples=4, seed=seed)

    np.testing.assert_array_equal(run(5).attributions, run(5).attributions)
    assert np.abs(run(5).attributions - run(6).attributions).max() > 1e-3
    assert np.abs(run(None).attributions - run(None).attributions).max() > 1e-6


def test_batch_size_bounds_model_calls_and_changes_nothing(rng: np.random.Generator):
    x, background = _inputs(rng, 3), rng.normal(size=(4, 3))
    whole, single = Quadratic(C), Quadratic(C)
    a = expected_gradients(whole, x, background=background, samples=5, seed=2)
    b = expected_gradients(single, x, background=background, samples=5, seed=2, batch_size=1)
    np.testing.assert_array_equal(a.attributions, b.attributions)
    np.testing.assert_array_equal(a.standard_error, b.standard_error)
    np.testing.assert_allclose(a.delta, b.delta, rtol=EXACT)
    assert max(single.calls) == 1 and len(single.calls) == 15 + 15 + 15  # F(x̃), F(x′), ∂F
    assert max(whole.calls) == 15


def test_two_inputs_draw_one_background_row_for_both(rng: np.random.Generator):
    u = np.array([1.0, 2.0])
    a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 3))
    background = (rng.normal(size=(4, 2)), rng.normal(size=(4, 3)))
    result = expected_gradients(TwoInputs(u), (a, b), background=background, samples=5, seed=9)
    per_sample, _ = reference_samples(TwoInputs(u), (a, b), background, 5, 9)
    assert isinstance(result.attributions, tuple) and isinstance(result.standard_error, tuple)
    for got, want, se in zip(result.attributions, per_sample, result.standard_error, strict=True):
        np.testing.assert_allclose(got, want.mean(axis=0), rtol=EXACT)
        np.testing.assert_allclose(se, want.std(axis=0, ddof=1) / np.sqrt(5), rtol=1e-10)


def test_targets_and_per_example_arguments_follow_their_example(rng: np.random.Generator):
    weight = rng.normal(size=(3, 4))
    x, background = _inputs(rng), rng.normal(size=(3, 3))
    scale = np.array([[2.0], [-0.5]])  # one row per example: taken per row
    result = expected_gradients(
        TanhLinear(weight),
        x,
        background=background,
        samples=4,
        seed=1,
        target=[3, 1],
        additional_forward_args=scale,
    )
    (per_sample,), _ = reference_samples(
        TanhLinear(weight), (x,), (background,), 4, 1, target=np.array([3, 1]), extras=(scale,)
    )
    np.testing.assert_allclose(result.attributions, per_sample.mean(axis=0), rtol=EXACT)
    np.testing.assert_array_equal(result.target, [3, 1])


def test_one_sample_has_no_standard_error_and_example_slices(rng: np.random.Generator):
    x, background = _inputs(rng), rng.normal(size=(2, 3))
    result = expected_gradients(Cubic(), x, background=background, samples=1, seed=0)
    assert np.isnan(result.standard_error).all() and result.standard_error.shape == (2, 3)
    second = result.example(1)
    np.testing.assert_array_equal(second.attributions, result.attributions[1:])
    assert second.standard_error.shape == (1, 3)


def test_progress_and_explainer_reuse(rng: np.random.Generator):
    x, background = _inputs(rng), rng.normal(size=(2, 3))
    calls: list[tuple[int, int]] = []
    explainer = intgrad.Explainer(Cubic(), backend="numpy")
    result = expected_gradients(
        explainer, x, background=background, samples=3, seed=0, progress=lambda *a: calls.append(a)
    )
    assert calls[-1] == (6, 6)
    again = expected_gradients(explainer, x, background=background, samples=3, seed=0)
    np.testing.assert_array_equal(result.attributions, again.attributions)


def test_planner_refuses_alphas_of_another_length():
    planner = MonteCarloAlphas(np.array([0.5, 0.5]))(np.arange(3), 3, False, False)
    with pytest.raises(ValueError, match="2 alphas were drawn for 3 slots"):
        next(planner)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"samples": 0}, ValueError, "samples must be >= 1"),
        ({"samples": 2.5}, TypeError, "samples must be a positive int"),
        ({"samples": True}, TypeError, "samples must be a positive int"),
        ({"background": None}, ValueError, "background is required"),
        ({"background": np.zeros((3, 2))}, ValueError, r"has shape \(3, 2\); expected \(rows, 3\)"),
        ({"background": np.zeros(3)}, ValueError, r"expected \(rows, 3\)"),
        ({"background": np.zeros((0, 3))}, ValueError, "at least one row"),
        ({"background": [[0.0, 0.0, 0.0]]}, TypeError, "must be a numpy tensor or a NumPy array"),
        ({"background": "zeros"}, TypeError, "must be a numpy tensor or a NumPy array"),
        ({"background": (np.zeros((2, 3)),) * 2}, ValueError, "2 tensors but there are 1"),
        ({"stdevs": -0.1}, ValueError, "stdevs must be finite and >= 0"),
        ({"stdevs": float("nan")}, ValueError, "stdevs must be finite and >= 0"),
        ({"stdevs": (0.1, 0.2)}, ValueError, "stdevs has 2 entries but there are 1 inputs"),
        ({"stdevs": "big"}, TypeError, "stdevs must be a number"),
        ({"multiply_by_inputs": "yes"}, TypeError, "multiply_by_inputs must be a bool"),
    ],
)
def test_errors(kwargs: dict[str, Any], error: type[Exception], message: str):
    arguments: dict[str, Any] = {"background": np.zeros((2, 3)), "samples": 2, **kwargs}
    with pytest.raises(error, match=message):
        expected_gradients(Cubic(), np.ones((2, 3)), **arguments)


def test_errors_of_backgrounds_for_two_inputs_and_sessions():
    inputs = (np.ones((2, 2)), np.ones((2, 3)))
    unequal = (np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"same number of rows, got \[2, 3\]"):
        expected_gradients(TwoInputs(np.ones(2)), inputs, background=unequal)
    with pytest.raises(ValueError, match="backend, output and layer belong to the Explainer"):
        expected_gradients(
            intgrad.Explainer(Cubic()),
            np.ones((1, 3)),
            background=np.zeros((1, 3)),
            backend="numpy",
        )


def test_background_of_another_framework_is_refused():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="background\\[0\\] must be a numpy tensor"):
        expected_gradients(Cubic(), np.ones((1, 3)), background=torch.zeros(2, 3))


def test_every_framework_agrees_with_the_numpy_reference(framework: Any, rng: np.random.Generator):
    layers = mlp_layers()
    x, background = rng.normal(size=(2, 3)), rng.normal(size=(5, 3))
    model = framework.mlp(layers, "tanh", dtype="float64")
    native_x = framework.tensor(x, "float64")
    kwargs: dict[str, Any] = {"samples": 6, "stdevs": 0.1, "target": 1, "seed": 4}
    result = expected_gradients(
        model, native_x, background=framework.tensor(background, "float64"), **kwargs
    )
    reference = expected_gradients(
        TanhMLP(layers), x, background=background, backend="numpy", **kwargs
    )
    assert type(result.attributions) is type(native_x)
    np.testing.assert_allclose(
        framework.numpy(result.attributions), reference.attributions, rtol=1e-9
    )
    np.testing.assert_allclose(result.standard_error, reference.standard_error, rtol=1e-8)
    np.testing.assert_allclose(result.delta, reference.delta, rtol=1e-8, atol=1e-12)
    # A NumPy background is moved to the inputs' framework and dtype.
    from_numpy = expected_gradients(model, native_x, background=background, **kwargs)
    np.testing.assert_allclose(
        framework.numpy(from_numpy.attributions), reference.attributions, rtol=1e-9
    )


def test_float32_inputs_in_every_framework(framework: Any, rng: np.random.Generator):
    layers = mlp_layers()
    x, background = rng.normal(size=(2, 3)), rng.normal(size=(5, 3))
    kwargs: dict[str, Any] = {"samples": 6, "stdevs": 0.1, "target": 1, "seed": 4}
    model = framework.mlp(layers, "tanh", dtype="float32")
    result = expected_gradients(
        model, framework.tensor(x), background=framework.tensor(background), **kwargs
    )
    reference = expected_gradients(TanhMLP(layers), x, background=background, **kwargs)
    assert framework.numpy(result.attributions).dtype == np.float32
    np.testing.assert_allclose(
        framework.numpy(result.attributions), reference.attributions, rtol=1e-4, atol=1e-6
    )


def test_a_layer_explainer_draws_background_token_ids():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(10, 4)
    model = torch.nn.Sequential(embedding, torch.nn.Flatten(), torch.nn.Linear(8, 2))
    ids, background = torch.tensor([[1, 2], [3, 4]]), torch.tensor([[0, 0], [5, 6], [7, 8]])
    explainer = intgrad.Explainer(model, layer=embedding)
    result = expected_gradients(explainer, ids, background=background, samples=8, target=0)
    assert tuple(result.attributions.shape) == (2, 2, 4) and result.standard_error.shape == (
        2,
        2,
        4,
    )
    # The model is linear in the embedding's activations: every sample is complete.
    np.testing.assert_allclose(result.baseline_deltas, 0.0, atol=1e-5)
    with pytest.raises(TypeError, match="inputs\\[0\\] must be floating point to take noise"):
        expected_gradients(explainer, ids, background=background, stdevs=0.1)
