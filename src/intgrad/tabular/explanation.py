"""The explanation of table rows: per source column and per encoded column, with the checks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from intgrad._core.result import Attribution

__all__ = ["TabularExplanation"]


def _json_value(value: object) -> Any:
    """A table cell or index label as a JSON value (NaN and inf as ``None``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if pd.isna(value):
        return None
    return str(value)


def _slice(value: Any, rows: slice) -> Any:
    return value.iloc[rows] if isinstance(value, (pd.DataFrame, pd.Series)) else value


@dataclass(frozen=True)
class TabularExplanation:
    """Integrated Gradients of table rows' target outputs, per source column.

    Every frame and series shares the index of the explained frame. The attributions of a
    categorical column are the sums over its one-hot group, so each row's attributions add up
    to ``f_input − f_baseline`` up to ``delta`` per source column as well as per encoded one.

    Attributes:
        attributions: (rows, source columns), float64, signed attributions.
        encoded_attributions: (rows, encoded columns), float64, the attributions of each encoded
            column (``"age"``, ``"workclass=Private"``, ...).
        values: (rows, source columns), the explained rows' feature values.
        standard_error: (rows, source columns), float64, the standard error of the mean over
            the baseline's references (``sample:K``), or ``None`` for a single reference.
        encoded_standard_error: the same over encoded columns, or ``None``.
        probabilities: (rows, labels), float64, the model's softmax probabilities.
        target: (rows,), int64, the explained class index per row.
        labels: the class names by output index.
        baseline: the baseline's description.
        references: shape (references, encoded columns), float32, the baseline's encoded rows.
        output: ``"probability"`` or ``"logit"``: what F is.
        model: the model's display name.
        result: the rows' :class:`~intgrad.Attribution`: its attributions are the mean
            encoded attributions as a NumPy array (rows, encoded columns); with several
            references, ``baseline_deltas`` holds each reference's gap, and ``steps`` counts the
            gradient evaluations of all references together.
        seconds: wall-clock time of the attribution call, in seconds.
    """

    attributions: pd.DataFrame
    encoded_attributions: pd.DataFrame
    values: pd.DataFrame
    standard_error: pd.DataFrame | None
    encoded_standard_error: pd.DataFrame | None
    probabilities: pd.DataFrame
    target: pd.Series
    labels: tuple[str, ...]
    baseline: str
    references: np.ndarray
    output: str
    model: str
    result: Attribution
    seconds: float

    def __len__(self) -> int:
        return len(self.attributions)

    @property
    def index(self) -> pd.Index:
        return self.attributions.index

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.attributions.columns)

    def _series(self, values: np.ndarray | None) -> pd.Series:
        data = np.full(len(self), np.nan) if values is None else np.asarray(values, np.float64)
        return pd.Series(data, index=self.index)

    @property
    def f_input(self) -> pd.Series:
        """F(x): the target's probability (or logit) at each row."""
        return self._series(self.result.f_input)

    @property
    def f_baseline(self) -> pd.Series:
        """F(x′): the target's output at the baseline (averaged over references)."""
        return self._series(self.result.f_baseline)

    @property
    def delta(self) -> pd.Series:
        """The completeness gap ``sum(attributions) − (F(x) − F(x′))`` per row."""
        return self._series(self.result.delta)

    @property
    def relative_delta(self) -> pd.Series:
        return self._series(self.result.relative_delta)

    @property
    def target_label(self) -> pd.Series:
        return self.target.map(lambda t: self.labels[t])

    @property
    def predicted(self) -> pd.Series:
        """The most probable class per row."""
        return pd.Series(np.argmax(self.probabilities.to_numpy(), axis=1), index=self.index)

    @property
    def predicted_label(self) -> pd.Series:
        return self.predicted.map(lambda t: self.labels[t])

    @property
    def steps(self) -> int:
        return int(self.result.steps)

    def row(self, position: int) -> TabularExplanation:
        """The explanation of the row at ``position`` (0-based, negative from the end) alone."""
        count = len(self)
        if not -count <= position < count:
            raise IndexError(f"row {position} is out of range for {count} rows")
        position %= count
        rows = slice(position, position + 1)
        changes = {
            f.name: _slice(getattr(self, f.name), rows)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), (pd.DataFrame, pd.Series))
        }
        return dataclasses.replace(self, **changes, result=self.result.example(position))

    def _row_summary(self, position: int) -> dict[str, Any]:
        target, predicted = int(self.target.iloc[position]), int(self.predicted.iloc[position])
        probabilities = self.probabilities.iloc[position]
        features = []
        for column in self.columns:
            feature = {
                "feature": column,
                "value": _json_value(self.values[column].iloc[position]),
                "attribution": float(self.attributions[column].iloc[position]),
            }
            if self.standard_error is not None:
                feature["standard_error"] = float(self.standard_error[column].iloc[position])
            features.append(feature)
        return {
            "index": _json_value(self.index[position]),
            "prediction": {
                "label": self.labels[predicted],
                "index": predicted,
                "probability": float(probabilities.iloc[predicted]),
            },
            "probabilities": {label: float(p) for label, p in probabilities.items()},
            "target": target,
            "target_label": self.labels[target],
            "f_input": _json_value(self.f_input.iloc[position]),
            "f_baseline": _json_value(self.f_baseline.iloc[position]),
            "attribution_sum": float(self.attributions.iloc[position].sum()),
            "delta": _json_value(self.delta.iloc[position]),
            "relative_delta": _json_value(self.relative_delta.iloc[position]),
            "features": features,
        }

    def summary(self) -> dict[str, Any]:
        """Every number of this explanation as JSON-ready Python values.

        The shared fields have the image and text commands' names (``model``, ``target``,
        ``target_label``, ``f_input``, ``f_baseline``, ``attribution_sum``, ``delta``,
        ``relative_delta``, ``steps``, ``method``, ``baseline``, ``seconds``); the per-row
        ones are under ``rows``, one entry per explained row, in order.
        """
        return {
            "model": self.model,
            "labels": list(self.labels),
            "output": self.output,
            "baseline": self.baseline,
            "references": int(self.references.shape[0]),
            "steps": self.steps,
            "method": self.result.method,
            "seconds": round(self.seconds, 4),
            "rows": [self._row_summary(position) for position in range(len(self))],
        }
