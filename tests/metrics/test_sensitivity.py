"""Max-sensitivity: zero for a constant explanation, the exact value for a linear one, batching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intgrad import Explainer, integrated_gradients
from intgrad.metrics import max_sensitivity
from tests.metrics._models import Linear, TanhMLP, mlp_layers


def test_a_constant_explanation_has_zero_sensitivity(rng: np.random.Generator) -> None:
    x = rng.normal(size=(3, 5))
    result = max_sensitivity(lambda v, **_: np.ones(v.shape), x, samples=4)
    np.testing.assert_array_equal(result.values, [0.0, 0.0, 0.0])
    assert result.changes.shape == (4, 3) and result.relative and result.radius == 0.02
    assert result.neighbourhood == "uniform-linf(radius=0.02)"


def test_the_ig_of_a_linear_model_moves_by_w_times_delta(rng: np.random.Generator) -> None:
    w = rng.normal(size=5)
    x = rng.normal(size=(3, 5))
    model = Linear(w)

    def explain(v: Any, **kwargs: Any) -> Any:
        return integrated_gradients(model, v, steps=4, **kwargs)  # exactly w ⊙ v

    radius, samples = 0.1, 7
    result = max_sensitivity(explain, x, radius=radius, samples=samples, seed=3)
    delta = np.random.default_rng(3).uniform(-radius, radius, (samples, *x.shape))
    change = np.linalg.norm(w * delta, axis=2) / np.linalg.norm(w * x, axis=1)
    np.testing.assert_allclose(result.changes, change, rtol=1e-12)
    np.testing.assert_allclose(result.values, change.max(axis=0), rtol=1e-12)
    assert (result.values <= radius * np.linalg.norm(w) / np.linalg.norm(w * x, axis=1)).all()
    absolute = max_sensitivity(explain, x, radius=radius, samples=samples, seed=3, relative=False)
    np.testing.assert_allclose(
        absolute.values, np.linalg.norm(w * delta, axis=2).max(0), rtol=1e-12
    )
    blocks = max_sensitivity(explain, x, radius=radius, samples=samples, seed=3, samples_per_call=3)
    np.testing.assert_allclose(blocks.changes, change, rtol=1e-12)  # the same draws, in blocks


def test_perturbations_are_batched_with_targets_and_extras_repeated(
    rng: np.random.Generator,
) -> None:
    model = TanhMLP(mlp_layers(rng))
    x = rng.normal(size=(2, 6))
    explainer = Explainer(model)
    seen: list[tuple[int, list[int], Any]] = []

    def explain(v: Any, *, target: Any, additional_forward_args: Any) -> Any:
        seen.append((v.shape[0], list(np.asarray(target)), additional_forward_args))
        return explainer.attribute(v, target=target, steps=8)

    attribution = explainer.attribute(x, target=[2, 0], steps=8)
    result = max_sensitivity(explain, x, attribution, samples=5, samples_per_call=2)
    assert [rows for rows, _, _ in seen] == [4, 4, 2]
    assert seen[0][1] == [2, 0, 2, 0] and seen[2][1] == [2, 0]
    assert (result.values > 0).all() and (result.values < 0.2).all()  # measured 0.012, 0.025


def test_a_zero_explanation_that_moves_is_infinitely_sensitive() -> None:
    x = np.zeros((1, 3))
    result = max_sensitivity(lambda v, **_: v, x, samples=2)
    assert result.values.tolist() == [np.inf]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"radius": 0.0}, ValueError, "radius must be > 0"),
        ({"samples": 0}, ValueError, "samples must be >= 1"),
        ({"samples_per_call": 0}, ValueError, "samples_per_call must be >= 1"),
        ({"target": 1.5}, TypeError, "target entries must be integers"),
    ],
)
def test_max_sensitivity_refuses(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        max_sensitivity(lambda v, **_: v, np.ones((2, 3)), **kwargs)


def test_max_sensitivity_input_errors() -> None:
    with pytest.raises(TypeError, match="explain must be a callable"):
        max_sensitivity(None, np.ones((2, 3)))
    with pytest.raises(ValueError, match="metrics take one input tensor"):
        max_sensitivity(lambda v, **_: v, (np.ones((2, 3)),))
    with pytest.raises(ValueError, match="max_sensitivity of token ids masks random tokens"):
        max_sensitivity(lambda v, **_: v, np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="inputs must have shape"):
        max_sensitivity(lambda v, **_: v, np.ones(3))
    with pytest.raises(ValueError, match=r"attributions of shape \(2, 2\) do not match"):
        max_sensitivity(lambda v, **_: v[:, :2], np.ones((2, 3)))
