"""Small functions with hand-written gradients for the NumPy reference backend.

Each is a :class:`intgrad.backends.numpy.ClosedForm`: ``__call__`` maps inputs of shape
(rows, ...) to outputs of shape (rows, ...), ``vjp`` pulls a cotangent of the outputs back to
every input. Their Integrated Gradients are known exactly, so the core's loop, planners and
paths are checked against formulas, not against another implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _column(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + (1,) * (like.ndim - 1))


class Quadratic:
    """F(x) = Σ_i c_i x_i² per row, output shape (rows,).

    Along the straight line from x′ the gradient is linear in α, so a rule whose nodes have
    weighted mean ᾱ = Σ w_k α_k gives exactly 2c(x − x′)(x′ + ᾱ(x − x′)): the exact IG
    c(x² − x′²) for every rule with ᾱ = 1/2.
    """

    def __init__(self, c: np.ndarray | float) -> None:
        self.c = np.asarray(c, dtype=np.float64)
        self.calls: list[int] = []

    def __call__(self, x: np.ndarray, *extra: Any) -> np.ndarray:
        self.calls.append(x.shape[0])
        return (self.c * x**2).reshape(x.shape[0], -1).sum(axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x = inputs[0]
        return (2.0 * self.c * x * _column(cotangent, x),)


class Cubic:
    """F(x) = Σ_i x_i³ per row: a curved path integrand, exact IG x³ − x′³."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x**3).reshape(x.shape[0], -1).sum(axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        (x,) = inputs
        return (3.0 * x**2 * _column(cotangent, x),)


class TanhLinear:
    """F(x) = tanh(x W) · scale, outputs (rows, classes); ``scale`` an optional extra argument."""

    def __init__(self, weight: np.ndarray) -> None:
        self.weight = weight
        self.extras: list[tuple[int, tuple[Any, ...]]] = []

    def __call__(self, x: np.ndarray, *extra: Any) -> np.ndarray:
        self.extras.append((x.shape[0], extra))
        out = np.tanh(x @ self.weight)
        return out * extra[0] if extra else out

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x, *extra = inputs
        hidden = np.tanh(x @ self.weight)
        scaled = cotangent * extra[0] if extra else cotangent
        return (((1.0 - hidden**2) * scaled) @ self.weight.T,)


class Grid:
    """F(x) = x · A reshaped to (rows, 2, 3): a model with a two-dimensional output per row."""

    def __init__(self, weight: np.ndarray) -> None:
        self.weight = weight  # (features, 6)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x @ self.weight).reshape(x.shape[0], 2, 3)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return (cotangent.reshape(cotangent.shape[0], 6) @ self.weight.T,)


class TwoInputs:
    """F(a, b) = Σ (a · u)² + Σ sin(b) per row: two path tensors, shape (rows,)."""

    def __init__(self, u: np.ndarray) -> None:
        self.u = u

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return ((a * self.u) ** 2).sum(axis=1) + np.sin(b).sum(axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        a, b = inputs
        column = cotangent[:, None]
        return (2.0 * a * self.u**2 * column, np.cos(b) * column)


class ListArgument:
    """F(x, pair) = Σ x · pair[0] + pair[1] per row, where ``pair`` is a Python list."""

    def __call__(self, x: np.ndarray, pair: list[Any]) -> np.ndarray:
        assert isinstance(pair, list), f"got {type(pair).__name__}"
        return (x * pair[0]).sum(axis=1) + pair[1]

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x, pair = inputs
        return (np.broadcast_to(pair[0], x.shape) * cotangent[:, None],)


class TanhMLP:
    """F(x) = tanh(x W1 + b1) W2 + b2, outputs (rows, classes): the frameworks' ``mlp`` adapter
    (tests/frameworks.py) in NumPy, with its gradient by hand. ``layers`` is
    ``[(W1 (in, hidden), b1), (W2 (hidden, classes), b2)]``."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        (self.w1, self.b1), (self.w2, self.b2) = layers

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x @ self.w1 + self.b1) @ self.w2 + self.b2

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        hidden = np.tanh(inputs[0] @ self.w1 + self.b1)
        return (((cotangent @ self.w2.T) * (1.0 - hidden**2)) @ self.w1.T,)
