"""Dataset tasks with exactly known attributions, explained on the NumPy reference backend.

``QuadraticTask`` explains F(x) = Σ c_i x_i² per row with zero baselines: Gauss–Legendre IG is
exact, so every attribution is c_i x_i². A row with a missing value is refused by the task; a
row whose output overflows to inf is caught by the job's finiteness check; a row holding
``CURSED`` makes the whole call raise, so the task must isolate it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

import intgrad
from intgrad.datasets import Batch, ExampleResults
from intgrad.datasets.tasks import isolate_failures
from tests.closed_forms import Quadratic

LABELS = ("low", "high")
CURSED = 666.0
"""A value that makes the whole call raise, so the job must find the row by itself."""


class QuadraticTask:
    kind = "columns"

    def __init__(self, columns: tuple[str, ...], c: np.ndarray, pause: float = 0.0) -> None:
        self.columns, self.c, self.pause = columns, np.asarray(c, np.float64), pause

    def settings(self) -> dict[str, Any]:
        return {"task": "quadratic", "columns": list(self.columns), "c": self.c.tolist()}

    def explain(self, batch: Batch) -> ExampleResults:
        time.sleep(self.pause)
        x = batch.items[list(self.columns)].to_numpy(np.float64)
        errors: list[str | None] = [
            None if np.isfinite(row).all() else "ValueError: missing value" for row in x
        ]
        results = ExampleResults.empty(batch.positions, batch.ids, errors)
        errors = results.errors  # failures found below are the results' own
        results.feature_names = self.columns
        results.attributions = np.full(x.shape, np.nan)
        results.values = batch.items[list(self.columns)]
        explainer = intgrad.Explainer(Quadratic(self.c), backend="numpy")

        def explain(indices: list[int]) -> None:
            rows = np.asarray(indices)
            if (x[rows] == CURSED).any():
                raise ValueError("a cursed row")
            with np.errstate(over="ignore", invalid="ignore"):
                result = explainer.attribute(x[rows], steps=4, method="gausslegendre")
            results.attributions[rows] = result.attributions
            results.f_input[rows], results.f_baseline[rows] = result.f_input, result.f_baseline
            results.delta[rows] = result.delta
            label = (result.f_input > 1.0).astype(np.int64)
            results.target[rows] = results.predicted[rows] = label
            for row, value in zip(indices, label.tolist(), strict=True):
                results.target_label[row] = results.predicted_label[row] = LABELS[value]

        isolate_failures(explain, [i for i, e in enumerate(errors) if e is None], errors)
        return results


class KillOnceTask(QuadraticTask):
    """Kills its own process (SIGKILL) the first time it reaches shard ``doomed``."""

    def __init__(self, columns, c, marker: str, doomed: int) -> None:
        super().__init__(columns, c)
        self.marker, self.doomed = marker, doomed

    def explain(self, batch: Batch) -> ExampleResults:
        if int(batch.positions[0]) == self.doomed and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().explain(batch)


def frame(rows: int, seed: int = 0) -> Any:
    import pandas as pd

    generator = np.random.default_rng(seed)
    data = generator.normal(size=(rows, 3))
    out = pd.DataFrame(data, columns=["x", "y", "z"])
    out["group"] = np.where(generator.random(rows) < 0.5, "a", "b")
    return out
