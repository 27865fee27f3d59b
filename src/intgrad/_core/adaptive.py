"""``steps="auto"``: place gradient evaluations where the path needs them, stop when accurate.

1. **Pilot.** A forward-only pass (no gradients: a fraction of the cost) evaluates F on a uniform
   grid of ``PILOT_INTERVALS`` intervals, then bisects the steepest cells (reading them from a
   grid of ``SINGLE_CALL_PILOT_INTERVALS`` computed in one call when a chunk holds it). It also
   gives F(x′) and F(x) for the completeness check.
2. **Warp.** A monotone map α = φ(t) sends more of [0, 1] in t to the intervals where F changes
   most (a mix of "where F changes" and "uniform", because per-feature gradients still vary
   where F is flat). Then ∫₀¹ g(α) dα = ∫₀¹ g(φ(t)) φ′(t) dt.
3. **Cells in t, each its own nested trapezoid rule.** [0, 1] in t is cut into ``CELLS`` (12)
   cells. Their 13 boundaries are evaluated first, then one midpoint per cell (25 evaluations,
   the first check). A cell at level k is the trapezoid rule of its 2ᵏ sub-intervals; refining
   it adds its 2ᵏ midpoints and halves its accumulated interior sum, so *every earlier gradient
   is reused*. Each cell accumulates apart (:func:`accumulator_slots`: one row per cell
   interior, per boundary, whose weight depends on both neighbours' levels, and per cell a copy
   of its latest refinement's midpoints), so memory is 3·CELLS + 1 input-sized rows per
   example, whatever the number of steps.
4. **Errors per cell, refinement where they are.** A cell's L2 error is estimated from its
   last refinement (the change D = T_k − T_{k−1}, its norm guarded by half the change before,
   over √3); the slot's estimate is the root sum of squares over its cells, relative to ‖A‖.
   While it is above ``attribution_tolerance``, the cells with the largest predicted cut of the
   squared error per new node are refined (an error halves when a cell's nodes double, the 1/n
   of rough integrands) until the prediction is under ``PLANNED_SHARE`` of the tolerance.
5. **The completeness gap.** Once the L2 estimate is within its tolerance and the gap is not,
   the least move along the cells' latest changes D_c that takes the gap to ``GAP_SHARE`` of its
   tolerance (:func:`_correction`) is taken if the L2 estimate, the move's norm added in
   quadrature, stays within its tolerance: no model call. Otherwise the cells with the largest
   *local* gap — their attributions' sum against F's exact change over the cell, known from
   the forward values at the boundaries — are refined. Refinement alone chases a gap that
   wanders on ReLU networks: on flower it took 47 → 67 → 107 → 115 evaluations for a gap of
   1.0 → 2.0 → 1.4 → 0.3 %, where the move closes it at 47 with a measured L2 error of 2.75 %
   (benchmarks/bench_captum.py photos, against 1025-step references).
6. **Stop** per example when both bars are met, or when no chosen cell fits under
   ``max_steps``.

For ReLU networks the integrand is rough and the error falls like 1/n; the change of two
levels then overestimates the finer level's error by a factor measured between 1.7 and 1.8 on
the sample photos against 1025-step references, hence √3. For smooth integrands the estimate is
conservative. Refining only where the error is cut the gradient evaluations at the default
tolerance from 97 to 73 on chelsea and from 193 to 65 on astronaut, with the measured L2 error
and gap still within the bars (``benchmarks/bench_captum.py``). On ten photos
(``benchmarks/adaptive_settings.py``, docs/benchmarks-adaptive.md) a pilot of 8 intervals (11
to 17 forward passes) placed the nodes as well as one of 16 (21 to 33): 534 gradient
evaluations in all against 592, and 776 without the move of step 5.

References:
    Walker et al. (2024), "Integrated Decision Gradients", AAAI — a forward pass to find where
    the output changes. Bhat & Raychowdhury (2023), non-uniform interpolation for IG.
    Richardson (1911) and Romberg (1955): extrapolation along the difference of two levels.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from intgrad._core.backend import Rows
from intgrad._core.loop import Combination, Feedback, Plan, PlanGenerator, PlanReport
from intgrad._core.planners import path_records

__all__ = [
    "CELLS",
    "FIRST_CHECK_NODES",
    "AdaptiveSettings",
    "PathWarp",
    "accumulator_slots",
    "adaptive",
    "max_nodes",
    "warp_from_pilot",
]

PILOT_INTERVALS = 8
PILOT_REFINEMENTS = 3
SINGLE_CALL_PILOT_INTERVALS = 64
"""Grid evaluated in one call when a chunk holds it for every example; the bisection rounds
then read their midpoints from it instead of calling the model again."""
CELLS = 12
"""Cells of the path in t, each refined on its own (12 cells: 13 boundary nodes to start)."""
FIRST_CHECK_NODES = 2 * CELLS + 1
"""Gradient evaluations before the first check: the boundaries, then one midpoint per cell."""
PLANNED_SHARE = 0.9
"""A refinement round aims its predicted L2 error at this share of the tolerance."""
GAP_SHARE = 0.5
"""A gap-driven round refines cells until the gap left in the others is this share of the
tolerance."""
UNIFORM_SHARE = 0.5
"""Share of the warp that stays uniform in α; the rest follows |ΔF| from the pilot."""

ROUGHNESS_FACTOR = math.sqrt(3.0)


@dataclass(frozen=True)
class AdaptiveSettings:
    """Stopping rule of the adaptive mode (validated by :meth:`checked`).

    Attributes:
        tolerance: largest relative completeness gap accepted, in (0, 1).
        attribution_tolerance: largest estimated relative L2 error of the attributions;
            ``None`` means ``3 * tolerance`` (per-feature errors converge more slowly).
        max_steps: most gradient evaluations per example and baseline, >= 25 (the first
            check).
    """

    tolerance: float = 0.01
    attribution_tolerance: float | None = None
    max_steps: int = 513

    def checked(self) -> AdaptiveSettings:
        """Return self after validating every field (``ValueError`` naming the argument)."""
        if not 0.0 < self.tolerance < 1.0:
            raise ValueError(f"tolerance must be in (0, 1), got {self.tolerance}")
        if self.attribution_tolerance is not None and self.attribution_tolerance <= 0:
            raise ValueError(f"attribution_tolerance must be > 0, got {self.attribution_tolerance}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int):
            raise TypeError(f"max_steps must be an int, got {self.max_steps!r}")
        if self.max_steps < FIRST_CHECK_NODES:
            raise ValueError(
                f"max_steps must be >= {FIRST_CHECK_NODES} with steps='auto', got {self.max_steps}"
            )
        return self

    @property
    def l2_tolerance(self) -> float:
        return (
            3.0 * self.tolerance
            if self.attribution_tolerance is None
            else self.attribution_tolerance
        )


class PathWarp(NamedTuple):
    """A smooth monotone map α = φ(t) of [0, 1] onto itself, from a density over α.

    The density ρ(α) is piecewise linear and positive, so its CDF t = Φ(α) is piecewise quadratic
    and φ = Φ⁻¹ has a continuous derivative φ′(t) = 1 / ρ(φ(t)): the warped integrand stays
    continuous and the nested trapezoid rule keeps its second order on smooth integrands.

    Attributes:
        edges: shape (cells + 1,), float64, α at the breakpoints, from 0 to 1.
        density: shape (cells + 1,), float64, ρ at the breakpoints (> 0, ∫ρ = 1).
        cdf: shape (cells + 1,), float64, Φ at the breakpoints, from 0 to 1.
    """

    edges: np.ndarray
    density: np.ndarray
    cdf: np.ndarray

    def _locate(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell of each t, the offset u = α − edge within it, and ρ at α."""
        cell = np.clip(np.searchsorted(self.cdf, t, side="right") - 1, 0, self.cdf.size - 2)
        start = self.density[cell]
        slope = (self.density[cell + 1] - start) / (self.edges[cell + 1] - self.edges[cell])
        mass = np.clip(t - self.cdf[cell], 0.0, None)
        # Root of start·u + slope·u²/2 = mass, in the form that is stable as slope → 0.
        offset = 2.0 * mass / (start + np.sqrt(np.maximum(start**2 + 2.0 * slope * mass, 0.0)))
        return cell, offset, start + slope * offset

    def alphas(self, t: np.ndarray) -> np.ndarray:
        """φ(t), shape of ``t``, in [0, 1]."""
        cell, offset, _ = self._locate(t)
        return np.clip(self.edges[cell] + offset, 0.0, 1.0)

    def slopes(self, t: np.ndarray) -> np.ndarray:
        """φ′(t) = 1 / ρ(φ(t)), shape of ``t``."""
        return 1.0 / self._locate(t)[2]


