"""The rows the core hands to the chunk step, and padding them to a fixed chunk size."""

from __future__ import annotations

import numpy as np

from intgrad._core.backend import Rows


def _rows() -> Rows:
    return Rows(
        example_index=np.array([0, 0, 1]),
        alphas=np.array([0.25, 0.5, 0.75]),
        weights=np.array([0.2, 0.3, 0.5]),
        start_index=np.array([2, 2, 3]),
    )


def test_padding_repeats_the_last_row_with_weight_zero() -> None:
    padded = _rows().padded(5)
    np.testing.assert_array_equal(padded.example_index, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(padded.start_index, [2, 2, 3, 3, 3])
    np.testing.assert_array_equal(padded.alphas, [0.25, 0.5, 0.75, 0.75, 0.75])
    np.testing.assert_array_equal(padded.weights, [0.2, 0.3, 0.5, 0.0, 0.0])
    assert padded.example_index.dtype == np.int64


def test_full_rows_are_returned_as_they_are() -> None:
    rows = _rows()
    assert rows.padded(3) is rows and rows.padded(2) is rows


def test_slices_and_concatenation_keep_every_column() -> None:
    rows = _rows()
    joined = Rows.concat([rows.slice(0, 1), rows.slice(1, 3)])
    for column, original in zip(joined, rows, strict=True):
        np.testing.assert_array_equal(column, original)
    assert len(rows.slice(1, 3)) == 2
