"""The adaptive mode: the warp, the nested levels, and ``steps="auto"`` on every backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intgrad import integrated_gradients
from intgrad._core.adaptive import (
    AdaptiveSettings,
    level_nodes,
    max_nodes,
    nodes_at_level,
    warp_from_pilot,
)


def test_levels_are_nested_trapezoid_rules() -> None:
    collected = np.zeros(0)
    for level in range(5):
        t, weights = level_nodes(level)
        collected = np.sort(np.concatenate([collected, t]))
        n = nodes_at_level(level)
        np.testing.assert_allclose(collected, np.linspace(0, 1, n), atol=1e-15)
        if level:
            np.testing.assert_allclose(weights, 1.0 / (n - 1))
    # Level 0 is the 7-node trapezoid rule.
    np.testing.assert_allclose(level_nodes(0)[1], np.array([1, 2, 2, 2, 2, 2, 1]) / 12)
    assert [nodes_at_level(k) for k in range(5)] == [7, 13, 25, 49, 97]
    assert max_nodes(513) == 385 and max_nodes(100) == 97 and max_nodes(13) == 13


def test_warp_is_monotone_smooth_and_follows_the_change() -> None:
    alphas = np.linspace(0, 1, 17)
    outputs = np.tanh(20 * alphas)  # nearly all change in the first cells
    warp = warp_from_pilot(alphas, outputs)
    t = np.linspace(0, 1, 20001)
    mapped = warp.alphas(t)
    assert mapped[0] == 0.0 and mapped[-1] == 1.0 and (np.diff(mapped) >= 0).all()
    # φ′ is the derivative of φ and integrates to 1 over t.
    np.testing.assert_allclose(np.gradient(mapped, t)[1:-1], warp.slopes(t)[1:-1], rtol=2e-3)
    assert np.trapezoid(warp.slopes(t), t) == pytest.approx(1.0, abs=1e-6)
    # Half the density is uniform; the other half follows |ΔF|, so the first quarter of α
    # (where tanh(20α) changes) takes more than half of t.
    assert warp.alphas(np.array([0.5]))[0] < 0.25
    flat = warp_from_pilot(alphas, np.zeros(17))
    np.testing.assert_allclose(flat.alphas(t), t, atol=1e-12)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        (AdaptiveSettings(tolerance=0.0), ValueError, "tolerance must be in"),
        (AdaptiveSettings(tolerance=1.5), ValueError, "tolerance must be in"),
        (AdaptiveSettings(attribution_tolerance=0.0), ValueError, "attribution_tolerance"),
        (AdaptiveSettings(max_steps=12), ValueError, "max_steps must be >= 13"),
        (AdaptiveSettings(max_steps=9.5), TypeError, "max_steps must be an int"),
    ],
)
def test_settings_errors(settings: AdaptiveSettings, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        settings.checked()


def _mlp(framework: Any, rng: np.random.Generator) -> Any:
    layers = [
        (rng.normal(size=(5, 12)), rng.normal(0, 0.1, 12)),
        (rng.normal(size=(12, 3)) / 3, np.zeros(3)),
    ]
    return framework.mlp(layers, "tanh", softmax=True)


def test_auto_matches_a_fine_fixed_rule_within_tolerance(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(4, 5)) * 2, "float64")
    reference = integrated_gradients(model, x, target=[0, 1, 2, 0], steps=256)
    result = integrated_gradients(model, x, target=[0, 1, 2, 0], steps="auto", tolerance=1e-3)
    expected = framework.numpy(reference.attributions)
    errors = np.linalg.norm(framework.numpy(result.attributions) - expected, axis=1)
    relative = errors / np.linalg.norm(expected, axis=1)
    assert (relative <= 3e-3).all()
    assert (result.relative_delta <= 1e-3).all()
    assert (result.estimated_error <= 3e-3).all()
    # The completeness check comes from the pilot: F(x), F(x′) equal the fixed rule's.
    np.testing.assert_allclose(result.f_input, reference.f_input, rtol=1e-12)
    np.testing.assert_allclose(result.f_baseline, reference.f_baseline, rtol=1e-12)
    assert result.method == "auto" and result.forward_evaluations >= 17
    assert result.steps == result.steps_per_example.max() >= 25


def test_linear_model_stops_at_the_first_check(framework: Any, rng) -> None:
    # A constant integrand: every level is exact, so three levels (25 evaluations) suffice.
    weight = rng.normal(size=(4, 2))
    model = framework.mlp([(weight, np.zeros(2))], "none")
    x_np = rng.normal(size=(3, 4))
    result = integrated_gradients(model, framework.tensor(x_np, "float64"), target=1, steps="auto")
    np.testing.assert_allclose(
        framework.numpy(result.attributions), weight[:, 1] * x_np, rtol=1e-12
    )
    assert result.steps_per_example.tolist() == [25, 25, 25]


def test_max_steps_is_respected_and_the_run_is_deterministic(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)) * 3, "float64")
    runs = [
        integrated_gradients(model, x, target=1, steps="auto", tolerance=1e-9, max_steps=60)
        for _ in range(2)
    ]
    assert runs[0].steps_per_example.tolist() == [49, 49]
    np.testing.assert_array_equal(
        framework.numpy(runs[0].attributions), framework.numpy(runs[1].attributions)
    )
    np.testing.assert_array_equal(runs[0].estimated_error, runs[1].estimated_error)
    assert (runs[0].estimated_error > 1e-9).all()


def test_auto_with_several_baselines_path_and_progress(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)), "float64")
    calls: list[tuple[int, int]] = []
    result = integrated_gradients(
        model,
        x,
        target=0,
        steps="auto",
        baselines=["black", 0.5],
        return_path=True,
        max_steps=60,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert len(result.paths) == 2 and result.baseline_deltas.shape == (2, 2)
    path = result.paths[0]
    counts = np.isfinite(path.alphas).sum(axis=1)
    assert (counts >= 25).all() and (counts <= 49).all()
    assert (np.diff(path.alphas[0][: counts[0]]) > 0).all()
    both = counts + np.isfinite(result.paths[1].alphas).sum(axis=1)
    np.testing.assert_array_equal(both, result.steps_per_example)
    # The adaptive mode may stop early; the last report is (done, done).
    done = int(result.steps_per_example.sum())
    assert calls[-1] == (done, done)


def test_auto_argument_errors(framework: Any, rng) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)), "float64")
    with pytest.raises(ValueError, match="omit it with steps='auto'"):
        integrated_gradients(model, x, target=0, steps="auto", method="riemann_left")
    with pytest.raises(ValueError, match="steps must be a positive int or 'auto'"):
        integrated_gradients(model, x, target=0, steps="many")
    with pytest.raises(ValueError, match="tolerance must be in"):
        integrated_gradients(model, x, target=0, steps="auto", tolerance=2.0)


def test_pilot_reads_its_bisections_from_one_fine_call_when_a_chunk_holds_it(
    framework: Any, rng
) -> None:
    model = _mlp(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 5)) * 2, "float64")
    calls: list[int] = []

    def counted(*args: Any) -> Any:
        calls.append(int(args[0].shape[0]))
        return model(*args)

    small = integrated_gradients(counted, x, target=[0, 1], steps="auto", batch_size=6)
    small_calls = len(calls)
    calls.clear()
    large = integrated_gradients(counted, x, target=[0, 1], steps="auto", batch_size=130)
    # Same pilot points, hence the same warp and the same attributions...
    np.testing.assert_allclose(
        framework.numpy(large.attributions), framework.numpy(small.attributions), rtol=1e-10
    )
    np.testing.assert_array_equal(large.steps_per_example, small.steps_per_example)
    # ...from the 65-point grid in one call (plus any bisection finer than it).
    assert 17 <= small.forward_evaluations < 65 <= large.forward_evaluations
    if framework.name == "torch":  # TensorFlow and JAX call the model only when tracing
        assert calls[0] == 2 * 65 and len(calls) < small_calls