def warp_from_pilot(alphas: np.ndarray, outputs: np.ndarray) -> PathWarp:
    """The warp for one example from F at the pilot points.

    The density mixes a uniform share with the share of |ΔF| in each pilot interval, taken at
    the breakpoints as the mean of the two neighbouring intervals.

    Args:
        alphas: shape (points,), increasing from 0 to 1.
        outputs: shape (points,), F at those points.
    """
    widths = np.diff(alphas)
    changes = np.abs(np.diff(outputs))
    total = changes.sum()
    share = changes / total if total > 0 and np.isfinite(total) else widths
    per_cell = UNIFORM_SHARE + (1.0 - UNIFORM_SHARE) * share / widths
    padded = np.concatenate([per_cell[:1], per_cell, per_cell[-1:]])
    density = (padded[:-1] + padded[1:]) / 2.0
    cell_mass = (density[:-1] + density[1:]) / 2.0 * widths
    cdf = np.concatenate([[0.0], np.cumsum(cell_mass)])
    return PathWarp(edges=alphas.astype(np.float64), density=density / cdf[-1], cdf=cdf / cdf[-1])


def max_nodes(max_steps: int) -> int:
    """The most gradient evaluations per slot under a cap of ``max_steps`` (cells refine one at a
    time, so any count from :data:`FIRST_CHECK_NODES` up to the cap can be the last)."""
    return int(max_steps)


