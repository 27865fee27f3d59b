"""Chunk planning: the default chunk size per device budget, and even chunks."""

from __future__ import annotations

import pytest

from intgrad._core.chunks import (
    DEFAULT_CHUNK_ELEMENTS,
    MAX_DEFAULT_CHUNK_ROWS,
    balanced_chunk_rows,
    default_chunk_rows,
)


@pytest.mark.parametrize(
    ("most", "total", "expected"),
    [
        (111, 128, 64),  # two even chunks, not 111 + 17
        (6, 50, 6),  # 9 chunks: 6 × 8 + 2 cannot be made more even with 9 chunks of ≤ 6
        (256, 50, 50),  # one chunk holds everything
        (7, 13, 7),
        (4, 10, 4),
        (1, 5, 1),
        (10, 10, 10),
    ],
)
def test_balanced_chunk_rows(most: int, total: int, expected: int) -> None:
    rows = balanced_chunk_rows(most, total)
    assert rows == expected
    chunks = -(-total // rows)
    # Never more rows than asked, never more chunks than the fewest possible.
    assert rows <= most and chunks == -(-total // most)


def test_default_chunk_rows_follows_the_budget() -> None:
    photo = 3 * 224 * 224
    assert default_chunk_rows(photo, 1000) == DEFAULT_CHUNK_ELEMENTS // photo == 6
    assert default_chunk_rows(photo, 1000, chunk_elements=2**24) == 111
    assert default_chunk_rows(photo, 4) == 4  # never more rows than the call needs
    assert default_chunk_rows(10**9, 50) == 1  # at least one row, even over budget
    assert default_chunk_rows(3, 10**6) == MAX_DEFAULT_CHUNK_ROWS
