"""The loop's combinations of accumulator rows, on the NumPy reference backend."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad._core.loop import Combination, combination_blocks, combine_rows
from intgrad.backends.numpy import NumpyOps


def _dense(combination: Combination, slots: int) -> np.ndarray:
    matrix = np.zeros((combination.rows, slots))
    np.add.at(matrix, (combination.targets, combination.sources), combination.weights)
    return matrix


def _block_combination(rng: np.random.Generator, blocks: int, per_block: int) -> Combination:
    """``blocks`` groups of rows, each reading only its own ``per_block`` slots, shuffled."""
    targets, sources = [], []
    for block in range(blocks):
        for row in range(3):
            chosen = rng.choice(per_block, size=4, replace=True)  # repeats add up
            targets += [3 * block + row] * chosen.size
            sources += (block * per_block + chosen).tolist()
    order = rng.permutation(len(targets))
    return Combination(
        3 * blocks,
        np.array(targets)[order],
        np.array(sources)[order],
        rng.normal(size=len(targets)),
    )


def test_blocks_are_the_groups_that_share_sources(rng: np.random.Generator) -> None:
    combination = _block_combination(rng, blocks=4, per_block=5)
    blocks = combination_blocks(combination)
    assert [rows.tolist() for rows, _, _ in blocks] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9, 10, 11],
    ]
    dense = _dense(combination, 20)
    for rows, read, weights in blocks:
        assert set(read.tolist()) <= set(range(5 * (rows[0] // 3), 5 * (rows[0] // 3) + 5))
        np.testing.assert_allclose(weights, dense[np.ix_(rows, read)], rtol=1e-15)


def test_rows_joined_through_a_shared_source_are_one_block() -> None:
    # Row 0 reads slots 0 and 1, row 1 reads 1 and 2, row 2 reads 3: two blocks.
    combination = Combination(
        4, np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 2, 3]), np.arange(1.0, 6.0)
    )
    blocks = combination_blocks(combination)
    assert [(rows.tolist(), read.tolist()) for rows, read, _ in blocks] == [
        ([0, 1], [0, 1, 2]),
        ([2], [3]),
        ([3], []),  # reads nothing: a block of zeros
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_combine_rows_is_the_dense_product(rng: np.random.Generator, dtype) -> None:
    combination = _block_combination(rng, blocks=3, per_block=4)
    combination = combination._replace(rows=combination.rows + 1)  # a last row of zeros
    arrays = (rng.normal(size=(12, 2, 3)).astype(dtype), rng.normal(size=(12, 5)).astype(dtype))
    combined = combine_rows(NumpyOps(), arrays, combination)
    dense = _dense(combination, 12)
    for got, array in zip(combined, arrays, strict=True):
        assert got.shape == (combination.rows, *array.shape[1:])
        expected = np.tensordot(dense, array.astype(np.float64), axes=1)
        tolerance = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
    np.testing.assert_array_equal(combined[0][-1], 0.0)
