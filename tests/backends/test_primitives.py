"""The array primitives every backend supplies, checked against NumPy on the same numbers.

The core's step, loop, paths and planners call only these; a backend that passes here runs
every method the core has.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from intgrad.backends import get_backend

NAMES = ["numpy"] + [
    name for name in ("torch", "tensorflow", "jax") if importlib.util.find_spec(name) is not None
]


@pytest.fixture(params=NAMES)
def ops(request: pytest.FixtureRequest):
    backend = get_backend(request.param)
    like = backend.prepare_inputs([np.zeros((2, 3), dtype=np.float32)])
    return backend.ops(like), like[0]


def _host(ops, value) -> np.ndarray:
    return ops[0].to_host(value)


def test_moving_rows(ops) -> None:
    primitives, like = ops
    values = primitives.from_host(np.arange(12, dtype=np.float32).reshape(4, 3), like)
    index = primitives.from_host(np.array([3, 0, 3], dtype=np.int32))
    np.testing.assert_array_equal(_host(ops, primitives.take(values, index))[:, 0], [9, 0, 9])
    stacked = primitives.concat((values, values))
    assert primitives.shape(stacked) == (8, 3)
    column = primitives.per_row(primitives.from_host(np.array([1.0, 2.0, 3.0, 4.0])), values)
    assert primitives.shape(column) == (4, 1)
    np.testing.assert_array_equal(_host(ops, values * column)[:, 1], [1, 8, 21, 40])


def test_scatter_add_sums_repeated_slots(ops) -> None:
    primitives, like = ops
    accumulator = primitives.zeros(primitives.from_host(np.zeros((3, 2), np.float32), like))
    rows = primitives.from_host(np.array([[1, 2], [3, 4], [5, 6]], np.float32), like)
    index = primitives.from_host(np.array([2, 0, 2], dtype=np.int32))
    summed = primitives.scatter_add(accumulator, index, rows)
    np.testing.assert_array_equal(_host(ops, summed), [[3, 4], [0, 0], [6, 8]])
    np.testing.assert_allclose(_host(ops, primitives.row_sums(summed)), [7, 0, 14])


def test_columns_are_clamped_and_multi_dimensional(ops) -> None:
    primitives, like = ops
    grid = primitives.from_host(np.arange(12, dtype=np.float32).reshape(2, 2, 3), like)
    first = primitives.take_columns(grid, primitives.from_host(np.array([1, 0], np.int32)))
    np.testing.assert_array_equal(_host(ops, first), [[3, 4, 5], [6, 7, 8]])
    flat = primitives.reshape(grid, (2, -1))
    clamped = primitives.take_columns(flat, primitives.from_host(np.array([9, 2], np.int32)))
    np.testing.assert_array_equal(_host(ops, clamped), [5, 8])  # 9 → the last column


def test_value_and_grad_of_a_row_function(ops) -> None:
    primitives, like = ops
    if primitives.name == "numpy":
        pytest.skip("the reference backend differentiates ClosedForm models, not functions")
    points = (primitives.from_host(np.array([[1.0, 2.0], [3.0, -1.0]], np.float32), like),)

    first = primitives.from_host(np.array([0, 0], np.int32))

    def f(p):  # 3 x₀² per row
        return primitives.take_columns(p[0] * p[0], first) * 3.0

    values, grads = primitives.value_and_grad(f, points)
    np.testing.assert_allclose(_host(ops, values), [3.0, 27.0])
    np.testing.assert_allclose(_host(ops, grads[0]), [[6.0, 0.0], [18.0, 0.0]])
    np.testing.assert_allclose(_host(ops, primitives.value(f, points)), [3.0, 27.0])
