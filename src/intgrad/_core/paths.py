"""Paths: which point each row evaluates, what each row adds, and how the sum is finished.

A path lives in a space (the model's inputs, or a layer's activations) given by the call's
:class:`~intgrad._core.backend.CallArrays`: ``ends`` (one end point per example) and ``starts``
(one or more start points per example, baseline ``k`` of example ``e`` being start
``k · examples + e``). Everything here runs on :class:`~intgrad._core.primitives.ArrayOps`, so
it is written once for every framework.
"""

from __future__ import annotations

from typing import Any, Protocol

from intgrad._core.backend import CallArrays
from intgrad._core.primitives import ArrayOps, DeviceRows

__all__ = ["AtEnds", "Path", "StraightLine"]


class Path(Protocol):
    """What distinguishes one path method from another in the chunk step."""

    per_start: bool
    """Accumulate one slot per start point (``True``) or one per example."""

    @property
    def key(self) -> tuple[object, ...]:
        """Identifies the path's static content (for caching compiled steps)."""
        ...

    def points(self, ops: ArrayOps, arrays: CallArrays, rows: DeviceRows) -> tuple[Any, ...]:
        """The rows' points, one array of shape (rows, ...) per path tensor."""
        ...

    def contribution(
        self,
        ops: ArrayOps,
        arrays: CallArrays,
        rows: DeviceRows,
        grads: tuple[Any, ...],
        state: tuple[Any, ...],
    ) -> tuple[Any, ...]:
        """What each row adds to its slot, in the accumulators' dtypes."""
        ...

    def slot_attributions(
        self, ops: ArrayOps, arrays: CallArrays, state: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        """The attributions each slot's accumulated sum stands for."""
        ...


class StraightLine:
    """Integrated Gradients' path γ(α) = x′ + α(x − x′) from each start x′ to its end x.

    Each row adds ``w · ∂F/∂x(γ(α))`` to its start's slot; a slot's attributions are its sum
    times ``x − x′`` (or the sum itself, the path-averaged gradient, with
    ``multiply_by_inputs=False``, as Captum's option of that name).

    References:
        Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML, eq. 1.
    """

    per_start = True

    def __init__(self, multiply_by_inputs: bool = True) -> None:
        self.multiply_by_inputs = multiply_by_inputs

    @property
    def key(self) -> tuple[object, ...]:
        return ("straight", self.multiply_by_inputs)

    def points(self, ops: ArrayOps, arrays: CallArrays, rows: DeviceRows) -> tuple[Any, ...]:
        points = []
        for end, start in zip(arrays.ends, arrays.starts, strict=True):
            origin = ops.take(start, rows.start_index)
            step = ops.take(end, rows.example_index) - origin
            points.append(origin + ops.per_row(rows.alphas, origin) * step)
        return tuple(points)

    def contribution(
        self,
        ops: ArrayOps,
        arrays: CallArrays,
        rows: DeviceRows,
        grads: tuple[Any, ...],
        state: tuple[Any, ...],
    ) -> tuple[Any, ...]:
        return weighted_gradients(ops, rows, grads, state)

    def slot_attributions(
        self, ops: ArrayOps, arrays: CallArrays, state: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        if not self.multiply_by_inputs:
            return state
        return tuple(
            acc * ops.cast(ops.take(end, arrays.start_owner) - start, acc)
            for acc, end, start in zip(state, arrays.ends, arrays.starts, strict=True)
        )


def weighted_gradients(
    ops: ArrayOps, rows: DeviceRows, grads: tuple[Any, ...], state: tuple[Any, ...]
) -> tuple[Any, ...]:
    """``w · ∂F/∂x`` per row, in the accumulators' dtypes."""
    return tuple(
        ops.cast(g, acc) * ops.per_row(rows.weights, acc)
        for g, acc in zip(grads, state, strict=True)
    )


class AtEnds:
    """No path: every row evaluates its example's end point x; a slot accumulates w · ∂F/∂x.

    What :meth:`~intgrad.Explainer.gradients` and :meth:`~intgrad.Explainer.evaluate` run (one
    row per example, weight 1), and what a method with its own path (Guided IG) steps on.
    """

    per_start = False

    @property
    def key(self) -> tuple[object, ...]:
        return ("at-ends",)

    def points(self, ops: ArrayOps, arrays: CallArrays, rows: DeviceRows) -> tuple[Any, ...]:
        return tuple(ops.take(end, rows.example_index) for end in arrays.ends)

    def contribution(
        self,
        ops: ArrayOps,
        arrays: CallArrays,
        rows: DeviceRows,
        grads: tuple[Any, ...],
        state: tuple[Any, ...],
    ) -> tuple[Any, ...]:
        return weighted_gradients(ops, rows, grads, state)

    def slot_attributions(
        self, ops: ArrayOps, arrays: CallArrays, state: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        return state
