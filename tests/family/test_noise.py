"""The noise tunnel on closed forms (NumPy backend) and on a small MLP in every framework.

The noise is part of the contract — ``numpy.random.default_rng(seed)``, one standard normal
array (K, E, ...) per input, scaled per example — so NumPy re-computations from the same noise
agree with the engine to rounding (1e-12); linear models give exact answers whatever the noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import intgrad
from intgrad.family.noise import INNER_METHODS, noise_tunnel
from tests.closed_forms import Quadratic, TanhLinear, TwoInputs
from tests.family.test_expected import Linear, TanhMLP, gradient, mlp_layers

EXACT = 1e-12
C = np.array([1.0, -2.0, 0.5])
W = np.array([0.5, -1.0, 2.0])


def noisy_copies(
    inputs: tuple[np.ndarray, ...],
    samples: int,
    seed: int,
    stdevs: tuple[float, ...],
    fraction: bool,
) -> list[np.ndarray]:
    """Per input, the noisy copies (K·E, ...) sample-major, from the tunnel's draws."""
    rng = np.random.default_rng(seed)
    copies = []
    for x, s in zip(inputs, stdevs, strict=True):
        flat = x.reshape(x.shape[0], -1)
        sigma = s * (flat.max(1) - flat.min(1)) if fraction else np.full(x.shape[0], s)
        tiled = np.tile(x, (samples,) + (1,) * (x.ndim - 1))
        if s:
            draws = rng.standard_normal((samples, *x.shape))
            noise = draws * sigma.reshape((1, -1) + (1,) * (x.ndim - 1))
            tiled = tiled + noise.reshape(tiled.shape)
        copies.append(tiled)
    return copies


def _x(rng: np.random.Generator, examples: int = 2) -> np.ndarray:
    return rng.normal(size=(examples, 3))


@pytest.mark.parametrize("kind", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_linear_model_gradient_is_exact(rng: np.random.Generator, kind: str):
    result = noise_tunnel(
        Linear(W), _x(rng), attribution="gradient", kind=kind, samples=7, stdev=0.5, seed=0
    )
    expected = {"smoothgrad": W, "smoothgrad_sq": W**2, "vargrad": 0 * W}[kind]
    np.testing.assert_allclose(result.attributions, np.broadcast_to(expected, (2, 3)), atol=1e-15)
    assert result.algorithm == f"{kind}:gradient"
    if kind == "vargrad":
        assert result.standard_error is None
    else:
        np.testing.assert_allclose(result.standard_error, 0.0, atol=1e-15)


@pytest.mark.parametrize("noise", ["fraction", "absolute"])
def test_gradient_matches_the_noise_drawn(rng: np.random.Generator, noise: str):
    x = _x(rng)
    (copies,) = noisy_copies((x,), 6, 3, (0.2,), noise == "fraction")
    grads = gradient(Quadratic(C), (copies,), None)[0].reshape(6, 2, 3)
    for kind, expected in [
        ("smoothgrad", grads.mean(0)),
        ("smoothgrad_sq", (grads**2).mean(0)),
        ("vargrad", grads.var(0)),
    ]:
        result = noise_tunnel(
            Quadratic(C),
            x,
            attribution="gradient",
            kind=kind,
            samples=6,
            stdev=0.2,
            noise=noise,
            seed=3,
        )
        np.testing.assert_allclose(result.attributions, expected, rtol=1e-10, atol=1e-14)
    smooth = noise_tunnel(
        Quadratic(C), x, attribution="gradient", samples=6, stdev=0.2, seed=3, noise=noise
    )
    np.testing.assert_allclose(smooth.standard_error, grads.std(0, ddof=1) / np.sqrt(6), rtol=1e-10)
    np.testing.assert_allclose(smooth.f_input, (C * copies**2).sum(-1).reshape(6, 2).mean(0))
    assert smooth.delta is None  # the gradient has no completeness


def test_smoothgrad_of_ig_keeps_completeness(rng: np.random.Generator):
    # Gauss–Legendre integrates Σ c x² exactly: IG(x̃) = c x̃², each copy's gap is 0.
    x = _x(rng)
    (copies,) = noisy_copies((x,), 5, 1, (0.1,), True)
    result = noise_tunnel(Quadratic(C), x, samples=5, seed=1, stdev=0.1, steps=4)
    ig = (C * copies**2).reshape(5, 2, 3)
    np.testing.assert_allclose(result.attributions, ig.mean(0), rtol=EXACT)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)
    np.testing.assert_allclose(result.f_input, ig.sum(-1).mean(0), rtol=EXACT)
    np.testing.assert_allclose(result.f_baseline, 0.0)
    assert result.baseline_deltas.shape == (1, 2)
    assert result.algorithm == "smoothgrad:integrated_gradients"
    assert result.steps == 20 and result.method == "gausslegendre"
    square = noise_tunnel(Quadratic(C), x, kind="smoothgrad_sq", samples=5, seed=1, stdev=0.1)
    assert square.delta is None and square.f_input is None and square.baseline_deltas is None
    np.testing.assert_allclose(square.attributions, (ig**2).mean(0), rtol=1e-10)


