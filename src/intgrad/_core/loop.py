"""The chunk step and the loop over chunks, written once for every framework and every path.

Integrated Gradients of example x with baseline x′ (Sundararajan, Taly & Yan 2017, eq. 1):

    IG(x) = (x − x′) · ∫₀¹ ∂F(x′ + α(x − x′))/∂x dα  ≈  (x − x′) · Σ_k w_k ∂F(γ(α_k))/∂x

A planner says which rows (example, start, α, weight) come next; they are evaluated
``chunk_rows`` at a time and each chunk's contributions are scatter-added into one accumulator
per path tensor and slot, so peak memory depends on the chunk size, never on the number of
steps. The step is compiled once per :class:`Steps` (per session and program) and reused for
every call of the same shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any, NamedTuple

import numpy as np

from intgrad._core.backend import CallArrays, Program, Rows
from intgrad._core.paths import Path
from intgrad._core.primitives import ArrayOps, DeviceRows
from intgrad._core.result import PathRecord
from intgrad._core.targets import select_outputs

__all__ = [
    "Combination",
    "Feedback",
    "Plan",
    "PlanReport",
    "Planner",
    "Steps",
    "combination_blocks",
    "combine_rows",
    "integrate",
    "iter_chunks",
]


class Combination(NamedTuple):
    """Rows made of weighted sums of accumulator rows (slots): row ``o`` is the sum of
    ``weights[j] · slot[sources[j]]`` over the pairs ``j`` with ``targets[j] == o``.

    Attributes:
        rows: how many rows the combination makes.
        targets: shape (pairs,), int64, the row each pair adds to.
        sources: shape (pairs,), int64, the accumulator row (slot) it reads.
        weights: shape (pairs,), float64, the factor of that slot.
    """

    rows: int
    targets: np.ndarray
    sources: np.ndarray
    weights: np.ndarray


def combination_blocks(combination: Combination) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``combination`` cut into independent blocks: rows that share no source are apart.

    Returns:
        Per block: the rows it makes (int64, sorted), the sources they read (int64, sorted) and
        the dense weights, shape (rows, sources), float64 (repeated pairs add up). Rows that
        read nothing form a last block with no sources.
    """
    sources = combination.sources.astype(np.int64)
    targets = combination.targets.astype(np.int64)
    # Union-find over the sources: every row joins the sources it reads into one block.
    parent = {int(s): int(s) for s in np.unique(sources)}

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    first_source: dict[int, int] = {}
    for target, source in zip(targets.tolist(), sources.tolist(), strict=True):
        if target in first_source:
            a, b = find(first_source[target]), find(source)
            if a != b:
                parent[max(a, b)] = min(a, b)
        else:
            first_source[target] = source
    roots = np.array([find(s) for s in sources.tolist()], dtype=np.int64)
    blocks = []
    for root in np.unique(roots):
        mine = roots == root
        rows, row_of = np.unique(targets[mine], return_inverse=True)
        read, read_of = np.unique(sources[mine], return_inverse=True)
        weights = np.zeros((rows.size, read.size))
        np.add.at(weights, (row_of, read_of), combination.weights[mine])
        blocks.append((rows, read, weights))
    empty = np.setdiff1d(np.arange(combination.rows), targets)
    if empty.size:
        blocks.append((empty, np.zeros(0, dtype=np.int64), np.zeros((empty.size, 0))))
    return blocks


def combine_rows(
    ops: ArrayOps, arrays: tuple[Any, ...], combination: Combination
) -> tuple[Any, ...]:
    """``combination`` applied to each array of shape (slots, ...): shape (rows, ...) each.

    One dense matrix product per independent block (:func:`combination_blocks`): the slots are
    read once and no array of one row per pair is made (an adaptive call's blocks are its
    examples, each a few dozen rows).
    """
    blocks = combination_blocks(combination)
    made = np.concatenate([rows for rows, _, _ in blocks])
    order = None if np.array_equal(made, np.arange(made.size)) else np.argsort(made)
    combined = []
    for array in arrays:
        shape = ops.shape(array)
        flat = ops.reshape(array, (shape[0], -1))
        parts = []
        for rows, read, weights in blocks:
            if read.size == 0:
                template = ops.take(flat, ops.from_host(np.zeros(rows.size, dtype=np.int32)))
                parts.append(ops.zeros(template))
                continue
            taken = ops.take(flat, ops.from_host(read.astype(np.int32)))
            parts.append(ops.einsum("rs,sf->rf", ops.from_host(weights, like=taken), taken))
        joined = parts[0] if len(parts) == 1 else ops.concat(tuple(parts))
        if order is not None:
            joined = ops.take(joined, ops.from_host(order.astype(np.int32)))
        combined.append(ops.reshape(joined, (combination.rows, *shape[1:])))
    return tuple(combined)


