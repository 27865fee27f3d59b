"""The session's building blocks for the IG family: evaluate, gradients and run(PathMethod).

On the NumPy reference backend with closed forms, so every number is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from intgrad import Explainer
from intgrad._core.paths import AtEnds, StraightLine
from intgrad._core.planners import once_per_example
from intgrad._core.session import PathMethod
from tests.closed_forms import Quadratic, TanhLinear, TwoInputs


@pytest.fixture
def x(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(4, 3))


def test_evaluate_returns_the_selected_output_forward_only(
    x: np.ndarray, rng: np.random.Generator
) -> None:
    weight = rng.normal(size=(3, 5))
    model = TanhLinear(weight)
    values = Explainer(model).evaluate(x, target=[0, 4, 2, 1], batch_size=3)
    np.testing.assert_allclose(values, np.tanh(x @ weight)[np.arange(4), [0, 4, 2, 1]])
    # Two chunks of at most three rows, and no gradient: the model ran on 4 rows in all.
    assert sum(rows for rows, _ in model.extras) == 4


def test_gradients_are_the_exact_gradient_with_f_at_the_inputs(x: np.ndarray) -> None:
    c = np.array([0.5, -1.0, 2.0])
    model = Quadratic(c)
    result = Explainer(model).gradients(x)
    np.testing.assert_allclose(result.attributions, 2 * c * x, rtol=1e-12)
    np.testing.assert_allclose(result.f_input, (c * x**2).sum(axis=1), rtol=1e-12)
    assert result.delta is None and result.algorithm == "gradient" and result.steps == 1
    # One gradient pass over the four examples, F reported from it: no second forward.
    assert model.calls == [4]


def test_gradients_of_two_inputs_keep_their_structure(rng: np.random.Generator) -> None:
    a, b, u = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), np.array([1.0, -2.0, 0.5])
    result = Explainer(TwoInputs(u)).gradients((a, b))
    assert isinstance(result.attributions, tuple)
    np.testing.assert_allclose(result.attributions[0], 2 * a * u**2, rtol=1e-12)
    np.testing.assert_allclose(result.attributions[1], np.cos(b), rtol=1e-12)


def test_run_with_the_default_path_is_attribute(x: np.ndarray) -> None:
    explainer = Explainer(Quadratic(1.5))
    direct = explainer.attribute(x, baselines=0.25, steps=7)
    via_run = explainer.run(PathMethod(StraightLine()), x, baselines=0.25, steps=7)
    np.testing.assert_array_equal(direct.attributions, via_run.attributions)
    np.testing.assert_array_equal(direct.delta, via_run.delta)
    assert via_run.algorithm == "integrated_gradients" and via_run.method == "gausslegendre"


def test_a_planner_factory_names_the_method_and_sizes_the_progress(x: np.ndarray) -> None:
    seen: list[tuple[int, int]] = []
    result = Explainer(Quadratic(1.0)).run(
        PathMethod(AtEnds(), once_per_example(gradients=True), "gradient"),
        x,
        return_delta=False,
        return_path=True,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.method == "none" and seen[-1] == (4, 4)


def test_example_slices_the_standard_error(x: np.ndarray) -> None:
    import dataclasses

    result = Explainer(Quadratic(1.0)).attribute(x, steps=3)
    spread = np.arange(12.0).reshape(4, 3)
    one = dataclasses.replace(result, standard_error=spread).example(2)
    np.testing.assert_array_equal(one.standard_error, spread[2:3])
    assert result.example(1).standard_error is None