def test_per_example_baselines_targets_and_arguments_follow_their_copies(
    rng: np.random.Generator,
):
    weight = rng.normal(size=(3, 4))
    x = _x(rng)
    baselines = rng.normal(size=(2, 3))  # one per example
    scale = np.array([[2.0], [-0.5]])
    result = noise_tunnel(
        TanhLinear(weight),
        x,
        attribution="gradient",
        samples=4,
        seed=2,
        target=[3, 1],
        additional_forward_args=scale,
    )
    (copies,) = noisy_copies((x,), 4, 2, (0.15,), True)
    grads = gradient(TanhLinear(weight), (copies,), np.tile([3, 1], 4), (np.tile(scale, (4, 1)),))
    np.testing.assert_allclose(result.attributions, grads[0].reshape(4, 2, 3).mean(0), rtol=EXACT)
    np.testing.assert_array_equal(result.target, [3, 1])
    ig = noise_tunnel(Quadratic(C), x, samples=4, seed=2, baselines=baselines, steps=3)
    expected = (C * (copies**2 - np.tile(baselines, (4, 1)) ** 2)).reshape(4, 2, 3).mean(0)
    np.testing.assert_allclose(ig.attributions, expected, rtol=1e-10)


def test_tuple_inputs_with_one_noise_level_each(rng: np.random.Generator):
    u = np.array([1.0, 2.0])
    a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 3))
    result = noise_tunnel(
        TwoInputs(u), (a, b), attribution="gradient", samples=3, stdev=(0.0, 0.3), seed=5
    )
    copies = noisy_copies((a, b), 3, 5, (0.0, 0.3), True)
    grads = gradient(TwoInputs(u), tuple(copies), None)
    assert isinstance(result.attributions, tuple) and isinstance(result.standard_error, tuple)
    np.testing.assert_allclose(result.attributions[0], 2 * a * u**2, rtol=EXACT)  # no noise
    np.testing.assert_allclose(result.attributions[1], grads[1].reshape(3, 2, 3).mean(0))


def test_expected_gradients_inside_the_tunnel(rng: np.random.Generator):
    # One reference per noisy copy; with one background row b and a linear F the copies give
    # (x̃_k − b) · w exactly.
    x, b = _x(rng), rng.normal(size=(1, 3))
    result = noise_tunnel(
        Linear(W), x, attribution="expected_gradients", samples=5, seed=0, stdev=0.1, background=b
    )
    (copies,) = noisy_copies((x,), 5, 0, (0.1,), True)
    expected = ((copies - b) * W).reshape(5, 2, 3).mean(0)
    np.testing.assert_allclose(result.attributions, expected, rtol=EXACT)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)
    assert result.algorithm == "smoothgrad:expected_gradients" and result.steps == 5


def test_seeds_batch_sizes_and_sessions(rng: np.random.Generator):
    x = _x(rng, 3)
    explainer = intgrad.Explainer(Quadratic(C), backend="numpy")

    def run(seed: int | None, batch_size: int | None = None) -> Any:
        return noise_tunnel(explainer, x, samples=4, seed=seed, steps=5, batch_size=batch_size)

    np.testing.assert_array_equal(run(1).attributions, run(1).attributions)
    assert np.abs(run(1).attributions - run(2).attributions).max() > 1e-3
    assert np.abs(run(None).attributions - run(None).attributions).max() > 1e-6
    model = Quadratic(C)
    one = noise_tunnel(model, x, samples=4, seed=1, steps=5, batch_size=1)
    np.testing.assert_allclose(one.attributions, run(1).attributions, rtol=EXACT)
    np.testing.assert_allclose(one.standard_error, run(1).standard_error, rtol=1e-10)
    assert max(model.calls) == 1