class Plan(NamedTuple):
    """Rows a planner wants evaluated next.

    Attributes:
        rows: the rows.
        gradients: ``False``: forward passes only (their outputs come back as feedback).
        keep: ``None``: add the rows straight into the total. Otherwise shape (slots,): the
            rows go into a fresh sum N, feedback can measure combinations of N and the total
            S, and then S becomes ``keep · S + N`` per slot.
        outputs: return F at the rows of a gradient plan even when nothing is recorded.
        adds: with ``keep``, shape (slots,), int64: slot ``s`` becomes
            ``keep[s] · S[s] + N[adds[s]]`` (a slot can keep a copy of another's fresh sum);
            ``None`` means ``adds[s] = s``.
    """

    rows: Rows
    gradients: bool
    keep: np.ndarray | None = None
    outputs: bool = False
    adds: np.ndarray | None = None


class Feedback(NamedTuple):
    """What a plan's evaluation told the planner.

    Attributes:
        outputs: shape (rows,), float64, F at each row, for forward plans and recorded
            gradient plans; else ``None``.
        mean_gradients: shape (rows,), float64, the mean gradient over all path features of
            each row, for recorded gradient plans; else ``None``.
        measure: for plans with ``keep``: ``measure(new, old)`` gives per row the sum and the
            L2 norm of the attributions of ``new`` applied to the fresh sum N plus ``old``
            applied to the previous sums S (two :class:`Combination` of the same ``rows``):
            norms of sums of slots, which per-slot norms cannot give. Call it before the
            next plan (it reads the accumulators as this plan left them).
    """

    outputs: np.ndarray | None
    mean_gradients: np.ndarray | None
    measure: Callable[[Combination, Combination], tuple[np.ndarray, np.ndarray]] | None


class PlanReport(NamedTuple):
    """What a planner found besides the accumulated sums.

    Attributes:
        f_input: shape (examples,), F at the end points, or ``None`` when not evaluated.
        f_start: shape (slots,), F at the start points, or ``None``.
        steps: shape (slots,), int64, gradient evaluations per slot.
        estimated_error: shape (slots,), the estimated relative L2 error, or ``None``.
        forward_evaluations: forward-only evaluations per slot (the most of any).
        paths: per baseline, the recorded points, when recorded; else empty.
        combination: for a planner that accumulated into more rows than there are slots
            (see :func:`intgrad._core.adaptive.accumulator_slots`): how those rows add up to
            the slots' sums; ``None`` when the rows are the slots.
    """

    f_input: np.ndarray | None
    f_start: np.ndarray | None
    steps: np.ndarray
    estimated_error: np.ndarray | None
    forward_evaluations: int
    paths: tuple[PathRecord, ...]
    combination: Combination | None = None


PlanGenerator = Generator[Plan, Feedback, PlanReport]
"""A planner written as a generator: it yields plans, receives their feedback, returns a report."""


class Planner:
    """Drives a :data:`PlanGenerator` one plan at a time."""

    def __init__(self, generator: PlanGenerator, record: bool) -> None:
        self.record = record
        self._generator = generator
        self._started = False
        self._report: PlanReport | None = None

    def next(self, feedback: Feedback | None) -> Plan | None:
        """The next plan, or ``None`` when the planner is done."""
        try:
            if not self._started:
                self._started = True
                return next(self._generator)
            assert feedback is not None
            return self._generator.send(feedback)
        except StopIteration as stop:
            self._report = stop.value
            return None

    @property
    def report(self) -> PlanReport:
        if self._report is None:
            raise RuntimeError("the planner has not finished")
        return self._report


