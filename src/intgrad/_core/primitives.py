"""The array operations a framework supplies; everything else in the core is written once on them.

A backend implements :class:`ArrayOps` in a few lines per method and no logic of its own: the
chunk step, the loop over chunks, the paths, the planners and the checks are framework-free and
call only these. Values of type ``T`` are the framework's arrays (``torch.Tensor``,
``tf.Tensor``, ``jax.Array``, ``numpy.ndarray`` for the reference backend).

The operations fall in three groups: moving data (``from_host``, ``to_host``, ``take``,
``concat``), arithmetic the paths need (``per_row``, ``zeros``, ``scatter_add``, ``row_sums``,
``cast``, ``exp``, ``einsum``), and differentiation (``value_and_grad``, ``value``,
``hessian_vector``), plus the four operations that
pick the explained scalar from a model's output (``softmax``, ``shape``, ``reshape``,
``take_columns``). ``compile`` turns a step into the framework's compiled form (``jax.jit``,
``tf.function``; the identity for eager frameworks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np

__all__ = ["ArrayOps", "DeviceRows"]

T = Any
"""A framework array. Kept as ``Any``: frameworks do not share a typing protocol."""

StepT = TypeVar("StepT", bound=Callable[..., Any])


class DeviceRows(NamedTuple):
    """:class:`~intgrad._core.backend.Rows` on the device: four arrays of shape (rows,).

    Attributes:
        example_index: int, the example of each row (targets, extra arguments, end point).
        start_index: int, the start point (baseline draw) of each row.
        alphas: float, the path coordinate.
        weights: float, the quadrature weight (0 for padding and forward-only rows).
    """

    example_index: T
    start_index: T
    alphas: T
    weights: T


class ArrayOps(Protocol):
    """What a framework supplies to the core: about a dozen operations, none with logic."""

    name: str
    pads_chunks: bool
    """Whether chunks must all have the same row count (compiled steps retrace otherwise)."""

    def from_host(self, values: np.ndarray, like: T | None = None) -> T:
        """``values`` as a framework array; floats take ``like``'s dtype, on ``like``'s device."""
        ...

    def to_host(self, values: T) -> np.ndarray:
        """A float64 (or integer, for integer arrays) NumPy copy of ``values``."""
        ...

    def take(self, values: T, index: T) -> T:
        """Rows ``values[index]`` along axis 0; ``index`` is an integer array from the host."""
        ...

    def concat(self, values: tuple[T, ...]) -> T:
        """The arrays stacked along axis 0."""
        ...

    def per_row(self, column: T, like: T) -> T:
        """``column`` of shape (rows,) reshaped to (rows, 1, ..., 1) in ``like``'s dtype."""
        ...

    def zeros(self, like: T) -> T:
        """Zeros of ``like``'s shape in an accumulation dtype: at least float32."""
        ...

    def cast(self, values: T, like: T) -> T:
        """``values`` in ``like``'s dtype."""
        ...

    def scatter_add(self, accumulator: T, index: T, rows: T) -> T:
        """``accumulator[index[r]] += rows[r]`` for every row; may update in place and return it."""
        ...

    def row_sums(self, values: T) -> T:
        """Shape (rows, ...) to (rows,): the sum of each row, in the widest float available."""
        ...

    def value_and_grad(
        self, f: Callable[[tuple[T, ...]], T], points: tuple[T, ...]
    ) -> tuple[T, tuple[T, ...]]:
        """``f(points)`` (shape (rows,)) and the gradient of its sum with respect to ``points``.

        Gradients of points that ``f`` does not use are zeros, never missing.
        """
        ...

    def value(self, f: Callable[[tuple[T, ...]], T], points: tuple[T, ...]) -> T:
        """``f(points)`` without recording anything for differentiation."""
        ...

    def hessian_vector(
        self, f: Callable[[tuple[T, ...]], T], points: tuple[T, ...], tangents: tuple[T, ...]
    ) -> tuple[T, tuple[T, ...], tuple[T, ...]]:
        """``f(points)``, the gradient of its sum, and the Hessian of its sum times ``tangents``.

        Rows are independent (``f`` maps row ``r`` of the points to value ``r``), so row ``r`` of
        the product is ``H_r · t_r``: one Hessian-vector product per row, never a full Hessian
        (Pearlmutter 1994, "Fast exact multiplication by the Hessian").
        """
        ...

    def exp(self, values: T) -> T:
        """Elementwise ``e**values``."""
        ...

    def einsum(self, subscripts: str, *operands: T) -> T:
        """Einstein summation, as ``numpy.einsum`` (operands of one dtype)."""
        ...

    def compile(self, step: StepT) -> StepT:
        """``step`` in the framework's compiled form, or ``step`` itself."""
        ...

    def softmax(self, outputs: T) -> T:
        """Softmax over the last axis."""
        ...

    def shape(self, values: T) -> tuple[int, ...]:
        """The static shape."""
        ...

    def reshape(self, values: T, shape: tuple[int, ...]) -> T:
        """``values`` in ``shape`` (one entry may be -1)."""
        ...

    def take_columns(self, outputs: T, columns: T) -> T:
        """``outputs[r, columns[r]]`` for each row of a (rows, width) array: shape (rows,)."""
        ...