def test_a_callable_inner_method(rng: np.random.Generator):
    x = _x(rng)
    seen: dict[str, Any] = {}

    def saliency(explainer: Any, inputs: Any, *, seed: Any, progress: Any, **rest: Any) -> Any:
        seen.update(rows=inputs.shape[0], seed=seed)
        return explainer.gradients(inputs, **rest)

    result = noise_tunnel(Quadratic(C), x, attribution=saliency, samples=3, seed=0)
    named = noise_tunnel(Quadratic(C), x, attribution="gradient", samples=3, seed=0)
    np.testing.assert_array_equal(result.attributions, named.attributions)
    assert seen["rows"] == 6 and isinstance(seen["seed"], int)
    assert set(INNER_METHODS) >= {"integrated_gradients", "gradient", "expected_gradients"}

    def truncating(explainer: Any, inputs: Any, **rest: Any) -> Any:
        return explainer.gradients(inputs[:2])

    with pytest.raises(ValueError, match="returned 2 rows in attributions\\[0\\] for 6 noisy"):
        noise_tunnel(Quadratic(C), x, attribution=truncating, samples=3)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": "smooth"}, ValueError, "kind must be one of smoothgrad, smoothgrad_sq, vargrad"),
        ({"noise": "relative"}, ValueError, "noise must be one of fraction, absolute"),
        ({"samples": 0}, ValueError, "samples must be >= 1"),
        ({"samples": "4"}, TypeError, "samples must be a positive int"),
        ({"stdev": -0.1}, ValueError, "stdev must be finite and >= 0"),
        ({"stdev": (0.1, 0.1)}, ValueError, "stdev has 2 entries but there are 1 inputs"),
        ({"attribution": "blur"}, ValueError, "attribution must be one of integrated_gradients"),
        ({"attribution": 3}, TypeError, "attribution must be a method name or a callable"),
        ({"attribution": "gradient", "steps": 4}, TypeError, "the gradient takes no options"),
    ],
)
def test_errors(kwargs: dict[str, Any], error: type[Exception], message: str):
    with pytest.raises(error, match=message):
        noise_tunnel(Quadratic(C), np.ones((2, 3)), **kwargs)


def test_integer_inputs_are_refused():
    with pytest.raises(TypeError, match="must be a floating-point array"):
        noise_tunnel(Quadratic(C), np.ones((2, 3), dtype=np.int64))


def test_every_framework_agrees_with_the_numpy_reference(framework: Any, rng: np.random.Generator):
    layers = mlp_layers()
    x = rng.normal(size=(2, 3))
    model = framework.mlp(layers, "tanh", dtype="float64")
    native = framework.tensor(x, "float64")
    kwargs: dict[str, Any] = {"samples": 4, "seed": 8, "target": 0, "steps": 8}
    result = noise_tunnel(model, native, **kwargs)
    reference = noise_tunnel(TanhMLP(layers), x, backend="numpy", **kwargs)
    assert type(result.attributions) is type(native)
    np.testing.assert_allclose(
        framework.numpy(result.attributions), reference.attributions, rtol=1e-9
    )
    np.testing.assert_allclose(result.standard_error, reference.standard_error, rtol=1e-8)
    np.testing.assert_allclose(result.delta, reference.delta, rtol=1e-7, atol=1e-12)
    var = noise_tunnel(
        model, native, attribution="gradient", kind="vargrad", samples=4, seed=8, target=0
    )
    var_reference = noise_tunnel(
        TanhMLP(layers),
        x,
        backend="numpy",
        attribution="gradient",
        kind="vargrad",
        samples=4,
        seed=8,
        target=0,
    )
    np.testing.assert_allclose(
        framework.numpy(var.attributions), var_reference.attributions, rtol=1e-9
    )


def test_a_per_example_numpy_argument_with_torch_inputs(rng: np.random.Generator):
    torch = pytest.importorskip("torch")

    def model(x: Any, scale: Any) -> Any:
        return torch.tanh(x * torch.as_tensor(scale, dtype=x.dtype)).sum(1)

    x = torch.from_numpy(_x(rng))
    # One row per example: follows its example's copies (passed whole, (2, 1) would not
    # broadcast against the (8, 3) rows).
    scale = np.array([[2.0], [-0.5]])
    kwargs: dict[str, Any] = {"attribution": "gradient", "samples": 4, "seed": 2}
    given = noise_tunnel(model, x, additional_forward_args=scale, **kwargs)
    native = noise_tunnel(model, x, additional_forward_args=torch.from_numpy(scale), **kwargs)
    np.testing.assert_allclose(given.attributions.numpy(), native.attributions.numpy(), rtol=1e-12)
