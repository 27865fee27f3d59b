"""IDGI on the engine: exact completeness, closed forms, the blur path, the host helper."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intgrad import Explainer
from intgrad.family.idgi import idgi, idgi_step
from tests.closed_forms import Cubic, TanhLinear
from tests.family.test_blur import (
    FlatMLP,
    FlatTanh,
    Linear,
    flat_model,
    normalised_blur,
    require_constants_in_steps,
)


def _relative_gap(result: Any) -> np.ndarray:
    change = result.f_input - result.f_baseline
    return np.abs(result.delta) / np.abs(change)


def test_completeness_is_exact(rng: np.random.Generator) -> None:
    x = rng.normal(size=(3, 5))
    model = TanhLinear(rng.normal(size=(5, 4)))
    for baselines in (None, [np.zeros((1, 5)), rng.normal(size=(3, 5))]):
        result = idgi(model, x, baselines=baselines, target=[0, 3, 1], steps=7, backend="numpy")
        assert _relative_gap(result).max() < 1e-12
        sums = result.attributions.sum(axis=1)
        np.testing.assert_allclose(sums, result.f_input - result.f_baseline, rtol=1e-12)
    assert result.algorithm == "idgi" and result.method == "uniform"
    assert result.steps == 14 and result.forward_evaluations == 8  # 2 baselines × 7; 7 + 1


def test_linear_model_closed_form(rng: np.random.Generator) -> None:
    """g = w everywhere, so every step gives Δf_j · w² / Σ w²: in total w² / Σ w² · ΔF."""
    weight = rng.normal(size=(6,))
    x, start = rng.normal(size=(2, 6)), rng.normal(size=(2, 6))
    result = idgi(Linear(weight), x, baselines=start, steps=5, backend="numpy")
    change = ((x - start) * weight).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        result.attributions, weight**2 / (weight**2).sum() * change, rtol=1e-12
    )


def test_hand_example_and_zero_gradients() -> None:
    """F = Σ x³ from 0 to x = (1, 2), 4 steps: g_j = 3 α_j² (1, 4), so g² ∝ (1, 16) for j ≥ 1,
    and the gradient at α_0 = 0 is zero: that step adds 0 (not NaN) and its
    Δf_0 = 9 / 64 is missing from the sum, which ``delta`` reports."""
    x = np.array([[1.0, 2.0]])
    result = idgi(Cubic(), x, steps=4, backend="numpy")
    expected = np.array([[1.0, 16.0]]) / 17.0 * 9.0 * (1.0 - 1.0 / 64.0)
    np.testing.assert_allclose(result.attributions, expected, rtol=1e-14)
    np.testing.assert_allclose(result.delta, [-9.0 / 64.0], rtol=1e-13)
    nodes = np.arange(4) / 4.0
    gradients = 3.0 * (nodes[:, None] * x) ** 2
    outputs = 9.0 * np.arange(5) ** 3 / 64.0
    np.testing.assert_allclose(idgi_step(gradients, np.diff(outputs)), expected[0], rtol=1e-14)


def test_idgi_step_matches_the_engine(rng: np.random.Generator) -> None:
    weight = rng.normal(size=(4, 3))
    model, x = TanhLinear(weight), rng.normal(size=(1, 4))
    steps = 6
    result = idgi(model, x, target=2, steps=steps, backend="numpy")
    points = np.arange(steps + 1)[:, None] / steps * x
    outputs = np.tanh(points @ weight)[:, 2]
    cotangent = np.zeros((steps + 1, 3))
    cotangent[:, 2] = 1.0
    (gradients,) = model.vjp((points,), cotangent)
    np.testing.assert_allclose(
        idgi_step(gradients[:-1], np.diff(outputs)), result.attributions[0], rtol=1e-12
    )
    with pytest.raises(ValueError, match="delta_f must have one entry per gradient"):
        idgi_step(gradients[:-1], np.diff(outputs)[:-1])


def test_blur_path(rng: np.random.Generator) -> None:
    x = rng.uniform(size=(2, 8, 8, 3))
    model = FlatTanh(rng.normal(size=(8 * 8 * 3, 3)) * 3.0 / np.sqrt(8 * 8 * 3))
    result = idgi(model, x, target=1, path="blur", max_sigma=6.0, steps=10, backend="numpy")
    assert _relative_gap(result).max() < 1e-12
    blurred = normalised_blur(x, 6.0, (1, 2))
    np.testing.assert_allclose(result.f_baseline, model(blurred)[:, 1], rtol=1e-12)
    assert result.baselines == ("blur(max_sigma=6)",)


def test_session_options(rng: np.random.Generator) -> None:
    x = rng.normal(size=(2, 4))
    explainer = Explainer(TanhLinear(rng.normal(size=(4, 2))), backend="numpy")
    seen: list[tuple[int, int]] = []
    result = idgi(
        explainer,
        x,
        target=0,
        steps=3,
        return_delta=False,
        return_path=True,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.delta is None and result.f_input is not None
    assert result.path is not None
    np.testing.assert_allclose(result.path.alphas, [[0.0, 1 / 3, 2 / 3]] * 2)
    assert seen[-1] == (6, 6)


def test_errors(rng: np.random.Generator) -> None:
    model, images = Linear(np.ones((8, 8))), rng.uniform(size=(1, 8, 8))
    with pytest.raises(ValueError, match="max_sigma must be a finite number > 0"):
        idgi(model, images, path="blur", max_sigma=0.0, backend="numpy")
    with pytest.raises(ValueError, match=r"inputs\[0\] must be images"):
        idgi(Linear(np.ones(8)), np.zeros((1, 8)), path="blur", backend="numpy")
    with pytest.raises(ValueError, match="path must be one of straight, blur; got 'guided'"):
        idgi(model, images, path="guided", backend="numpy")
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        idgi(model, images, steps=0, backend="numpy")
    with pytest.raises(TypeError, match="steps must be a positive int"):
        idgi(model, images, steps="auto", backend="numpy")
    with pytest.raises(ValueError, match="baselines apply to path='straight'"):
        idgi(model, images, path="blur", baselines="white", backend="numpy")


def _layers(rng: np.random.Generator, features: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (rng.normal(size=(features, 16)) / np.sqrt(features), rng.normal(size=16) * 0.1),
        (rng.normal(size=(16, 3)), rng.normal(size=3) * 0.1),
    ]


def test_frameworks_straight(framework: Any, rng: np.random.Generator) -> None:
    layers = _layers(rng, 10)
    x, start = rng.normal(size=(2, 10)), rng.normal(size=(2, 10))
    result = idgi(
        framework.mlp(layers),
        framework.tensor(x, "float64"),
        baselines=framework.tensor(start, "float64"),
        target=[2, 0],
        steps=12,
    )
    assert _relative_gap(result).max() < 1e-6
    reference = idgi(FlatMLP(layers), x, baselines=start, target=[2, 0], steps=12, backend="numpy")
    np.testing.assert_allclose(
        framework.numpy(result.attributions), reference.attributions, rtol=1e-9, atol=1e-13
    )


def test_frameworks_blur(framework: Any, rng: np.random.Generator) -> None:
    require_constants_in_steps(framework)
    layers = _layers(rng, 64)
    x = rng.uniform(size=(2, 8, 8))
    result = idgi(
        flat_model(framework, layers),
        framework.tensor(x, "float64"),
        target=1,
        path="blur",
        max_sigma=5.0,
        steps=8,
    )
    assert _relative_gap(result).max() < 1e-6
    reference = idgi(
        FlatMLP(layers), x, target=1, path="blur", max_sigma=5.0, steps=8, backend="numpy"
    )
    np.testing.assert_allclose(
        framework.numpy(result.attributions), reference.attributions, rtol=1e-9, atol=1e-13
    )


def test_layer_baselines_start_the_path_in_the_activations(rng: np.random.Generator) -> None:
    # F(h) = Σ c h² on h = tanh(x): from the layer start h′ IDGI adds up to F(h) − F(h′)
    # exactly, and its attributions are the layer's (the reweighting needs no input start).
    from tests.closed_forms import Quadratic

    c = np.linspace(1.0, 2.0, 5)
    x = rng.normal(size=(3, 5))
    head = Quadratic(c)
    explainer = Explainer(head, layer=(np.tanh, head))
    start = np.tanh(0.5) * np.ones(5)
    result = idgi(explainer, x, layer_baselines=start, steps=9)
    expected = (c * (np.tanh(x) ** 2 - start**2)).sum(axis=1)
    np.testing.assert_allclose(result.attributions.sum(axis=1), expected, rtol=1e-12)
    np.testing.assert_allclose(result.f_baseline, (c * start**2).sum(), rtol=1e-12)
    assert result.attributions.shape == x.shape and _relative_gap(result).max() < 1e-12
    # From h′ = 0 the first step's gradient (at α = 0) is zero, so its change F(h/9) = F(h)/81
    # is attributed to nothing, and the delta reports exactly that.
    zero = idgi(explainer, x, layer_baselines=0.0, steps=9)
    full = (c * np.tanh(x) ** 2).sum(axis=1)
    np.testing.assert_allclose(zero.attributions.sum(axis=1), full * 80 / 81, rtol=1e-12)
    np.testing.assert_allclose(np.abs(zero.delta), full / 81, rtol=1e-12)
    with pytest.raises(ValueError, match="either baselines"):
        idgi(explainer, x, baselines=0.0, layer_baselines=0.0, steps=3)
    with pytest.raises(ValueError, match="the blur path starts at the blur"):
        idgi(explainer, x[:, None, :, None], path="blur", layer_baselines=0.0, steps=3)
