"""Completeness with a tolerance (Sundararajan, Taly & Yan 2017, ICML, Proposition 1).

Attributions of a path method sum to F(x) − F(x′). Checked numerically, that equality holds
only to the quadrature's error, so an example passes when

    |Σφ − (F(x) − F(x′))| ≤ atol + tolerance · |F(x) − F(x′)|

— relative, not exact float equality (Quantus's completeness compares floats with ``==``, so
it fails every numerically integrated attribution). An example whose F does not change
passes only when its attributions sum to 0 (within ``atol``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.result import Attribution
from intgrad.metrics._common import host

__all__ = ["Completeness", "completeness"]


@dataclass(frozen=True)
class Completeness:
    """The completeness gap of each example and whether it is within the tolerance.

    Attributes:
        gaps: shape (examples,), float64, the signed gap Σφ − (F(x) − F(x′)).
        scale: shape (examples,), float64, |F(x) − F(x′)|.
        relative: shape (examples,), float64, |gap| / scale (0/0 is 0, x/0 is inf).
        within: shape (examples,), bool, |gap| ≤ atol + tolerance · scale.
        tolerance: the relative tolerance.
        atol: the absolute tolerance.
    """

    gaps: np.ndarray
    scale: np.ndarray
    relative: np.ndarray
    within: np.ndarray
    tolerance: float
    atol: float

    @property
    def all_within(self) -> bool:
        """Whether every example is within the tolerance."""
        return bool(self.within.all())


def _vector(name: str, value: Any, examples: int | None) -> np.ndarray:
    array = host(value).astype(np.float64).reshape(-1)
    if examples is not None and array.size != examples:
        raise ValueError(f"{name} must have one value per example ({examples}), got {array.size}")
    return array


def _sums(attributions: Any) -> np.ndarray:
    parts = attributions if isinstance(attributions, (tuple, list)) else (attributions,)
    if not parts:
        raise ValueError("attributions must be an array or a non-empty tuple of arrays")
    hosted = [host(p).astype(np.float64) for p in parts]
    if any(h.ndim < 1 for h in hosted):
        raise ValueError("attributions must have a batch axis first")
    return np.sum([h.reshape(h.shape[0], -1).sum(axis=1) for h in hosted], axis=0)


def completeness(
    attributions: Any,
    f_input: Any = None,
    f_baseline: Any = None,
    *,
    tolerance: float = 0.01,
    atol: float = 0.0,
) -> Completeness:
    """Whether attributions sum to F(x) − F(x′) within a relative tolerance, per example.

    Args:
        attributions: an :class:`~intgrad.Attribution` (its ``delta``, ``f_input`` and
            ``f_baseline`` are used), or attributions as an array, a tensor or a tuple of
            them, shape (examples, ...) each, with ``f_input`` and ``f_baseline``.
        f_input: F(x), shape (examples,), with array attributions.
        f_baseline: F(x′), shape (examples,), with array attributions.
        tolerance: the relative tolerance (≥ 0).
        atol: an absolute tolerance added to it (≥ 0).

    Returns:
        A :class:`Completeness`.

    Raises:
        ValueError: an Attribution without its completeness check (``return_delta=False``),
            F values given with an Attribution or missing with arrays, a negative tolerance.
    """
    for name, value in (("tolerance", tolerance), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if isinstance(attributions, Attribution):
        if f_input is not None or f_baseline is not None:
            raise ValueError("an Attribution carries its own F values: omit f_input, f_baseline")
        if attributions.delta is None or attributions.f_input is None:
            raise ValueError(
                "this Attribution has no completeness check: attribute with return_delta=True"
            )
        assert attributions.f_baseline is not None
        gaps = np.asarray(attributions.delta, dtype=np.float64)
        scale = np.abs(attributions.f_input - attributions.f_baseline)
    else:
        if f_input is None or f_baseline is None:
            raise ValueError("array attributions need f_input and f_baseline (F(x), F(x′))")
        sums = _sums(attributions)
        change = _vector("f_input", f_input, sums.size) - _vector(
            "f_baseline", f_baseline, sums.size
        )
        gaps = sums - change
        scale = np.abs(change)
    size = np.abs(gaps)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(scale > 0, size / scale, np.where(size > 0, np.inf, 0.0))
    return Completeness(
        gaps=gaps,
        scale=scale,
        relative=relative,
        within=size <= atol + tolerance * scale,
        tolerance=float(tolerance),
        atol=float(atol),
    )
