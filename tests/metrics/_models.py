"""Closed-form models for the metrics' tests (NumPy reference backend, hand-written vjp)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.closed_forms import TanhMLP

__all__ = ["Linear", "TanhMLP", "mlp_layers"]


def _column(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + (1,) * (like.ndim - 1))


class Linear:
    """F(x) = Σ w ⊙ x + b per row (w of one example's shape); records each call's rows."""

    def __init__(self, w: np.ndarray, b: float = 0.0) -> None:
        self.w = np.asarray(w, dtype=np.float64)
        self.b = float(b)
        self.calls: list[int] = []

    def __call__(self, x: np.ndarray, *extra: Any) -> np.ndarray:
        self.calls.append(int(x.shape[0]))
        return (x * self.w).reshape(x.shape[0], -1).sum(axis=1) + self.b

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x = inputs[0]
        return (np.broadcast_to(self.w, x.shape) * _column(cotangent, x),)


def mlp_layers(
    rng: np.random.Generator, features: int = 6, hidden: int = 5, classes: int = 3
) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (rng.normal(size=(features, hidden)), rng.normal(size=hidden) * 0.1),
        (rng.normal(size=(hidden, classes)), rng.normal(size=classes) * 0.1),
    ]