class Steps:
    """The compiled gradient and forward steps of one program and path.

    ``output_shapes`` collects the per-example output shapes seen while tracing (or on every
    call, eagerly), so that target values can be checked on the host.
    """

    def __init__(
        self,
        ops: ArrayOps,
        program: Program,
        path: Path,
        output: str | Callable[[Any], Any] | None,
    ) -> None:
        self.ops, self.program, self.path, self.output = ops, program, path, output
        self.output_shapes: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.gradient = ops.compile(self._gradient)
        self.accumulate = ops.compile(self._accumulate)
        self.forward = ops.compile(self._forward)

    def _selected(self, arrays: CallArrays, points: tuple[Any, ...], rows: DeviceRows) -> Any:
        ops = self.ops
        row_args = tuple(ops.take(a, rows.example_index) for a in arrays.row_args)
        raw = self.program.outputs(points, row_args, arrays.fixed)
        row_targets = tuple(ops.take(t, rows.example_index) for t in arrays.targets)
        return select_outputs(ops, raw, row_targets, self.output, self.output_shapes)

    def _step(
        self, state: tuple[Any, ...], arrays: CallArrays, rows: DeviceRows
    ) -> tuple[tuple[Any, ...], Any, tuple[Any, ...]]:
        ops, path = self.ops, self.path
        points = path.points(ops, arrays, rows)
        values, grads = ops.value_and_grad(lambda p: self._selected(arrays, p, rows), points)
        added = path.contribution(ops, arrays, rows, grads, state)
        slots = rows.start_index if path.per_start else rows.example_index
        state = tuple(ops.scatter_add(a, slots, c) for a, c in zip(state, added, strict=True))
        return state, values, grads

    def _accumulate(
        self, state: tuple[Any, ...], arrays: CallArrays, rows: DeviceRows
    ) -> tuple[Any, ...]:
        """One chunk's rows into ``state``, nothing else (no F values or gradient means)."""
        return self._step(state, arrays, rows)[0]

    def _gradient(
        self, state: tuple[Any, ...], arrays: CallArrays, rows: DeviceRows
    ) -> tuple[tuple[Any, ...], Any, Any]:
        """One chunk into ``state``, with each row's F value and mean gradient."""
        ops = self.ops
        state, values, grads = self._step(state, arrays, rows)
        count = sum(int(np.prod(ops.shape(g)[1:])) for g in grads)
        gradient_sums = ops.row_sums(grads[0])
        for g in grads[1:]:
            gradient_sums = gradient_sums + ops.row_sums(g)
        return state, values, gradient_sums / count

    def _forward(self, arrays: CallArrays, rows: DeviceRows) -> Any:
        points = self.path.points(self.ops, arrays, rows)
        return self.ops.value(lambda p: self._selected(arrays, p, rows), points)


def iter_chunks(rows: Rows, chunk_rows: int) -> Iterator[Rows]:
    """Consecutive slices of ``rows`` of at most ``chunk_rows`` rows each."""
    for start in range(0, len(rows), chunk_rows):
        yield rows.slice(start, start + chunk_rows)


def padded_rows(rows: int, chunk_rows: int) -> int:
    """The row count a compiled step gets for a chunk of ``rows``: ``chunk_rows``, or for a
    shorter chunk the next power of two, so a session compiles a few sizes, not one per call."""
    if rows >= chunk_rows:
        return chunk_rows
    return min(chunk_rows, 1 << max(0, rows - 1).bit_length())


def _device_rows(ops: ArrayOps, rows: Rows) -> DeviceRows:
    # int32 indices: every framework gathers with them, and JAX has no int64 without x64.
    return DeviceRows(
        example_index=ops.from_host(rows.example_index.astype(np.int32)),
        start_index=ops.from_host(rows.start_index.astype(np.int32)),
        alphas=ops.from_host(rows.alphas),
        weights=ops.from_host(rows.weights),
    )


