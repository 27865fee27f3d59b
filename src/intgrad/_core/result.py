"""The result of an attribution call: attributions plus the numbers that let users trust them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Attribution", "PathRecord"]


@dataclass(frozen=True)
class PathRecord:
    """What the model did along the straight-line path, for the tutorial's saturation plots.

    Attributes:
        alphas: shape (examples, points), float64, path positions in [0, 1], as evaluated
            (sorted ascending per example).
        outputs: shape (examples, points), float64, the selected output F(x′ + α(x − x′)).
        mean_gradients: shape (examples, points), float64, the mean over all input features of
            ∂F/∂x at that point (the tutorial's "average pixel gradient").
    """

    alphas: np.ndarray
    outputs: np.ndarray
    mean_gradients: np.ndarray

    def example(self, index: int) -> PathRecord:
        """Row ``index`` as shape (1, points), without the NaN columns that pad it."""
        evaluated = np.isfinite(self.alphas[index])
        return PathRecord(
            alphas=self.alphas[index : index + 1, evaluated],
            outputs=self.outputs[index : index + 1, evaluated],
            mean_gradients=self.mean_gradients[index : index + 1, evaluated],
        )


@dataclass(frozen=True)
class Attribution:
    """Integrated Gradients attributions and their completeness check.

    Attributes:
        attributions: the attributions, in the framework, shape, dtype and device of the inputs
            (a tuple when the inputs were a tuple).
        delta: shape (examples,), float64, the signed completeness gap
            ``sum(attributions) − (F(x) − F(x′))``; ``None`` when not computed.
        f_input: shape (examples,), float64, F(x) for the selected output, or ``None``.
        f_baseline: shape (examples,), float64, F(x′), averaged over baselines, or ``None``.
        baseline_deltas: shape (baselines, examples), float64, the gap of each baseline's own
            attributions, or ``None``.
        attribution_sums: shape (examples,), float64, the sum of all attributions per example.
        steps: gradient evaluations (forward + backward passes) used per example, all
            baselines together (the most any example used, with ``steps="auto"``).
        forward_evaluations: forward-only evaluations used per example (completeness check and
            any adaptive pilot pass).
        method: the quadrature rule's name, or ``"auto"``.
        target: shape (examples,), int64, the selected output per example (an index into
            the flattened output), or (examples, indices) for multi-dimensional targets, or
            ``None``.
        baselines: a description of each baseline used.
        paths: one :class:`PathRecord` per baseline when ``return_path=True``, else empty.
        estimated_error: shape (examples,), the adaptive mode's estimate of the relative L2
            error of the attributions (the largest over baselines), or ``None`` for fixed rules.
        steps_per_example: shape (examples,), int64, gradient evaluations of each example.
        algorithm: which member of the IG family produced the attributions
            (``"integrated_gradients"``, ``"expected_gradients"``, ``"blur_ig"``, ...).
        standard_error: for Monte Carlo methods (Expected Gradients, SmoothGrad), the standard
            error of each attribution — the standard deviation of the mean over samples —
            as NumPy float64 arrays in the attributions' structure and shapes; else ``None``.
    """

    attributions: Any
    delta: np.ndarray | None
    f_input: np.ndarray | None
    f_baseline: np.ndarray | None
    baseline_deltas: np.ndarray | None
    attribution_sums: np.ndarray
    steps: int
    forward_evaluations: int
    method: str
    target: np.ndarray | None
    baselines: tuple[str, ...]
    paths: tuple[PathRecord, ...] = field(default=())
    estimated_error: np.ndarray | None = None
    steps_per_example: np.ndarray | None = None
    algorithm: str = "integrated_gradients"
    standard_error: Any = None

    @property
    def path(self) -> PathRecord | None:
        """The path record of the first baseline, or ``None`` when none was recorded."""
        return self.paths[0] if self.paths else None

    @property
    def relative_delta(self) -> np.ndarray | None:
        """shape (examples,): ``|delta| / |F(x) − F(x′)|`` (0/0 is 0, x/0 is ``inf``)."""
        if self.delta is None or self.f_input is None or self.f_baseline is None:
            return None
        scale = np.abs(self.f_input - self.f_baseline)
        gap = np.abs(self.delta)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(scale > 0, gap / scale, np.where(gap > 0, np.inf, 0.0))

    def example(self, index: int) -> Attribution:
        """The part of a batched result that belongs to one example, as if it had been alone.

        With ``steps="auto"`` examples stop at different levels: the batch reports the most
        steps of any example and pads the path records of the others with NaN; the example's
        own ``steps``, ``estimated_error`` and unpadded path are taken instead. Attributions
        keep a batch axis of one (a tuple stays a tuple).
        """
        row = slice(index, index + 1)

        def pick(values: np.ndarray | None, axis: int = 0) -> np.ndarray | None:
            if values is None:
                return None
            return values[row] if axis == 0 else values[:, row]

        steps = self.steps_per_example

        def rows_of(values: Any) -> Any:
            if values is None:
                return None
            return tuple(a[row] for a in values) if isinstance(values, tuple) else values[row]

        return dataclasses.replace(
            self,
            attributions=rows_of(self.attributions),
            standard_error=rows_of(self.standard_error),
            delta=pick(self.delta),
            f_input=pick(self.f_input),
            f_baseline=pick(self.f_baseline),
            baseline_deltas=pick(self.baseline_deltas, axis=1),
            attribution_sums=self.attribution_sums[row],
            target=pick(self.target),
            paths=tuple(path.example(index) for path in self.paths),
            steps=self.steps if steps is None else int(steps[index]),
            estimated_error=pick(self.estimated_error),
            steps_per_example=pick(steps),
        )
