"""Quadrature rules on [0, 1]: where along the path to evaluate gradients, and with what weight.

Integrated Gradients needs the path integral ``∫₀¹ ∂F(x′ + α(x − x′))/∂x dα``. Every rule here is
returned as plain data, ``(alphas, weights)``, so the accumulation loop never needs to know which
rule produced them. Names follow Captum so users can switch without renaming.

References:
    Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML, §3 and
    Remark 1 (Riemann approximation of the integral).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

__all__ = ["METHODS", "QuadratureRule", "quadrature_rule"]


class QuadratureRule(NamedTuple):
    """Nodes and weights of a quadrature rule on [0, 1].

    Attributes:
        alphas: shape (steps,), float64, interpolation coefficients in [0, 1], increasing.
        weights: shape (steps,), float64, non-negative, summing to 1 (within one ulp).
    """

    alphas: np.ndarray
    weights: np.ndarray


def _normalised(alphas: np.ndarray, weights: np.ndarray) -> QuadratureRule:
    # Dividing by the correctly rounded sum makes the weights add up to 1 to the last bit that
    # float64 can represent, so a constant integrand is integrated exactly.
    weights = weights / math.fsum(weights.tolist())
    return QuadratureRule(alphas.astype(np.float64), weights.astype(np.float64))


def _riemann_left(steps: int) -> QuadratureRule:
    return _normalised(np.arange(steps) / steps, np.full(steps, 1.0 / steps))


def _riemann_right(steps: int) -> QuadratureRule:
    return _normalised(np.arange(1, steps + 1) / steps, np.full(steps, 1.0 / steps))


def _riemann_middle(steps: int) -> QuadratureRule:
    return _normalised((np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps))


def _riemann_trapezoid(steps: int) -> QuadratureRule:
    # The true trapezoid rule: end points count half. (Captum's weights sum to 1 − 1/n instead.)
    if steps < 2:
        raise ValueError(f"method 'riemann_trapezoid' needs steps >= 2, got {steps}")
    weights = np.full(steps, 1.0 / (steps - 1))
    weights[[0, -1]] /= 2.0
    return _normalised(np.linspace(0.0, 1.0, steps), weights)


def _gausslegendre(steps: int) -> QuadratureRule:
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return _normalised((nodes + 1.0) / 2.0, weights / 2.0)


_RULES = {
    "riemann_left": _riemann_left,
    "riemann_right": _riemann_right,
    "riemann_middle": _riemann_middle,
    "riemann_trapezoid": _riemann_trapezoid,
    "gausslegendre": _gausslegendre,
}

METHODS: tuple[str, ...] = tuple(_RULES)
"""Names accepted by :func:`quadrature_rule`, Captum's spelling."""


def validate_steps(steps: object) -> int:
    """Return ``steps`` as an int, or raise ``ValueError``/``TypeError`` naming the argument."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be a positive int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return int(steps)


def quadrature_rule(method: str, steps: int) -> QuadratureRule:
    """Return the ``(alphas, weights)`` of a named rule with ``steps`` nodes on [0, 1].

    Args:
        method: one of :data:`METHODS`: ``riemann_left``, ``riemann_right``, ``riemann_middle``,
            ``riemann_trapezoid`` (the true trapezoid rule; ``steps = m + 1`` reproduces the
            TensorFlow tutorial's ``m_steps = m``) or ``gausslegendre``.
        steps: number of nodes, >= 1 (>= 2 for the trapezoid rule).

    Returns:
        A :class:`QuadratureRule` of float64 arrays of shape (steps,).
    """
    steps = validate_steps(steps)
    if method not in _RULES:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return _cached_rule(method, steps)


@functools.lru_cache(maxsize=64)
def _cached_rule(method: str, steps: int) -> QuadratureRule:
    # Gauss–Legendre nodes cost about 0.5 ms to compute; a session asks for the same rule on
    # every call. The arrays are shared, so they are read-only.
    rule = _RULES[method](steps)
    for array in rule:
        array.setflags(write=False)
    return rule