def _run_rows(
    steps: Steps,
    arrays: CallArrays,
    state: tuple[Any, ...] | None,
    rows: Rows,
    chunk_rows: int,
    to_host: bool,
    on_chunk: Callable[[int], None],
) -> tuple[tuple[Any, ...] | None, np.ndarray | None, np.ndarray | None]:
    """Evaluate ``rows`` chunk by chunk: gradients into ``state``, or forward when it is None."""
    ops = steps.ops
    outputs: list[np.ndarray] = []
    means: list[np.ndarray] = []
    for chunk in iter_chunks(rows, chunk_rows):
        real = len(chunk)
        device = _device_rows(
            ops, chunk.padded(padded_rows(real, chunk_rows)) if ops.pads_chunks else chunk
        )
        if state is None:
            values = steps.forward(arrays, device)
            outputs.append(ops.to_host(values)[:real])
            continue
        if to_host:
            state, values, gradient_means = steps.gradient(state, arrays, device)
            outputs.append(ops.to_host(values)[:real])
            means.append(ops.to_host(gradient_means)[:real])
        else:  # nobody reads the rows' values: the step computes only the sums
            state = steps.accumulate(state, arrays, device)
        on_chunk(real)
    joined = np.concatenate(outputs) if outputs else None
    return state, joined, (np.concatenate(means) if means else None)


def _combined_attributions(
    ops: ArrayOps,
    path: Path,
    arrays: CallArrays,
    state: tuple[Any, ...],
    combination: Combination,
    rows_of_state: np.ndarray | None = None,
) -> tuple[Any, ...]:
    """``combination`` of the attributions of ``state``'s rows, computing only the rows it
    reads (a batch's finished examples and untouched cells cost nothing).

    ``rows_of_state``: the accumulator row each row of ``state`` is (``None``: the same row),
    which picks its start point."""
    needed, positions = np.unique(combination.sources, return_inverse=True)
    index = ops.from_host(needed.astype(np.int32))
    accumulator_rows = needed if rows_of_state is None else rows_of_state[needed]
    starts_index = ops.from_host(accumulator_rows.astype(np.int32))
    rows = arrays._replace(
        starts=tuple(ops.take(start, starts_index) for start in arrays.starts),
        start_owner=ops.take(arrays.start_owner, starts_index),
    )
    attributions = path.slot_attributions(ops, rows, tuple(ops.take(a, index) for a in state))
    return combine_rows(ops, attributions, combination._replace(sources=positions))


def _pairs_where(combination: Combination, keep: np.ndarray) -> Combination | None:
    """The pairs of ``combination`` where ``keep`` holds (same rows), or ``None`` if none."""
    if not keep.any():
        return None
    return combination._replace(
        targets=combination.targets[keep],
        sources=combination.sources[keep],
        weights=combination.weights[keep],
    )


