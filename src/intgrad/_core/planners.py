"""Planners for fixed rules: which rows to evaluate, as generators the loop drives.

A planner yields :class:`~intgrad._core.loop.Plan` objects, receives each plan's
:class:`~intgrad._core.loop.Feedback` and returns a :class:`~intgrad._core.loop.PlanReport`.
Slots are start points: baseline ``k`` of example ``e`` is slot ``k · examples + e``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from intgrad._core.backend import Rows
from intgrad._core.loop import Feedback, Plan, PlanGenerator, PlanReport
from intgrad._core.quadrature import QuadratureRule
from intgrad._core.result import PathRecord

__all__ = [
    "OncePerExample",
    "endpoint_rows",
    "fixed_rule",
    "once_per_example",
    "path_records",
    "slot_rows",
]


def slot_rows(
    owners: np.ndarray, slots: np.ndarray, alphas: np.ndarray, weights: np.ndarray
) -> Rows:
    """Rows for each slot in ``slots`` at every node (``alphas``, ``weights`` of equal length),
    slot-major; ``owners`` maps every slot to its example."""
    nodes = alphas.shape[0]
    repeated = np.repeat(slots.astype(np.int64), nodes)
    return Rows(
        example_index=owners[repeated],
        alphas=np.tile(alphas, slots.size),
        weights=np.tile(weights, slots.size),
        start_index=repeated,
    )


def endpoint_rows(owners: np.ndarray, num_examples: int) -> Rows:
    """Forward rows at α = 1 once per example (slot e), then at α = 0 once per slot."""
    examples = np.arange(num_examples, dtype=np.int64)
    slots = np.arange(owners.size, dtype=np.int64)
    return Rows(
        example_index=np.concatenate([examples, owners]),
        alphas=np.concatenate([np.ones(num_examples), np.zeros(owners.size)]),
        weights=np.zeros(num_examples + owners.size),
        start_index=np.concatenate([examples, slots]),
    )


def path_records(
    rows: Sequence[Rows],
    feedback: Sequence[Feedback],
    num_slots: int,
    num_examples: int,
) -> tuple[PathRecord, ...]:
    """Per baseline, the recorded rows of each example sorted by α, NaN-padded where an example
    has fewer points than the one with most."""
    slot = np.concatenate([r.start_index for r in rows])
    alphas = np.concatenate([r.alphas for r in rows])
    outputs = np.concatenate([f.outputs for f in feedback if f.outputs is not None])
    means = np.concatenate([f.mean_gradients for f in feedback if f.mean_gradients is not None])
    width = int(np.bincount(slot, minlength=num_slots).max())
    arrays = [np.full((num_slots, width), np.nan) for _ in range(3)]
    for s in range(num_slots):
        mine = np.flatnonzero(slot == s)
        order = mine[np.argsort(alphas[mine], kind="stable")]
        for target, source in zip(arrays, (alphas, outputs, means), strict=True):
            target[s, : order.size] = source[order]
    return tuple(
        PathRecord(*(a[k * num_examples : (k + 1) * num_examples] for a in arrays))
        for k in range(num_slots // num_examples)
    )


def fixed_rule(
    rule: QuadratureRule, owners: np.ndarray, num_examples: int, compute_delta: bool, record: bool
) -> PlanGenerator:
    """Every slot at every node of ``rule``; with ``compute_delta`` the end points first.

    Args:
        rule: the quadrature nodes and weights.
        owners: shape (slots,), int64, the example of each slot.
        num_examples: examples in the call.
        compute_delta: evaluate F(x) once per example and F(x′) once per slot.
        record: record F and the mean gradient at every node.
    """
    f_input = f_start = None
    if compute_delta:
        ends = yield Plan(endpoint_rows(owners, num_examples), gradients=False)
        assert ends.outputs is not None
        f_input, f_start = ends.outputs[:num_examples], ends.outputs[num_examples:]
    slots = np.arange(owners.size, dtype=np.int64)
    rows = slot_rows(owners, slots, rule.alphas, rule.weights)
    result = yield Plan(rows, gradients=True)
    return PlanReport(
        f_input=f_input,
        f_start=f_start,
        steps=np.full(owners.size, rule.alphas.shape[0], dtype=np.int64),
        estimated_error=None,
        # F(x) once per example, F(x′) once per baseline.
        forward_evaluations=1 + owners.size // num_examples if compute_delta else 0,
        paths=path_records([rows], [result], owners.size, num_examples) if record else (),
    )


class OncePerExample:
    """A planner factory: one row per example at its end point, weight 1, and F there.

    With ``gradients=False`` the row is forward only. ``f_input`` reports F(x); there is no
    start point to evaluate, so ``f_start`` is ``None``.
    """

    rows_per_slot = 1
    method = "none"

    def __init__(self, gradients: bool) -> None:
        self.gradients = gradients

    def __call__(
        self, owners: np.ndarray, num_examples: int, compute_delta: bool, record: bool
    ) -> PlanGenerator:
        examples = np.arange(num_examples, dtype=np.int64)
        rows = Rows(
            example_index=examples,
            alphas=np.ones(num_examples),
            weights=np.ones(num_examples),
            start_index=examples,
        )
        feedback = None
        if self.gradients:
            feedback = yield Plan(rows, gradients=True)
        if feedback is None or feedback.outputs is None:  # gradient plans report F when recorded
            feedback = yield Plan(Rows(examples, rows.alphas, 0 * rows.weights, examples), False)
        return PlanReport(
            f_input=feedback.outputs,
            f_start=None,
            steps=np.full(owners.size, int(self.gradients), dtype=np.int64),
            estimated_error=None,
            forward_evaluations=1,
            paths=(),
        )


def once_per_example(gradients: bool) -> OncePerExample:
    """The planner factory of :class:`OncePerExample`."""
    return OncePerExample(gradients)