ROW_KINDS = 3 * CELLS + 1
"""Accumulator rows per slot: each cell's interior, each boundary, each cell's latest
refinement."""


def accumulator_slots(num_slots: int) -> np.ndarray:
    """The slot of each accumulator row the adaptive planner uses: shape ((3·CELLS + 1) ·
    slots,), int64. Row ``kind · slots + s`` belongs to slot ``s``; kinds ``0 … CELLS − 1`` hold
    each cell's interior nodes, kinds ``CELLS … 2·CELLS`` each cell boundary's gradient, kinds
    ``2·CELLS + 1 …`` a copy of what each cell's latest refinement added (its midpoints)."""
    return np.tile(np.arange(num_slots, dtype=np.int64), ROW_KINDS)


def _interior_row(cell: int | np.ndarray, slot: int | np.ndarray, num_slots: int) -> Any:
    return cell * num_slots + slot


def _boundary_row(boundary: int | np.ndarray, slot: int | np.ndarray, num_slots: int) -> Any:
    return (CELLS + boundary) * num_slots + slot


def _latest_row(cell: int | np.ndarray, slot: int | np.ndarray, num_slots: int) -> Any:
    return (2 * CELLS + 1 + cell) * num_slots + slot


def _forward_plan(owners: np.ndarray, alphas: list[np.ndarray]) -> Plan:
    """A forward plan at the given alphas of each slot (one array per slot)."""
    counts = [a.size for a in alphas]
    slots = np.repeat(np.arange(len(alphas), dtype=np.int64), counts)
    rows = Rows(
        example_index=owners[slots],
        alphas=np.concatenate(alphas) if alphas else np.zeros(0),
        weights=np.zeros(sum(counts)),
        start_index=slots,
    )
    return Plan(rows, gradients=False)


