"""Perturbation curves (deletion, insertion, ROAD) of :mod:`intgrad.metrics` as one plot.

``CurveDisplay.from_curves({"IG": curve, "IDGI": other})`` computes the mean curve of each
labelled :class:`~intgrad.metrics.Curve` once (NumPy); ``plot(ax=None)`` draws them with their
areas in the legend (and the chance level, where the curve has random orders), keeping ``ax_``
and ``figure_``; ``save(path)`` writes a PNG atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from intgrad.viz._display import Display, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from intgrad.metrics import Curve

__all__ = ["CurveDisplay"]

_AXIS_LABELS = {
    "deletion": "fraction of features removed",
    "insertion": "fraction of features put back",
    "road-morf": "fraction removed, most relevant first (imputed)",
    "road-lerf": "fraction removed, least relevant first (imputed)",
}


@dataclass
class CurveDisplay(Display):
    """Mean perturbation curves of several attributions of the same examples.

    Attributes:
        labels: one name per curve (e.g. the method).
        fractions: per curve, shape (points,), the fraction of features perturbed.
        mean_scores: per curve, shape (points,), F averaged over the examples.
        mean_auc: per curve, the area under the curve averaged over the examples.
        chance: per curve, shape (points,), the mean over random orders, or ``None``.
        metric: the curves' metric (``"deletion"``, ``"insertion"``, ``"road-morf"``, ...).
        perturbation: what the removed features became.
    """

    labels: tuple[str, ...]
    fractions: tuple[np.ndarray, ...]
    mean_scores: tuple[np.ndarray, ...]
    mean_auc: tuple[float, ...]
    chance: tuple[np.ndarray | None, ...]
    metric: str
    perturbation: str

    @classmethod
    def from_curves(cls, curves: Mapping[str, Curve]) -> CurveDisplay:
        """One display of ``curves`` (label → :class:`~intgrad.metrics.Curve`), all of one
        metric and one perturbation; ``ValueError`` otherwise or when empty."""
        if not curves:
            raise ValueError("CurveDisplay needs at least one curve")
        metrics = {curve.metric for curve in curves.values()}
        perturbations = {curve.perturbation for curve in curves.values()}
        if len(metrics) != 1 or len(perturbations) != 1:
            raise ValueError(
                "CurveDisplay draws curves of one metric and one perturbation; got "
                f"{sorted(metrics)} with {sorted(perturbations)}"
            )
        return cls(
            labels=tuple(str(label) for label in curves),
            fractions=tuple(np.asarray(c.fractions, dtype=np.float64) for c in curves.values()),
            mean_scores=tuple(np.asarray(c.mean_scores, np.float64) for c in curves.values()),
            mean_auc=tuple(float(c.mean_auc) for c in curves.values()),
            chance=tuple(
                None if c.random_scores is None else np.asarray(c.random_scores).mean(axis=0)
                for c in curves.values()
            ),
            metric=metrics.pop(),
            perturbation=perturbations.pop(),
        )

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> CurveDisplay:
        """Draw every mean curve (``kwargs`` go to each :meth:`~matplotlib.axes.Axes.plot`)."""
        ax = new_axes(type(self).__name__, ax, (5.5, 4.0))
        for number, label in enumerate(self.labels):
            style = {"color": f"C{number % 10}", "marker": ".", **kwargs}
            auc = self.mean_auc[number]
            ax.plot(
                self.fractions[number],
                self.mean_scores[number],
                label=f"{label} (AUC {auc:.3g})",
                **style,
            )
        chances = [c for c in self.chance if c is not None]
        if chances:
            ax.plot(
                self.fractions[0], chances[0], color="0.5", linestyle="--", label="random order"
            )
        ax.set_xlabel(_AXIS_LABELS.get(self.metric, "fraction of features perturbed"))
        ax.set_ylabel("F, mean over examples")
        ax.set_title(f"{self.metric} ({self.perturbation})")
        ax.legend(fontsize="small")
        self._keep(ax)
        return self
