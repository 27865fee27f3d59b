"""The accumulation loop: evaluate gradients in bounded chunks and sum them on the fly.

Integrated Gradients of example x with baseline x′ (Sundararajan, Taly & Yan 2017, eq. 1):

    IG(x) = (x − x′) · ∫₀¹ ∂F(x′ + α(x − x′))/∂x dα  ≈  (x − x′) · Σ_k w_k ∂F(γ(α_k))/∂x

Rows are (example, alpha) pairs; they are evaluated ``chunk_rows`` at a time and each chunk's
weighted gradients are added into one accumulator per input, so peak memory depends on the chunk
size, never on the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from intgrad._core.backend import ChunkRecord, PathEvaluator, Rows
from intgrad._core.quadrature import QuadratureRule
from intgrad._core.result import PathRecord

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "accumulate_rows",
    "balanced_chunk_rows",
    "default_chunk_rows",
    "endpoint_outputs",
    "forward_rows",
    "iter_chunks",
    "path_record",
    "rule_rows",
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


def rule_rows(num_examples: int, rule: QuadratureRule) -> Rows:
    """Rows for every example at every node of ``rule``, example-major (example 0's nodes first)."""
    steps = rule.alphas.shape[0]
    return Rows(
        example_index=np.repeat(np.arange(num_examples, dtype=np.int64), steps),
        alphas=np.tile(rule.alphas, num_examples),
        weights=np.tile(rule.weights, num_examples),
    )


def iter_chunks(rows: Rows, chunk_rows: int) -> Iterator[Rows]:
    """Consecutive slices of ``rows`` of at most ``chunk_rows`` rows each."""
    for start in range(0, len(rows), chunk_rows):
        yield rows.slice(start, start + chunk_rows)


def accumulate_rows(
    evaluator: PathEvaluator,
    state: object,
    rows: Rows,
    chunk_rows: int,
    record: bool,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[object, ChunkRecord | None]:
    """Add the weighted gradients at ``rows`` into ``state``, one chunk at a time.

    ``on_chunk``, if given, is called with the number of rows after each chunk (progress).

    Returns:
        The new state and, with ``record=True``, the per-row outputs and mean gradients of all
        rows (in the order of ``rows``).
    """
    records: list[ChunkRecord] = []
    for chunk in iter_chunks(rows, chunk_rows):
        state, chunk_record = evaluator.accumulate(state, chunk, record)
        if chunk_record is not None:
            records.append(chunk_record)
        if on_chunk is not None:
            on_chunk(len(chunk))
    if not record:
        return state, None
    return state, ChunkRecord(
        outputs=np.concatenate([r.outputs for r in records]),
        mean_gradients=np.concatenate([r.mean_gradients for r in records]),
    )


def forward_rows(evaluator: PathEvaluator, rows: Rows, chunk_rows: int) -> np.ndarray:
    """The selected output at every row's point, shape (rows,), float64, in chunks."""
    if not len(rows):
        return np.zeros(0)
    return np.concatenate([evaluator.forward(chunk) for chunk in iter_chunks(rows, chunk_rows)])


def endpoint_outputs(
    evaluator: PathEvaluator, num_examples: int, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """F(x) and F(x′) per example from forward passes at α = 1 and α = 0, batched.

    Returns:
        ``(f_input, f_baseline)``, each shape (examples,), float64.
    """
    examples = np.arange(num_examples, dtype=np.int64)
    rows = Rows(
        example_index=np.concatenate([examples, examples]),
        alphas=np.concatenate([np.ones(num_examples), np.zeros(num_examples)]),
        weights=np.zeros(2 * num_examples),
    )
    outputs = forward_rows(evaluator, rows, chunk_rows)
    return outputs[:num_examples], outputs[num_examples:]


def path_record(rows: Rows, record: ChunkRecord, num_examples: int) -> PathRecord:
    """Arrange per-row records into per-example arrays sorted by alpha.

    Every example must have the same number of rows (true for fixed rules).
    """
    order = np.lexsort((rows.alphas, rows.example_index))
    shape = (num_examples, len(rows) // num_examples)
    return PathRecord(
        alphas=rows.alphas[order].reshape(shape),
        outputs=record.outputs[order].reshape(shape),
        mean_gradients=record.mean_gradients[order].reshape(shape),
    )
