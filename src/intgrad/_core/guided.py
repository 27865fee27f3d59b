"""Guided Integrated Gradients' adaptive path, chosen on the host for a batch of examples at once.

Guided IG walks from the baseline x′ to the input x in ``steps`` steps; after step t the L1
distance still to go is ``‖x − x′‖₁ · (1 − t/steps)``. Within a step it does not move every
feature by the same fraction, as the straight line does: it moves the features whose gradient
is smallest in magnitude (the lowest ``fraction`` of |∂F/∂xᵢ|, features already at the end of
their allowed range counting as infinite), as far as their range allows, and repeats until the
step's distance is covered. Each move adds ``Δxᵢ · ∂F/∂xᵢ`` at the gradient taken at the start
of the step (a left Riemann sum along the path), so the attributions sum to
``F(x) − F(x′)`` up to the discretisation error, and the last step ends exactly at x.

``max_dist`` bounds how far any feature may stray from the straight line: at step t every
feature stays within α ∈ [t/steps − max_dist, t/steps + max_dist] of its own segment (features
that fall behind are pulled up first); ``max_dist = 1`` is the unbounded method, ``0`` is
Integrated Gradients with a left Riemann sum.

Everything here is NumPy on the host, rows being examples (each example's features flattened,
all its input tensors together): the selection needs every gradient on the host anyway (a
per-example quantile), so the points live there too and go to the device once per step, one
model call for the whole batch. Examples advance together; each has its own selection, so a
batch gives what each example gives alone.

References:
    Kapishnikov, Venugopalan, Avci, Wedin, Terry & Bolukbasi (2021), "Guided Integrated
    Gradients: an Adaptive Path Method for Removing Noise", CVPR, Algorithm 1 and §3.3
    (the anchored variant bounded by ``max_dist``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from intgrad._core.idgi import idgi_rows

__all__ = ["GradientFn", "GuidedOutcome", "GuidedPath", "GuidedSettings", "guided_path_integral"]

CLOSE = 1e-9
"""Relative and absolute tolerance for "the step's distance is covered" (PAIR's EPSILON)."""

GradientFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
"""Points (examples, features) → the gradients there (examples, features) and F (examples,)."""


@dataclass(frozen=True)
class GuidedSettings:
    """Guided IG's parameters.

    Attributes:
        steps: gradient evaluations per example, >= 1.
        fraction: the share of an example's features moved at once, in (0, 1].
        max_dist: how far (in α) a feature may stray from the straight line, in [0, 1].
    """

    steps: int = 128
    fraction: float = 0.25
    max_dist: float = 1.0

    def checked(self) -> GuidedSettings:
        """Return self after validating the fields."""
        steps = self.steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise TypeError(f"steps must be a positive int, got {steps!r}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not _is_real(self.fraction) or not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")
        if not _is_real(self.max_dist) or not 0.0 <= self.max_dist <= 1.0:
            raise ValueError(f"max_dist must be in [0, 1], got {self.max_dist!r}")
        return GuidedSettings(int(steps), float(self.fraction), float(self.max_dist))


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class GuidedPath:
    """The Guided IG paths of a batch: where each example stands, and what it has added.

    Args:
        inputs: shape (examples, features), float64, the path's ends x.
        baselines: shape (examples, features), float64, the path's starts x′.
        settings: validated :class:`GuidedSettings`.
    """

    def __init__(self, inputs: np.ndarray, baselines: np.ndarray, settings: GuidedSettings) -> None:
        self.inputs = np.asarray(inputs, dtype=np.float64)
        self.baselines = np.asarray(baselines, dtype=np.float64)
        self.settings = settings
        self.span = self.inputs - self.baselines
        self.moving = self.span != 0
        self.total = np.abs(self.span).sum(axis=1)
        self.points = self.baselines.copy()
        self.attributions = np.zeros_like(self.inputs)

    def at(self, alpha: float) -> np.ndarray:
        """The straight line's points at ``alpha`` (exactly x at 1, exactly x′ at 0); read only."""
        if alpha in (0.0, 1.0):
            return self.inputs if alpha == 1.0 else self.baselines
        return self.baselines + self.span * alpha

    def advance(self, step: int, gradients: np.ndarray) -> None:
        """Take step ``step`` (0-based) with ``gradients`` (examples, features) at the points."""
        settings = self.settings
        alpha = (step + 1) / settings.steps
        low = max(alpha - settings.max_dist, 0.0)
        high = min(alpha + settings.max_dist, 1.0)
        bounds = _Bounds(low, high, self.at(low), self.at(high), self.total * (1.0 - alpha))
        magnitude = np.abs(gradients)
        active = np.arange(self.points.shape[0])
        while active.size:
            active = active[~self._move(active, gradients[active], magnitude, bounds)]
        if step == settings.steps - 1:
            # Moves of a fraction γ < 1 land within rounding of x; the last segment ends on it.
            self.attributions += (self.inputs - self.points) * gradients
            self.points = self.inputs.copy()

    def _move(
        self, rows: np.ndarray, gradients: np.ndarray, magnitude: np.ndarray, bounds: _Bounds
    ) -> np.ndarray:
        """One move of the examples ``rows``; returns which of them finished the step.

        ``magnitude`` (all examples) is updated in place: features at the top of their range
        become infinite, so they are never chosen again in this step.
        """
        lowest, highest, goal = bounds.lowest[rows], bounds.highest[rows], bounds.goal[rows]
        points = self.points[rows]
        before = points.copy()
        if bounds.low > 0.0:  # pull up the features left behind (none can be below α = 0)
            progress = np.divide(
                points - self.baselines[rows],
                self.span[rows],
                out=np.full_like(points, bounds.high),
                where=self.moving[rows],
            )
            points = np.where(progress < bounds.low, lowest, points)
        remaining = np.abs(points - self.inputs[rows]).sum(axis=1)
        arrived = np.abs(remaining - goal) <= np.maximum(
            CLOSE * np.maximum(np.abs(remaining), np.abs(goal)), CLOSE
        )
        guide = magnitude[rows]
        guide[points == highest] = np.inf
        magnitude[rows] = guide
        threshold = np.quantile(guide, self.settings.fraction, axis=1, method="lower")
        chosen = (guide <= threshold[:, None]) & np.isfinite(guide) & ~arrived[:, None]
        room = (np.abs(points - highest) * chosen).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.where(room > 0, (remaining - goal) / room, np.inf)
        whole = gamma >= 1.0
        part = np.clip(np.where(whole, 0.0, gamma), 0.0, 1.0)[:, None]
        points = np.where(chosen & whole[:, None], highest, points)
        points = np.where(chosen & ~whole[:, None], points + (highest - points) * part, points)
        self.attributions[rows] += (points - before) * gradients
        self.points[rows] = points
        # A step ends when its distance is covered, after a partial move, or when nothing is
        # left to move (rounding only: then the features are all at the top of their range).
        return arrived | (gamma <= 1.0) | (room == 0)


class _Bounds(NamedTuple):
    """One step's range and goal: α in [low, high], the line's points there (examples,
    features), and the L1 distance (examples,) each example has left after the step."""

    low: float
    high: float
    lowest: np.ndarray
    highest: np.ndarray
    goal: np.ndarray


class GuidedOutcome(NamedTuple):
    """What :func:`guided_path_integral` found.

    Attributes:
        attributions: shape (examples, features), float64.
        f_start: shape (examples,), float64, F at the baselines (the first step's points), or
            ``None`` when the gradient function did not report F.
    """

    attributions: np.ndarray
    f_start: np.ndarray | None


def guided_path_integral(
    inputs: np.ndarray,
    baselines: np.ndarray,
    gradients: GradientFn,
    settings: GuidedSettings,
    on_step: Callable[[int], None] | None = None,
    f_end: Callable[[], np.ndarray] | None = None,
) -> GuidedOutcome:
    """Guided IG of a batch: ``settings.steps`` calls of ``gradients`` on all examples at once.

    Args:
        inputs: shape (examples, features), the path's ends x.
        baselines: shape (examples, features), the path's starts x′.
        gradients: the gradients of the explained scalar F at a batch of points (and F there).
        settings: validated :class:`GuidedSettings`.
        on_step: called with the number of steps done after each step.
        f_end: with IDGI's reweighting (Yang et al. 2023): F at the inputs, shape (examples,).
            Each step's F change along the guided path is then spread over the features by
            g ⊙ g / Σ g² instead of adding Δx ⊙ g, so the attributions add up to
            F(x) − F(x′) exactly; ``gradients`` must report F.
    """
    path = GuidedPath(inputs, baselines, settings)
    reweighted = np.zeros_like(path.points) if f_end is not None else None
    previous: tuple[np.ndarray, np.ndarray] | None = None
    f_start = None
    for step in range(settings.steps):
        grads, values = gradients(path.points)
        grads = np.asarray(grads, dtype=np.float64)
        if grads.shape != path.points.shape:
            raise ValueError(
                f"gradients must have the points' shape {path.points.shape}, got {grads.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(grads).all(axis=1))
        if bad.size:
            raise ValueError(
                f"gradients contain NaN or inf for example(s) {bad.tolist()[:10]} at Guided IG "
                f"step {step + 1}: the model's gradients are not finite along the path"
            )
        if step == 0 and values is not None:
            f_start = np.asarray(values, dtype=np.float64)
        if reweighted is not None:
            if values is None:
                raise ValueError("IDGI's reweighting needs F at every step of the path")
            here = np.asarray(values, dtype=np.float64)
            if previous is not None:
                reweighted += idgi_rows(previous[0], here - previous[1])
            previous = (grads, here)
        path.advance(step, grads)
        if on_step is not None:
            on_step(step + 1)
    if reweighted is None or f_end is None:
        return GuidedOutcome(path.attributions, f_start)
    assert previous is not None
    reweighted += idgi_rows(previous[0], np.asarray(f_end(), dtype=np.float64) - previous[1])
    return GuidedOutcome(reweighted, f_start)
