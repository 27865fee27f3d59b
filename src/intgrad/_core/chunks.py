"""Chunk sizes: how many path rows one model call evaluates (bounded memory, even chunks)."""

from __future__ import annotations

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "MAX_DEFAULT_CHUNK_ROWS",
    "balanced_chunk_rows",
    "default_chunk_rows",
]

DEFAULT_CHUNK_ELEMENTS = 2**20
"""Input elements per chunk when ``batch_size`` is not given (about 4 MiB of float32 input)."""

MAX_DEFAULT_CHUNK_ROWS = 256


def default_chunk_rows(
    features_per_example: int, total_rows: int, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> int:
    """Rows per chunk when the user gives no ``batch_size``: bounded input memory, at least 1.

    Args:
        features_per_example: input elements of one example (all inputs together).
        total_rows: rows the call needs in all.
        chunk_elements: the backend's input-element budget per chunk on the inputs' device.
    """
    by_memory = chunk_elements // max(1, features_per_example)
    return int(max(1, min(total_rows, MAX_DEFAULT_CHUNK_ROWS, by_memory)))


def balanced_chunk_rows(most_rows: int, total_rows: int) -> int:
    """Rows per chunk for ``total_rows`` in as few chunks of at most ``most_rows`` as possible,
    sized evenly: 128 rows at most 111 per chunk become 2 chunks of 64, not 111 + 17 (a small
    last chunk costs nearly a full call on a GPU).
    """
    chunks = -(-total_rows // max(1, most_rows))
    return max(1, -(-total_rows // max(1, chunks)))
