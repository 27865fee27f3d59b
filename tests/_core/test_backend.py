"""The rows the core hands to backends, and padding them to a fixed chunk size."""

from __future__ import annotations

import numpy as np

from intgrad._core.backend import Rows


def _rows() -> Rows:
    return Rows(np.array([0, 0, 1]), np.array([0.25, 0.5, 0.75]), np.array([0.2, 0.3, 0.5]))


def test_padding_repeats_the_last_row_with_weight_zero() -> None:
    padded = _rows().padded(5)
    np.testing.assert_array_equal(padded.example_index, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(padded.alphas, [0.25, 0.5, 0.75, 0.75, 0.75])
    np.testing.assert_array_equal(padded.weights, [0.2, 0.3, 0.5, 0.0, 0.0])
    assert padded.example_index.dtype == np.int64


def test_padding_rows_can_point_at_an_example_to_drop() -> None:
    padded = _rows().padded(4, example_index=2)
    np.testing.assert_array_equal(padded.example_index, [0, 0, 1, 2])
    np.testing.assert_array_equal(padded.weights, [0.2, 0.3, 0.5, 0.0])


def test_full_rows_are_returned_as_they_are() -> None:
    rows = _rows()
    assert rows.padded(3) is rows and rows.padded(2) is rows
