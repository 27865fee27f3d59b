"""IDGI: each path step's change of F, given to the features along the gradient's direction.

Between consecutive path points γ(α_j) and γ(α_{j+1}) the output changes by
Δf_j = F(γ(α_{j+1})) − F(γ(α_j)). Integrated Gradients spreads the step over the features as
g ⊙ Δγ, which adds noise where the path moves but the output does not react; IDGI gives Δf_j to
the features in proportion to the squared gradient at γ(α_j),

    A = Σ_j Δf_j · g_j ⊙ g_j / Σ_i g_ji²,   g_j = ∂F/∂x(γ(α_j)),

so the attributions of every step sum to Δf_j and the total to F(x) − F(x′) exactly (a
telescoping sum; up to rounding). The path only supplies the points (straight line, blur, ...).

The engine runs it as a path wrapper (:class:`Reweighted`: the inner path's points, the
reweighted gradient as each row's contribution, with the row's weight Δf_j) and a planner
(:class:`UniformDifferences`: F forward at the nodes, then gradients at all but the last node,
weighted by the differences). :func:`idgi_step` is the same formula on host arrays, for paths
computed on the host (Guided IG).

References:
    Yang, Wang & Bilen (2023), "IDGI: A Framework to Eliminate Explanation Noise from
    Integrated Gradients", CVPR, Algorithm 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from intgrad._core.backend import CallArrays, Rows
from intgrad._core.loop import Plan, PlanGenerator, PlanReport
from intgrad._core.paths import Path
from intgrad._core.planners import path_records
from intgrad._core.primitives import ArrayOps, DeviceRows

__all__ = [
    "SMALLEST_SQUARED_NORM",
    "Reweighted",
    "UniformDifferences",
    "check_steps",
    "idgi_rows",
    "idgi_step",
]

SMALLEST_SQUARED_NORM = float(np.finfo(np.float32).tiny)
"""Σ g² is divided by at least this (the smallest normal float32, about 1.2e-38): a row whose
gradient is zero adds 0, never 0 / 0. Rows with 0 < Σ g² below it (no real model's) add less
than their Δf, which the completeness check would then report."""


class Reweighted:
    """IDGI on the points of ``inner``: each row adds ``w · g ⊙ g / Σ g²``.

    ``Σ g²`` sums over every feature of every path tensor of the row; the row's weight ``w`` is
    the planner's Δf_j (see :class:`UniformDifferences`). A slot's attributions are its sum.

    Args:
        inner: the path whose points are evaluated (its contribution is not used).
    """

    def __init__(self, inner: Path) -> None:
        self.inner = inner
        self.per_start = inner.per_start

    @property
    def key(self) -> tuple[object, ...]:
        return ("idgi", self.inner.key)

    def points(self, ops: ArrayOps, arrays: CallArrays, rows: DeviceRows) -> tuple[Any, ...]:
        return self.inner.points(ops, arrays, rows)

    def contribution(
        self,
        ops: ArrayOps,
        arrays: CallArrays,
        rows: DeviceRows,
        grads: tuple[Any, ...],
        state: tuple[Any, ...],
    ) -> tuple[Any, ...]:
        squares = tuple(
            ops.cast(g, acc) * ops.cast(g, acc) for g, acc in zip(grads, state, strict=True)
        )
        norms = ops.row_sums(squares[0])
        for square in squares[1:]:
            norms = norms + ops.row_sums(square)
        floor = SMALLEST_SQUARED_NORM - norms
        norms = norms + (floor + abs(floor)) * 0.5  # max(Σ g², floor), exactly Σ g² above it
        scale = ops.cast(rows.weights, norms) / norms
        return tuple(square * ops.per_row(scale, square) for square in squares)

    def slot_attributions(
        self, ops: ArrayOps, arrays: CallArrays, state: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        return state


def check_steps(steps: object) -> int:
    """``steps`` as an int; ``TypeError`` unless an int, ``ValueError`` unless >= 1."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be a positive int, got {steps!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return int(steps)


class UniformDifferences:
    """IDGI's planner factory: F at n + 1 uniform nodes, then n gradients weighted by ΔF.

    Per slot: a forward plan at α_j = j / n (j = 0 … n), then one gradient plan at α_0 … α_{n−1}
    whose weights are Δf_j = F(α_{j+1}) − F(α_j). ``f_input`` is F at α = 1, ``f_start`` F at
    α = 0 (reported with ``compute_delta``), both from the forward plan.

    Args:
        steps: n, the gradient evaluations per slot, >= 1.
    """

    method = "uniform"

    def __init__(self, steps: int) -> None:
        self.steps = check_steps(steps)
        self.rows_per_slot = self.steps

    def __call__(
        self, owners: np.ndarray, num_examples: int, compute_delta: bool, record: bool
    ) -> PlanGenerator:
        n, num_slots = self.steps, owners.size
        nodes = np.arange(n + 1, dtype=np.float64) / n
        slots = np.repeat(np.arange(num_slots, dtype=np.int64), n + 1)
        forward = Rows(owners[slots], np.tile(nodes, num_slots), np.zeros(slots.size), slots)
        feedback = yield Plan(forward, gradients=False)
        assert feedback.outputs is not None
        values = feedback.outputs.reshape(num_slots, n + 1)
        slots = np.repeat(np.arange(num_slots, dtype=np.int64), n)
        rows = Rows(
            example_index=owners[slots],
            alphas=np.tile(nodes[:-1], num_slots),
            weights=np.diff(values, axis=1).reshape(-1),
            start_index=slots,
        )
        result = yield Plan(rows, gradients=True)
        return PlanReport(
            f_input=values[:num_examples, -1],
            f_start=values[:, 0] if compute_delta else None,
            steps=np.full(num_slots, n, dtype=np.int64),
            estimated_error=None,
            forward_evaluations=n + 1,
            paths=path_records([rows], [result], num_slots, num_examples) if record else (),
        )


def idgi_step(gradients: np.ndarray, delta_f: np.ndarray) -> np.ndarray:
    """IDGI's attributions from gradients and output changes along a path computed on the host.

    Args:
        gradients: shape (points, ...), ∂F/∂x at the path points γ_0 … γ_{m−1} (the last
            point, the input itself, is not needed).
        delta_f: shape (points,), F(γ_{j+1}) − F(γ_j) for each point.

    Returns:
        Shape (...), float64: Σ_j Δf_j · g_j ⊙ g_j / Σ g_j², whose sum is Σ_j Δf_j (a point
        whose gradient is zero adds 0).

    References:
        Yang, Wang & Bilen (2023), "IDGI", CVPR, Algorithm 1.
    """
    g = np.asarray(gradients, dtype=np.float64)
    changes = np.asarray(delta_f, dtype=np.float64)
    if g.ndim < 1 or changes.shape != g.shape[:1]:
        raise ValueError(
            "delta_f must have one entry per gradient: gradients of shape (points, ...) and "
            f"delta_f of shape (points,); got {g.shape} and {changes.shape}"
        )
    return idgi_rows(g, changes).sum(axis=0)


def idgi_rows(gradients: np.ndarray, delta_f: np.ndarray) -> np.ndarray:
    """Each row's own IDGI contribution ``Δf_r · g_r ⊙ g_r / Σ g_r²``, shape of ``gradients``.

    For paths whose steps run on the host for a batch at once (Guided IG): row ``r`` is one
    example's step; a row whose gradient is zero adds 0.
    """
    g = np.asarray(gradients, dtype=np.float64)
    changes = np.asarray(delta_f, dtype=np.float64)
    squares = g * g
    norms = squares.reshape(g.shape[0], -1).sum(axis=1)
    scale = np.divide(changes, norms, out=np.zeros_like(norms), where=norms > 0)
    return squares * scale.reshape((-1,) + (1,) * (g.ndim - 1))
