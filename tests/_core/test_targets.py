"""Every target form Captum accepts, and the selection of the explained scalar."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad import integrated_gradients
from intgrad._core.targets import normalise_targets
from tests.closed_forms import Grid


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (None, ()),
        (2, ([2, 2, 2],)),
        (np.int64(1), ([1, 1, 1],)),
        ((1, 2), ([1, 1, 1], [2, 2, 2])),
        ([0, 1, 2], ([0, 1, 2],)),
        ([(0, 1), (1, 2), (0, 0)], ([0, 1, 0], [1, 2, 0])),
        (np.array(4), ([4, 4, 4],)),
        (np.array([5]), ([5, 5, 5],)),
        (np.array([3, 4, 5]), ([3, 4, 5],)),
    ],
)
def test_target_forms(target: object, expected: tuple) -> None:
    columns = normalise_targets(target, 3)
    assert len(columns) == len(expected)
    for column, values in zip(columns, expected, strict=True):
        assert column.dtype == np.int64
        np.testing.assert_array_equal(column, values)


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (True, TypeError, "got a bool"),
        ([0, 1], ValueError, "one entry per example"),
        ([(0, 1), (1,), (0, 0)], ValueError, "same length"),
        (np.array([0.5]), TypeError, "must be integers"),
        (np.zeros((3, 2), dtype=int), ValueError, "one entry per example"),
        (-1, ValueError, "must be >= 0"),
        ([0.5, 1.0, 2.0], TypeError, "must be integers"),
    ],
)
def test_malformed_targets(target: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        normalise_targets(target, 3)


def test_multi_dimensional_outputs_are_indexed_like_captum(rng: np.random.Generator) -> None:
    weight = rng.normal(size=(4, 6))
    x = rng.normal(size=(3, 4))
    model = Grid(weight)
    by_tuple = integrated_gradients(model, x, target=(1, 2), steps=2)
    by_flat_index = integrated_gradients(model, x, target=5, steps=2)
    np.testing.assert_allclose(by_tuple.attributions, x * weight[:, 5], rtol=1e-12)
    np.testing.assert_allclose(by_flat_index.attributions, by_tuple.attributions)
    per_example = integrated_gradients(model, x, target=[(0, 0), (1, 1), (1, 2)], steps=2)
    np.testing.assert_allclose(per_example.attributions, x * weight[:, [0, 4, 5]].T, rtol=1e-12)
    np.testing.assert_array_equal(per_example.target, [[0, 0], [1, 1], [1, 2]])


def test_target_range_and_shape_errors(rng: np.random.Generator) -> None:
    model, x = Grid(rng.normal(size=(4, 6))), rng.normal(size=(2, 4))
    with pytest.raises(ValueError, match="target 6 is out of range: the model returns 6"):
        integrated_gradients(model, x, target=6, steps=2)
    with pytest.raises(ValueError, match="at index position 1 is out of range"):
        integrated_gradients(model, x, target=(1, 3), steps=2)
    with pytest.raises(ValueError, match=r"target has 3 indices but .* shape \(2, 3\)"):
        integrated_gradients(model, x, target=(0, 0, 0), steps=2)
    with pytest.raises(ValueError, match="pass target= to choose"):
        integrated_gradients(model, x, steps=2)


def test_no_target_for_one_value_per_example_in_any_shape(rng: np.random.Generator) -> None:
    class Single(Grid):
        def __call__(self, x: np.ndarray) -> np.ndarray:
            return (x @ self.weight[:, :1]).reshape(x.shape[0], 1, 1, 1)

        def vjp(self, inputs, cotangent):
            return (cotangent.reshape(-1, 1) @ self.weight[:, :1].T,)

    weight = rng.normal(size=(4, 6))
    x = rng.normal(size=(2, 4))
    result = integrated_gradients(Single(weight), x, steps=2)
    np.testing.assert_allclose(result.attributions, x * weight[:, 0], rtol=1e-12)
    assert result.target is None