def _sums_and_norms(ops: ArrayOps, attributions: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the sum and the L2 norm over every feature of every path tensor."""
    sums = sum(ops.to_host(ops.row_sums(a)) for a in attributions)
    squares = sum(ops.to_host(ops.row_sums(a * a)) for a in attributions)
    return np.asarray(sums, dtype=np.float64), np.sqrt(np.asarray(squares, dtype=np.float64))


def integrate(
    steps: Steps,
    arrays: CallArrays,
    state: tuple[Any, ...],
    planner: Planner,
    chunk_rows: int,
    on_chunk: Callable[[int], None],
    check: Callable[[], None] | None = None,
) -> tuple[Any, ...]:
    """Run ``planner`` to the end; return the accumulated sums (one array per path tensor).

    Args:
        steps: the compiled steps.
        arrays: the call's arrays.
        state: zero accumulators, shape (slots, ...) per path tensor.
        planner: which rows come next.
        chunk_rows: rows per model call.
        on_chunk: called with the gradient rows of each chunk (progress).
        check: called once after the first plan (the target check, before the bulk of work).
    """
    feedback: Feedback | None = None
    zero = True  # ``state`` holds nothing yet (the accumulators as the caller made them)
    while (plan := planner.next(feedback)) is not None:
        if not plan.gradients:
            _, outputs, _ = _run_rows(steps, arrays, None, plan.rows, chunk_rows, True, on_chunk)
            feedback = Feedback(outputs, None, None)
        else:
            record = planner.record or plan.outputs
            state, feedback = _run_gradients(
                steps, arrays, state, plan, chunk_rows, record, on_chunk, zero
            )
            zero = False
        if check is not None:
            check()
            check = None
    return state


def _run_gradients(
    steps: Steps,
    arrays: CallArrays,
    state: tuple[Any, ...],
    plan: Plan,
    chunk_rows: int,
    record: bool,
    on_chunk: Callable[[int], None],
    zero: bool = False,
) -> tuple[tuple[Any, ...], Feedback]:
    """One gradient plan: straight into ``state``, or into a fresh sum merged with ``keep``.

    ``zero``: ``state`` is all zeros (the first plan), so S needs no copy."""
    ops = steps.ops
    if plan.keep is None:
        new_state, outputs, means = _run_rows(
            steps, arrays, state, plan.rows, chunk_rows, record, on_chunk
        )
        assert new_state is not None
        return new_state, Feedback(outputs, means, None)
    # The rows accumulate straight into ``state`` (in place where the framework allows); the
    # rows whose previous sum S is still needed — those the plan adds to and those it merges —
    # are copied first, so N = S' − S there and no full-size fresh sum or merge pass is made:
    # the cost follows the active cells, not the batch.
    slot_of_row = plan.rows.start_index if steps.path.per_start else plan.rows.example_index
    adds = np.arange(plan.keep.size) if plan.adds is None else plan.adds
    merged_rows = np.flatnonzero((plan.keep != 1.0) | (adds != np.arange(adds.size)))
    saved = np.union1d(np.unique(slot_of_row), merged_rows)
    saved_index = ops.from_host(saved.astype(np.int32))
    before = None if zero else tuple(ops.take(a, saved_index) for a in state)
    after, outputs, means = _run_rows(steps, arrays, state, plan.rows, chunk_rows, record, on_chunk)
    assert after is not None
    fresh = tuple(ops.take(a, saved_index) for a in after)
    if before is not None:
        fresh = tuple(a - b for a, b in zip(fresh, before, strict=True))
    if merged_rows.size:
        # Row r becomes keep[r] · S[r] + N[adds[r]]; N is zero outside the saved rows.
        at = np.searchsorted(saved, merged_rows)
        source = adds[merged_rows]
        has_fresh = np.isin(source, saved)
        from_fresh = ops.from_host(
            np.searchsorted(saved, source).clip(0, saved.size - 1).astype(np.int32)
        )
        keep = ops.from_host(plan.keep[merged_rows].astype(np.float64))
        mask = ops.from_host(has_fresh.astype(np.float64))
        at_index, merged_index = (
            ops.from_host(at.astype(np.int32)),
            ops.from_host(merged_rows.astype(np.int32)),
        )
        updated = []
        for position, (now, new_rows) in enumerate(zip(after, fresh, strict=True)):
            added = ops.take(new_rows, from_fresh)
            target = added * ops.per_row(mask, added)
            if before is not None:
                previous = ops.take(before[position], at_index)
                target = target + previous * ops.per_row(keep, previous)
            updated.append(ops.scatter_add(now, merged_index, target - ops.take(now, merged_index)))
        after = tuple(updated)
    current = after

    def measure(new: Combination, old: Combination) -> tuple[np.ndarray, np.ndarray]:
        """Sums and norms of ``new`` over N plus ``old`` over S (call before the next plan)."""
        path = steps.path
        parts: list[tuple[Any, ...]] = []

        def on_saved(pairs: Combination | None, rows: tuple[Any, ...]) -> None:
            """Add ``pairs`` read from ``rows``, one row per saved accumulator row."""
            if pairs is not None:
                pairs = pairs._replace(sources=np.searchsorted(saved, pairs.sources))
                parts.append(_combined_attributions(ops, path, arrays, rows, pairs, saved))

        on_saved(_pairs_where(new, np.isin(new.sources, saved)), fresh)  # N is 0 elsewhere
        if before is not None:  # else S was all zeros
            old_saved = np.isin(old.sources, saved)
            on_saved(_pairs_where(old, old_saved), before)
            unchanged = _pairs_where(old, ~old_saved)
            if unchanged is not None:  # rows neither added to nor merged: S is still there
                parts.append(_combined_attributions(ops, path, arrays, current, unchanged))
        if not parts:
            return np.zeros(new.rows), np.zeros(new.rows)
        total = parts[0]
        for part in parts[1:]:
            total = tuple(a + b for a, b in zip(total, part, strict=True))
        return _sums_and_norms(ops, total)

    return after, Feedback(outputs, means, measure)