def _pilot(
    owners: np.ndarray, chunk_rows: int
) -> Generator[Plan, Feedback, tuple[list[np.ndarray], list[np.ndarray], int]]:
    """F along each slot's path: a uniform grid, then bisection where F changes most.

    A cell is bisected while it holds more than ``1 / PILOT_INTERVALS`` of the total |ΔF| (up
    to ``PILOT_REFINEMENTS`` times), so a sharp rise (typical just above a black baseline) is
    located to a fraction of a cell for a few extra forward passes. When one chunk holds
    ``SINGLE_CALL_PILOT_INTERVALS + 1`` points per slot (GPU-sized chunks, where a call
    costs about the same whatever its rows), that finer grid is evaluated in one call first
    and the bisection rounds read their midpoints from it; the points kept, and so the warp,
    are the same as with separate calls.

    Returns:
        Per slot, the sorted alphas (from 0 to 1) and F at them; and the number of forward
        evaluations made for the slot that needed the most.
    """
    num_slots = owners.size
    known: list[dict[float, float]] = [{} for _ in range(num_slots)]
    evaluations = np.zeros(num_slots, dtype=np.int64)

    def values_at(
        requested: list[np.ndarray],
    ) -> Generator[Plan, Feedback, list[np.ndarray]]:
        missing = [
            np.array([a for a in r if a not in k]) for r, k in zip(requested, known, strict=True)
        ]
        if any(m.size for m in missing):
            feedback = yield _forward_plan(owners, missing)
            assert feedback.outputs is not None
            values = np.split(feedback.outputs, np.cumsum([m.size for m in missing])[:-1])
            for s, (new_alphas, new_values) in enumerate(zip(missing, values, strict=True)):
                known[s].update(zip(new_alphas.tolist(), new_values.tolist(), strict=True))
                evaluations[s] += new_alphas.size
        return [np.array([k[a] for a in r]) for r, k in zip(requested, known, strict=True)]

    if chunk_rows >= num_slots * (SINGLE_CALL_PILOT_INTERVALS + 1):
        yield from values_at([np.linspace(0.0, 1.0, SINGLE_CALL_PILOT_INTERVALS + 1)] * num_slots)
    grid = np.linspace(0.0, 1.0, PILOT_INTERVALS + 1)
    alphas = [grid.copy() for _ in range(num_slots)]
    outputs = yield from values_at(alphas)
    for _ in range(PILOT_REFINEMENTS):
        midpoints = [_steep_midpoints(a, f) for a, f in zip(alphas, outputs, strict=True)]
        if not any(m.size for m in midpoints):
            break
        values = yield from values_at(midpoints)
        for s, (new_alphas, new_values) in enumerate(zip(midpoints, values, strict=True)):
            merged = np.concatenate([alphas[s], new_alphas])
            order = np.argsort(merged, kind="stable")
            alphas[s] = merged[order]
            outputs[s] = np.concatenate([outputs[s], new_values])[order]
    return alphas, outputs, int(evaluations.max())


