"""Blur IG's path: the image blurred less and less, from a Gaussian of ``max_sigma`` to itself.

γ(α) = blur(x, σ(α)) with σ(α) = max_sigma · (1 − α): α = 0 is the most blurred image (the
path's start, which plays the baseline's part), α = 1 is x itself. The blur is separable: along
each spatial axis of length n the image is multiplied by an (n, n) matrix per row,

    B(σ)_ij = exp(−(i − j)² / 2σ²) / Σ_k exp(−(i − k)² / 2σ²),

a Gaussian cut at the image border and renormalised there (the kernel only sees pixels of the
image, and every row sums to 1, so a constant image stays constant; the "normalised
convolution" border, equal to ``gaussian_filter(x, mode="constant") /
gaussian_filter(1, mode="constant")`` with an untruncated kernel). The matrices are built on the
device from the rows' alphas with :class:`~intgrad._core.primitives.ArrayOps` primitives. The
path's tangent is exact, from the analytic derivative of the normalised kernel,

    ∂B_ij/∂σ = B_ij · (D_ij − Σ_k B_ik D_ik) / σ³,   D_ij = (i − j)²,

so a row at α with quadrature weight w adds ``w · ∂F/∂x(γ(α)) ⊙ dγ/dα``, and the sum is the
path integral ∫₀¹ ∂F/∂x · dγ/dα dα = F(x) − F(blur(x, max_sigma)) for every quadrature rule and
node spacing (Gauss–Legendre, ``steps="auto"``) up to the rule's own error.

References:
    Xu, Venugopalan & Sundararajan (2020), "Attribution in Scale and Space", CVPR, eq. 4–5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from intgrad._core.backend import CallArrays
from intgrad._core.primitives import ArrayOps, DeviceRows

__all__ = [
    "CHANNELS_LAST_FRAMEWORKS",
    "SIGMA_FLOOR",
    "BlurPath",
    "blur_rows",
    "check_max_sigma",
    "image_axes",
]

SIGMA_FLOOR = 0.01
"""The smallest σ the matrices are built with. At σ ≤ 0.01 the neighbours' weight
exp(−1 / 2σ²) ≤ exp(−5000) is 0 in every float type, so B is the identity exactly and the
flooring changes nothing that can be represented; it keeps 0 / 0 out of the exponent at α = 1."""

CHANNELS_LAST_FRAMEWORKS = ("tensorflow", "jax")
"""Frameworks whose images are (examples, H, W, C) by convention; the others' are channels
first."""

_IMAGE_CHANNELS = (1, 3, 4)


def image_axes(shape: Sequence[int], channels_last: bool | None, framework: str) -> tuple[int, int]:
    """The two spatial axes (H, W) of a batch of images, counted on the batched shape.

    Args:
        shape: (examples, H, W) for grayscale, or (examples, C, H, W) / (examples, H, W, C).
        channels_last: ``True``: (examples, H, W, C); ``False``: (examples, C, H, W); ``None``:
            from the shape when it is unambiguous (the last axis has 1, 3 or 4 entries and
            axis 1 not: channels last; the reverse: channels first), else the framework's
            convention (channels last for TensorFlow and JAX, first for PyTorch and NumPy).
            Not used for grayscale images.
        framework: the backend's name (``ArrayOps.name``).
    """
    if len(shape) == 3:
        return (1, 2)
    if len(shape) != 4:
        raise ValueError(
            "blur needs images of shape (examples, C, H, W), (examples, H, W, C) or "
            f"(examples, H, W); got shape {tuple(shape)}"
        )
    if channels_last is None:
        last, first = shape[3] in _IMAGE_CHANNELS, shape[1] in _IMAGE_CHANNELS
        channels_last = last if last != first else framework in CHANNELS_LAST_FRAMEWORKS
    return (1, 2) if channels_last else (2, 3)


def _relu(values: Any) -> Any:
    # max(v, 0) from arithmetic alone: v + |v| is exactly 0 for v ≤ 0.
    return (values + abs(values)) * 0.5


def _squared_distances(length: int) -> np.ndarray:
    index = np.arange(length, dtype=np.float64)
    return (index[:, None] - index[None, :]) ** 2


class _AxisMatrices:
    """The blur matrices of one axis length for a set of rows, and their σ-derivatives."""

    def __init__(self, ops: ArrayOps, sigmas: Any, length: int, like: Any) -> None:
        self.ops = ops
        self.distances = ops.from_host(_squared_distances(length)[None], like)  # (1, n, n)
        self.ones = ops.from_host(np.ones((length, 1)), like)
        sigma = ops.per_row(sigmas, self.distances)  # (rows, 1, 1)
        self.sigma = sigma + _relu(SIGMA_FLOOR - sigma)  # exactly σ where σ ≥ floor
        kernel = ops.exp(-(self.distances / (2.0 * self.sigma * self.sigma)))
        self.matrices = kernel / self._row_totals(kernel)  # (rows, n, n), rows sum to 1

    def _row_totals(self, values: Any) -> Any:
        """Σ_j values[r, i, j], shape (rows, n, 1)."""
        return self.ops.einsum("rij,jk->rik", values, self.ones)

    def derivatives(self) -> Any:
        """∂B/∂σ, shape (rows, n, n): B ⊙ (D − Σ_k B D) / σ³."""
        mean_distance = self._row_totals(self.matrices * self.distances)
        return self.matrices * (self.distances - mean_distance) / self.sigma**3


def _along(ops: ArrayOps, matrices: Any, values: Any, axis: int) -> Any:
    """Row ``r`` of ``values`` times ``matrices[r]`` along ``axis``: out_i = Σ_k M_ik v_k."""
    letters = "abcdefghijklmnopqrstuvwx"[: len(ops.shape(values))]
    out = letters[:axis] + "y" + letters[axis + 1 :]
    return ops.einsum(f"{letters[0]}y{letters[axis]},{letters}->{out}", matrices, values)


def blur_rows(
    ops: ArrayOps, values: Any, sigmas: Any, axes: Sequence[int], tangent: bool
) -> tuple[Any, Any]:
    """Each row of ``values`` blurred along ``axes`` with its own σ, and ∂/∂σ of that.

    Args:
        ops: the primitives.
        values: shape (rows, ...), the sharp images.
        sigmas: shape (rows,), the blur of each row, ≥ 0.
        axes: the axes to blur (not 0).
        tangent: also compute the derivative with respect to σ (else ``None`` comes back).

    Returns:
        ``(blurred, d_blurred/dσ)``, both of ``values``' shape and dtype.
    """
    derivative = None
    shape = ops.shape(values)
    for axis in axes:
        blur = _AxisMatrices(ops, sigmas, shape[axis], values)
        blurred = _along(ops, blur.matrices, values, axis)
        if tangent:
            # Product rule, one axis at a time: d(B v) = B′ v + B dv.
            moved = _along(ops, blur.derivatives(), values, axis)
            derivative = (
                moved
                if derivative is None
                else moved + _along(ops, blur.matrices, derivative, axis)
            )
        values = blurred
    return values, derivative


class BlurPath:
    """Blur IG's path γ(α) = blur(x, max_sigma · (1 − α)) on every path tensor.

    Each row adds ``w · ∂F/∂x(γ(α)) ⊙ dγ/dα`` to its example's slot, with the exact tangent
    dγ/dα = −max_sigma · ∂blur/∂σ; a slot's attributions are its sum (the path is already in
    the integrand). The start point of the call's arrays is not used: the path starts at the
    blurred input.

    Args:
        max_sigma: the blur at α = 0, in pixels (samples), > 0.
        spatial_axes: the axes to blur, counted on the batched tensor (never 0), the same for
            every path tensor; ``None``: the two image axes of each tensor from its shape (see
            :func:`image_axes`).
        channels_last: with ``spatial_axes=None``, the layout of 4-D tensors (see
            :func:`image_axes`).

    References:
        Xu, Venugopalan & Sundararajan (2020), "Attribution in Scale and Space", CVPR.
    """

    # One start per example (Blur IG has no baseline), so a slot per start is a slot per example;
    # addressing slots by start lets the adaptive planner's cells accumulate apart.
    per_start = True

    def __init__(
        self,
        max_sigma: float,
        spatial_axes: Sequence[int] | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.max_sigma = check_max_sigma(max_sigma)
        self.spatial_axes = None if spatial_axes is None else _checked_axes(spatial_axes)
        if channels_last is not None and not isinstance(channels_last, bool):
            raise TypeError(f"channels_last must be None or a bool, got {channels_last!r}")
        self.channels_last = channels_last

    @property
    def key(self) -> tuple[object, ...]:
        return ("blur", self.max_sigma, self.spatial_axes, self.channels_last)

    def axes(self, ops: ArrayOps, values: Any) -> tuple[int, ...]:
        """The axes blurred in a path tensor of ``values``' shape."""
        shape = ops.shape(values)
        if self.spatial_axes is None:
            return image_axes(shape, self.channels_last, ops.name)
        if max(self.spatial_axes) >= len(shape):
            raise ValueError(
                f"spatial_axes {self.spatial_axes} do not fit a path tensor of shape {shape}"
            )
        return self.spatial_axes

    def sigmas(self, rows: DeviceRows) -> Any:
        """σ of each row, shape (rows,): max_sigma · (1 − α)."""
        return (1.0 - rows.alphas) * self.max_sigma

    def points(self, ops: ArrayOps, arrays: CallArrays, rows: DeviceRows) -> tuple[Any, ...]:
        sigmas = self.sigmas(rows)
        points = []
        for end in arrays.ends:
            sharp = ops.take(end, rows.example_index)
            points.append(blur_rows(ops, sharp, sigmas, self.axes(ops, sharp), False)[0])
        return tuple(points)

    def tangents(self, ops: ArrayOps, arrays: CallArrays, rows: DeviceRows) -> tuple[Any, ...]:
        """dγ/dα at the rows, one array of shape (rows, ...) per path tensor."""
        sigmas = self.sigmas(rows)
        tangents = []
        for end in arrays.ends:
            sharp = ops.take(end, rows.example_index)
            _, derivative = blur_rows(ops, sharp, sigmas, self.axes(ops, sharp), True)
            tangents.append(derivative * (-self.max_sigma))
        return tuple(tangents)

    def contribution(
        self,
        ops: ArrayOps,
        arrays: CallArrays,
        rows: DeviceRows,
        grads: tuple[Any, ...],
        state: tuple[Any, ...],
    ) -> tuple[Any, ...]:
        tangents = self.tangents(ops, arrays, rows)
        return tuple(
            ops.cast(g, acc) * ops.cast(t, acc) * ops.per_row(rows.weights, acc)
            for g, t, acc in zip(grads, tangents, state, strict=True)
        )

    def slot_attributions(
        self, ops: ArrayOps, arrays: CallArrays, state: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        return state


def check_max_sigma(max_sigma: object) -> float:
    """``max_sigma`` as a float; ``TypeError`` unless a real number, ``ValueError`` unless > 0."""
    if isinstance(max_sigma, bool) or not isinstance(max_sigma, (int, float, np.floating)):
        raise TypeError(f"max_sigma must be a positive number, got {max_sigma!r}")
    value = float(max_sigma)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"max_sigma must be a finite number > 0, got {max_sigma!r}")
    return value


def _checked_axes(axes: Sequence[int]) -> tuple[int, ...]:
    checked = tuple(axes)
    if not checked or any(
        isinstance(a, bool) or not isinstance(a, (int, np.integer)) or a < 1 for a in checked
    ):
        raise ValueError(f"spatial_axes must be axes >= 1 (axis 0 holds rows), got {axes!r}")
    if len(set(checked)) != len(checked):
        raise ValueError(f"spatial_axes must not repeat an axis, got {axes!r}")
    return tuple(int(a) for a in checked)