def _steep_midpoints(alphas: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    changes = np.abs(np.diff(outputs))
    total = changes.sum()
    if not np.isfinite(total) or total <= 0:
        return np.zeros(0)
    steep = np.flatnonzero(changes > total / PILOT_INTERVALS)
    return (alphas[steep] + alphas[steep + 1]) / 2.0


class _Cells:
    """Per slot, the cells' refinement levels and what their last refinement measured.

    Cell ``c`` of a slot spans t in [c / CELLS, (c + 1) / CELLS]; at level ``k`` it is the
    trapezoid rule of its ``2^k`` sub-intervals: its interior accumulator holds the interior
    nodes' weighted gradients, its two boundaries' accumulators their plain ones (weighted
    here, since a boundary's weight depends on both neighbours' levels).
    """

    def __init__(self, num_slots: int) -> None:
        self.num_slots = num_slots
        self.levels = np.zeros((num_slots, CELLS), dtype=np.int64)
        self.errors = np.full((num_slots, CELLS), np.inf)  # estimated L2 error of each cell
        self.previous = np.zeros((num_slots, CELLS))  # the difference norm of the level before
        self.sums = np.zeros((num_slots, CELLS))  # Σ attributions of each cell
        self.changes = np.zeros((num_slots, CELLS))  # F(cell end) − F(cell start), exact
        self.change_sums = np.zeros((num_slots, CELLS))  # Σ of the latest refinement's change
        self.corrections = np.zeros((num_slots, CELLS))  # β of each cell (see _correction)

    def nodes(self) -> np.ndarray:
        """Gradient evaluations so far per slot, shape (slots,)."""
        return CELLS + 1 + (2**self.levels - 1).sum(axis=1)

    def widths(self, levels: np.ndarray) -> np.ndarray:
        """Sub-interval width in t of cells at ``levels``."""
        return 1.0 / (CELLS * 2.0**levels)

    def boundary_weights(self, levels: np.ndarray) -> np.ndarray:
        """Trapezoid weight of each of the CELLS + 1 boundaries, shape (CELLS + 1,)."""
        half = self.widths(levels) / 2.0
        return np.concatenate([half, [0.0]]) + np.concatenate([[0.0], half])

    def total(self, slot: int, levels: np.ndarray) -> tuple[list[int], list[float]]:
        """The accumulator rows and weights whose sum is the slot's attributions (before any
        correction; the first CELLS rows are the interiors)."""
        interiors = [_interior_row(c, slot, self.num_slots) for c in range(CELLS)]
        boundaries = [_boundary_row(b, slot, self.num_slots) for b in range(CELLS + 1)]
        weights = [1.0] * CELLS + self.boundary_weights(levels).tolist()
        return interiors + boundaries, weights

    def latest_change(self, slot: int, cell: int) -> tuple[list[int], list[float]]:
        """The rows and weights of D, the cell's rule at its level minus the level before.

        With L the latest refinement's midpoints and I the interior now, the interior before
        was 2(I − L) and the sub-intervals twice as wide, so D = 2L − I − h/2 · (B_c + B_c+1),
        h the sub-interval width now.
        """
        n = self.num_slots
        half = float(self.widths(self.levels[slot, cell])) / 2.0
        rows = [
            _latest_row(cell, slot, n),
            _interior_row(cell, slot, n),
            _boundary_row(cell, slot, n),
            _boundary_row(cell + 1, slot, n),
        ]
        return rows, [2.0, -1.0, -half, -half]


def _boundary_rows(owners: np.ndarray, warps: list[PathWarp]) -> Rows:
    """Every slot's CELLS + 1 cell boundaries, each into its own accumulator row."""
    num_slots = owners.size
    t = np.arange(CELLS + 1) / CELLS
    boundaries = np.tile(np.arange(CELLS + 1), num_slots)
    slots = np.repeat(np.arange(num_slots), CELLS + 1)
    return Rows(
        example_index=owners[slots],
        alphas=np.concatenate([w.alphas(t) for w in warps]),
        weights=np.concatenate([w.slopes(t) for w in warps]),
        start_index=_boundary_row(boundaries, slots, num_slots),
    )


def _refinement_rows(
    owners: np.ndarray, warps: list[PathWarp], chosen: np.ndarray, levels: np.ndarray
) -> Rows:
    """The midpoints that take each chosen (slot, cell) from its level to the next one."""
    num_slots = owners.size
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for slot, cell in zip(*np.nonzero(chosen), strict=True):
        level = levels[slot, cell]
        width = 1.0 / (CELLS * 2.0 ** (level + 1))
        t = cell / CELLS + (2.0 * np.arange(2**level) + 1.0) * width
        warp = warps[slot]
        parts.append(
            (
                np.full(t.size, owners[slot]),
                warp.alphas(t),
                width * warp.slopes(t),
                np.full(t.size, _interior_row(cell, slot, num_slots)),
            )
        )
    example, alphas, weights, start = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    return Rows(example.astype(np.int64), alphas, weights, start.astype(np.int64))


def _measured_rows(
    cells: _Cells, chosen: np.ndarray, active: np.ndarray, boundaries_fresh: bool = False
) -> tuple[Combination, Combination, list[tuple[str, int, int]]]:
    """What a refinement must measure: per chosen cell, its change (new − old level) and its
    new sum; per active slot, its new total. Returns the combinations of the fresh sum N and
    of the previous sums S, and what each row is: ``("change" | "sum" | "total", slot, cell)``.
    ``boundaries_fresh``: the boundaries were evaluated in the same plan (the first round), so
    they are in N, not S."""
    n = cells.num_slots
    new: list[tuple[int, int, float]] = []
    old: list[tuple[int, int, float]] = []
    labels: list[tuple[str, int, int]] = []

    def add(pairs: list[tuple[int, int, float]], rows: list[int], weights: list[float]) -> None:
        for row, weight in zip(rows, weights, strict=True):
            fresh = boundaries_fresh and row >= CELLS * n
            (new if fresh else pairs).append((len(labels), row, weight))

    for slot, cell in zip(*np.nonzero(chosen), strict=True):
        level = cells.levels[slot, cell]
        before, after = float(cells.widths(level)), float(cells.widths(level + 1))
        interior = _interior_row(cell, slot, n)
        ends = [_boundary_row(cell, slot, n), _boundary_row(cell + 1, slot, n)]
        # change = N − S_interior / 2 + (after − before) / 2 · (B_c + B_c+1)
        add(new, [interior], [1.0])
        add(old, [interior, *ends], [-0.5, (after - before) / 2.0, (after - before) / 2.0])
        labels.append(("change", int(slot), int(cell)))
        # new sum = N + S_interior / 2 + after / 2 · (B_c + B_c+1)
        add(new, [interior], [1.0])
        add(old, [interior, *ends], [0.5, after / 2.0, after / 2.0])
        labels.append(("sum", int(slot), int(cell)))
    for slot in np.flatnonzero(active):
        levels = cells.levels[slot] + chosen[slot]
        rows, weights = cells.total(int(slot), levels)
        keep = np.where(chosen[slot], 0.5, 1.0)
        add(new, rows[:CELLS], [1.0] * CELLS)
        add(old, rows, [*keep.tolist(), *weights[CELLS:]])
        labels.append(("total", int(slot), -1))

    def combination(pairs: list[tuple[int, int, float]]) -> Combination:
        targets, sources, weights = (np.array(column) for column in zip(*pairs, strict=True))
        return Combination(len(labels), targets.astype(np.int64), sources.astype(np.int64), weights)

    return combination(new), combination(old), labels


def _choose(
    cells: _Cells,
    slot: int,
    l2_error: float,
    norm: float,
    settings: AdaptiveSettings,
    change: float,
) -> np.ndarray:
    """Which cells of one unconverged slot to refine next (a boolean mask over the cells).

    While the estimated L2 error is above its tolerance: the cells with the largest predicted
    cut of the squared error per new node (a cell's error halves when its nodes double, the
    1/n of rough integrands), until the prediction is below ``PLANNED_SHARE`` of the tolerance.
    Then, while the completeness gap is above its tolerance: the cells whose exact local gap
    (their attributions' sum against F's change over the cell) lies on the gap's side, most per
    new node first, until the rest is within ``GAP_SHARE`` of the tolerance. Cells that would
    exceed ``max_steps`` are left out.
    """
    budget = settings.max_steps - int(cells.nodes()[slot])
    cost = 2 ** cells.levels[slot]
    chosen = np.zeros(CELLS, dtype=bool)
    if l2_error > settings.l2_tolerance:
        errors = cells.errors[slot]
        cut = 0.75 * errors**2
        predicted = float((errors**2).sum())
        goal = (PLANNED_SHARE * settings.l2_tolerance * norm) ** 2
        for cell in np.argsort(-cut / cost, kind="stable"):
            if predicted <= goal:
                break
            if cost[cell] <= budget:
                chosen[cell], budget, predicted = True, budget - cost[cell], predicted - cut[cell]
        return chosen
    # The local gaps are exact and signed, and they add up to the slot's gap: refine the cells
    # that push the gap the way it is off, most per new node first, until what is left of the
    # gap in the cells not refined is within GAP_SHARE of the tolerance (a refined cell's own
    # error, of either sign, shrinks).
    local = cells.sums[slot] - cells.changes[slot]
    remainder = float(local.sum())
    direction = np.sign(remainder)
    goal = GAP_SHARE * settings.tolerance * abs(change)
    for cell in np.argsort(-(local * direction) / cost, kind="stable"):
        if abs(remainder) <= goal or local[cell] * direction <= 0.0:
            break
        if cost[cell] <= budget:
            chosen[cell], budget = True, budget - cost[cell]
            remainder -= float(local[cell])
    if not chosen.any():  # no cell on the gap's side fits: the largest local gap that does
        for cell in np.argsort(-np.abs(local), kind="stable"):
            if cost[cell] <= budget:
                chosen[cell] = True
                break
    return chosen


def adaptive(
    settings: AdaptiveSettings,
    owners: np.ndarray,
    num_examples: int,
    chunk_rows: int,
    record: bool,
) -> PlanGenerator:
    """Cells refined where the error is, until the stopping rule holds (a planner for the loop).

    It accumulates into the rows of :func:`accumulator_slots`, and reports how they add up to
    the slots' sums.

    Args:
        settings: tolerances and the step cap.
        owners: shape (slots,), int64, the example of each slot.
        num_examples: examples in the call.
        chunk_rows: rows per model call (decides whether the pilot's fine grid fits one call).
        record: record F and the mean gradient at every gradient evaluation.
    """
    num_slots = owners.size
    pilot_alphas, pilot_outputs, forward_evaluations = yield from _pilot(owners, chunk_rows)
    f_start = np.array([f[0] for f in pilot_outputs])
    f_end = np.array([f[-1] for f in pilot_outputs])
    change = f_end - f_start
    warps = [warp_from_pilot(a, f) for a, f in zip(pilot_alphas, pilot_outputs, strict=True)]
    cells = _Cells(num_slots)
    recorded_rows: list[Rows] = []
    recorded: list[Feedback] = []

    def keep_rows(rows: Rows, feedback: Feedback) -> None:
        if record:
            real = rows.start_index % num_slots  # the accumulator row's slot
            recorded_rows.append(Rows(rows.example_index, rows.alphas, rows.weights, real))
            recorded.append(feedback)

    active = np.ones(num_slots, dtype=bool)
    chosen = np.ones((num_slots, CELLS), dtype=bool)  # the first round refines every cell
    l2_errors = np.full(num_slots, np.inf)
    first = True
    while chosen.any():
        rows = _refinement_rows(owners, warps, chosen, cells.levels)
        keep = np.ones(ROW_KINDS * num_slots)
        adds = np.arange(ROW_KINDS * num_slots)
        slot_of_cell, cell_of = np.nonzero(chosen)
        interiors = _interior_row(cell_of, slot_of_cell, num_slots)
        latest = _latest_row(cell_of, slot_of_cell, num_slots)
        keep[interiors] = 0.5
        keep[latest], adds[latest] = 0.0, interiors  # the latest rows copy the new midpoints
        if first:  # the boundaries and the first midpoints in one plan: one wide first call
            boundaries = _boundary_rows(owners, warps)
            rows = Rows(*(np.concatenate(pair) for pair in zip(boundaries, rows, strict=True)))
        feedback = yield Plan(rows, gradients=True, keep=keep, outputs=record or first, adds=adds)
        keep_rows(rows, feedback)
        if first:
            assert feedback.outputs is not None
            at_boundaries = feedback.outputs[: len(boundaries)].reshape(num_slots, CELLS + 1)
            cells.changes = np.diff(at_boundaries, axis=1)
        assert feedback.measure is not None
        new, old, labels = _measured_rows(cells, chosen, active, boundaries_fresh=first)
        first = False
        sums, norms = feedback.measure(new, old)
        totals = np.zeros(num_slots)
        norms_of_slot = np.zeros(num_slots)
        for index, (kind, slot, cell) in enumerate(labels):
            if kind == "total":
                totals[slot], norms_of_slot[slot] = sums[index], norms[index]
            elif kind == "change":
                # Two levels can agree by chance; the level before guards against that (for
                # 1/n convergence it halves per level, so half of it is the same estimate).
                difference = norms[index]
                guard = cells.previous[slot, cell] / 2.0
                cells.errors[slot, cell] = max(difference, guard) / ROUGHNESS_FACTOR
                cells.previous[slot, cell] = difference
                cells.change_sums[slot, cell] = sums[index]
            else:
                cells.sums[slot, cell] = sums[index]
        cells.levels += chosen
        chosen = np.zeros_like(chosen)
        for row in np.flatnonzero(active):
            slot = int(row)
            norm = norms_of_slot[slot]
            l2 = float(np.sqrt((cells.errors[slot] ** 2).sum()) / norm) if norm > 0 else 0.0
            scale = abs(change[slot])
            gap = abs(totals[slot] - change[slot]) / scale if scale > 0 else 0.0
            l2_errors[slot] = l2
            if l2 <= settings.l2_tolerance and gap <= settings.tolerance:
                active[slot] = False
                continue
            if l2 <= settings.l2_tolerance and norm > 0:
                correction = _correction(cells, slot, totals[slot] - change[slot], settings, scale)
                if correction is not None:
                    corrected = math.hypot(l2, correction[1] / norm)
                    if corrected <= settings.l2_tolerance:
                        cells.corrections[slot] = correction[0]
                        l2_errors[slot] = corrected
                        active[slot] = False
                        continue
            chosen[slot] = _choose(cells, slot, l2, norm, settings, change[slot])
            active[slot] = chosen[slot].any()
    combination = _final_combination(cells)
    return PlanReport(
        f_input=f_end[:num_examples],
        f_start=f_start,
        steps=cells.nodes(),
        estimated_error=l2_errors,
        forward_evaluations=forward_evaluations,
        paths=path_records(recorded_rows, recorded, num_slots, num_examples) if record else (),
        combination=combination,
    )


def _correction(
    cells: _Cells, slot: int, gap: float, settings: AdaptiveSettings, change: float
) -> tuple[np.ndarray, float] | None:
    """The least move along the cells' latest changes that brings the gap within tolerance.

    Each cell's latest change D_c (its rule at its level minus the level before) is the
    direction its error estimate comes from. Adding Σ β_c D_c changes the sum of the
    attributions by Σ β_c s_c (s_c = Σ D_c, measured); the β of least Σ β_c² ‖D_c‖² that takes
    the gap to ``GAP_SHARE`` of the tolerance is β_c ∝ s_c / ‖D_c‖². The move's norm is at most
    Σ |β_c| ‖D_c‖; the caller adds it to the L2 estimate in quadrature and takes the move only
    when that stays within the L2 tolerance, so a gap that refinement would chase for many
    nodes (it wanders on ReLU networks) is closed at no model call when the attributions are
    already accurate. A partial Richardson extrapolation, cell by cell, fitted to the one
    quantity known exactly — F's change.

    Returns:
        β per cell and the bound on the move's norm (absolute), or ``None`` when no cell's
        latest change moves the sum.
    """
    sums, norms = cells.change_sums[slot], cells.previous[slot]
    usable = (norms > 0) & np.isfinite(sums) & np.isfinite(norms)
    leverage = np.where(usable, sums**2 / np.where(usable, norms, 1.0) ** 2, 0.0)
    if not np.isfinite(gap) or leverage.sum() <= 0:
        return None
    aim = GAP_SHARE * settings.tolerance * abs(change)
    excess = gap - math.copysign(min(abs(gap), aim), gap)
    betas = np.where(
        usable, -excess * sums / np.where(usable, norms, 1.0) ** 2 / leverage.sum(), 0.0
    )
    return betas, float(np.abs(betas * norms).sum())


def _final_combination(cells: _Cells) -> Combination:
    """How the accumulator rows add up to each slot's attributions at the final levels, with
    each cell's correction β_c D_c (:func:`_correction`; zero unless the gap needed it)."""
    targets, sources, weights = [], [], []
    for slot in range(cells.num_slots):
        rows, factors = cells.total(slot, cells.levels[slot])
        for cell in np.flatnonzero(cells.corrections[slot]):
            beta = float(cells.corrections[slot, cell])
            change_rows, change_weights = cells.latest_change(slot, int(cell))
            rows = rows + change_rows
            factors = factors + [beta * w for w in change_weights]
        targets += [slot] * len(rows)
        sources += rows
        weights += factors
    return Combination(
        cells.num_slots,
        np.array(targets, dtype=np.int64),
        np.array(sources, dtype=np.int64),
        np.array(weights, dtype=np.float64),
    )
