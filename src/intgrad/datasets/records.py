"""One shard's per-example results: their summary, and their Parquet file (written atomically).

A shard file holds a row per example — its id, its error (or none), target, prediction, F(x),
F(x′), the completeness gap and its attributions — and, in the Parquet footer, the shard's own
:class:`~intgrad.datasets.summary.DatasetSummary`. The file appears whole or not at all, so a
job killed at any instant leaves only complete shards, each carrying the summary of exactly its
rows: resuming skips them and the final summary is the same fold over the same shards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from intgrad._io import atomic_writer
from intgrad.datasets.summary import OUTPUT_NAMES, DatasetSummary, FeatureSummary

__all__ = [
    "Cohort",
    "ExampleResults",
    "cohort_membership",
    "cohort_names",
    "read_shard",
    "read_shard_summary",
    "reject_non_finite",
    "summarise",
    "write_shard",
]

Cohort = str | tuple[str, Callable[[Any], Any]]
"""A cohort: a column name (one cohort per value, ``"column=value"``) or ``(name, predicate)``
with ``predicate(frame) -> bool array`` over a shard's rows."""

_SUMMARY_KEY = b"intgrad.summary"
_SHARD_KEY = b"intgrad.shard"
ATTRIBUTION_PREFIX = "a:"
VALUE_PREFIX = "v:"


@dataclass
class ExampleResults:
    """What a task returns for one shard: an entry per example, failed examples included.

    Attributes:
        positions: shape (examples,), int64, positions in the dataset.
        ids: the examples' identifiers.
        errors: ``None`` for an explained example, else its one-line error.
        target, predicted: shape (examples,), int64, the explained and the predicted class
            (−1 where the example failed); ``target_label``/``predicted_label`` their names.
        f_input, f_baseline, delta: shape (examples,), float64, F(x), F(x′) and the signed
            completeness gap (NaN where the example failed).
        feature_names: the fixed features (table columns, image cells); empty for text.
        attributions: shape (examples, features), float64, or ``None`` for text.
        values: a DataFrame (examples × features) of the feature values, or ``None``.
        tokens: per example its words (text), or ``None``.
        token_attributions: per example, shape (words,), float64, or ``None``.
    """

    positions: np.ndarray
    ids: list[str]
    errors: list[str | None]
    target: np.ndarray
    target_label: list[str]
    predicted: np.ndarray
    predicted_label: list[str]
    f_input: np.ndarray
    f_baseline: np.ndarray
    delta: np.ndarray
    feature_names: tuple[str, ...] = ()
    attributions: np.ndarray | None = None
    values: Any = None
    tokens: list[tuple[str, ...]] | None = None
    token_attributions: list[np.ndarray] | None = None

    @property
    def ok(self) -> np.ndarray:
        """shape (examples,), bool: which examples were explained."""
        return np.array([e is None for e in self.errors], dtype=bool)

    @classmethod
    def empty(
        cls, positions: np.ndarray, ids: list[str], errors: list[str | None]
    ) -> ExampleResults:
        """Results with nothing explained yet (every output NaN), to be filled in."""
        n = len(ids)
        return cls(
            positions=np.asarray(positions, np.int64),
            ids=list(ids),
            errors=list(errors),
            target=np.full(n, -1, np.int64),
            target_label=[""] * n,
            predicted=np.full(n, -1, np.int64),
            predicted_label=[""] * n,
            f_input=np.full(n, np.nan),
            f_baseline=np.full(n, np.nan),
            delta=np.full(n, np.nan),
        )


def reject_non_finite(results: ExampleResults) -> None:
    """Mark explained examples whose outputs or attributions are not finite as failed."""
    outputs = np.stack([results.f_input, results.f_baseline, results.delta], axis=1)
    finite = np.isfinite(outputs).all(axis=1)
    if results.attributions is not None:
        finite &= np.isfinite(results.attributions).all(axis=1)
    if results.token_attributions is not None:
        finite &= np.array([np.isfinite(a).all() for a in results.token_attributions], bool)
    for index in np.flatnonzero(results.ok & ~finite):
        results.errors[index] = "ValueError: the model's output or attributions are not finite"


def cohort_names(cohorts: Sequence[Cohort]) -> list[str]:
    """The cohorts' display names (a column cohort is named by its column)."""
    names = []
    for cohort in cohorts:
        if isinstance(cohort, str):
            names.append(cohort)
        elif isinstance(cohort, tuple) and len(cohort) == 2 and callable(cohort[1]):
            names.append(str(cohort[0]))
        else:
            raise TypeError(f"a cohort is a column name or (name, predicate), got {cohort!r}")
    return names


def cohort_membership(cohorts: Sequence[Cohort], frame: Any, count: int) -> dict[str, np.ndarray]:
    """Each cohort's members among ``count`` examples: name → shape (count,) bool mask.

    A column cohort gives one entry per value (``"column=value"``), a predicate one entry
    (its name); only cohorts with a member appear, in the order of their first member (ties:
    the order of ``cohorts``). No per-example lists: a shard of many rows and no cohorts costs
    nothing.
    """
    found: list[tuple[int, int, str, np.ndarray]] = []
    for order, cohort in enumerate(cohorts):
        if isinstance(cohort, str):
            if frame is None or cohort not in frame.columns:
                raise ValueError(f"cohort column {cohort!r} is not a column of the data")
            labels = np.array(
                [f"{cohort}={_cohort_value(v)}" for v in frame[cohort].tolist()], dtype=object
            )
            for name in dict.fromkeys(labels.tolist()):
                mask = labels == name
                found.append((int(np.argmax(mask)), order, name, mask))
        else:
            name, predicate = cohort
            mask = np.asarray(predicate(frame), dtype=bool).reshape(-1)
            if mask.shape != (count,):
                raise ValueError(
                    f"cohort {name!r}'s predicate returned {mask.shape}, not ({count},)"
                )
            if mask.any():
                found.append((int(np.argmax(mask)), order, str(name), mask))
    found.sort(key=lambda entry: entry[:2])
    masks: dict[str, np.ndarray] = {}
    for _, _, name, mask in found:  # two values of a column may print alike (1 and 1.0)
        masks[name] = masks[name] | mask if name in masks else mask
    return masks


def _cohort_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<missing>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _features(results: ExampleResults, mask: np.ndarray) -> FeatureSummary:
    if results.attributions is not None:
        return FeatureSummary.of_matrix(results.feature_names, results.attributions[mask])
    tokens, values = results.tokens or [], results.token_attributions or []
    chosen = np.flatnonzero(mask)
    words = [w for i in chosen for w in tokens[i]]
    names = list(dict.fromkeys(words))
    index = {name: i for i, name in enumerate(names)}
    features = np.array([index[w] for w in words], dtype=np.int64)
    flat = np.concatenate([values[i] for i in chosen]) if chosen.size else np.zeros(0)
    return FeatureSummary.of_pairs(names, features, flat)


def summarise(
    results: ExampleResults, cohorts: dict[str, np.ndarray], metadata: dict[str, Any]
) -> DatasetSummary:
    """The summary of one shard: all explained examples, each cohort and predicted class.

    ``cohorts``: name → shape (examples,) bool mask, as :func:`cohort_membership` gives them.
    """
    ok = results.ok
    outputs = np.stack([results.f_input, results.f_baseline, results.delta], axis=1)
    labels = np.asarray(results.predicted_label, dtype=object)
    classes = {label: ok & (labels == label) for label in dict.fromkeys(labels[ok].tolist())}
    return DatasetSummary(
        examples=len(ok),
        failed=int((~ok).sum()),
        features=_features(results, ok),
        outputs=FeatureSummary.of_matrix(OUTPUT_NAMES, outputs[ok]),
        cohorts={name: _features(results, mask & ok) for name, mask in cohorts.items()},
        classes={name: _features(results, mask) for name, mask in classes.items()},
        metadata=metadata,
    )


def _table(results: ExampleResults) -> Any:
    """The shard's rows as an Arrow table (built from the arrays directly, not via pandas)."""
    import pyarrow as pa

    columns: dict[str, Any] = {
        "example": results.positions,
        "id": results.ids,
        "error": pa.array(results.errors, type=pa.string()),
        "target": results.target,
        "target_label": results.target_label,
        "predicted": results.predicted,
        "predicted_label": results.predicted_label,
        "f_input": results.f_input,
        "f_baseline": results.f_baseline,
        "delta": results.delta,
    }
    if results.attributions is not None:
        for j, name in enumerate(results.feature_names):
            columns[ATTRIBUTION_PREFIX + name] = results.attributions[:, j]
    if results.values is not None:
        for name in results.feature_names:
            if name in results.values.columns:
                columns[VALUE_PREFIX + name] = _parquet_column(results.values[name])
    if results.tokens is not None:
        columns["tokens"] = pa.array([list(t) for t in results.tokens], pa.list_(pa.string()))
        columns["token_attributions"] = pa.array(
            [np.asarray(a, np.float64) for a in results.token_attributions or []],
            pa.list_(pa.float64()),
        )
    return pa.table(columns)


def _parquet_column(series: Any) -> Any:
    # Parquet needs one type per column: numbers stay numbers, anything else becomes text.
    import pandas as pd
    import pyarrow as pa

    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(series.dtype, pd.StringDtype):  # already text: no per-value conversion
        return pa.array(series, type=pa.string(), from_pandas=True)
    return pa.array(series.astype("string").to_numpy(dtype=object, na_value=None), pa.string())


def write_shard(
    path: str | os.PathLike[str],
    results: ExampleResults,
    summary: DatasetSummary,
    shard: dict[str, int],
) -> None:
    """Write one shard's rows and its summary as a Parquet file, atomically."""
    import pyarrow.parquet as pq

    table = _table(results)
    metadata = dict(table.schema.metadata or {})
    metadata[_SUMMARY_KEY] = json.dumps(summary.to_dict(), separators=(",", ":")).encode()
    metadata[_SHARD_KEY] = json.dumps(shard).encode()
    with atomic_writer(path) as temp:
        pq.write_table(table.replace_schema_metadata(metadata), temp)


def read_shard_summary(path: str | os.PathLike[str]) -> tuple[DatasetSummary, dict[str, int]]:
    """A shard file's summary and its ``{"index", "start", "stop"}`` (reads the footer only)."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    if _SUMMARY_KEY not in metadata or _SHARD_KEY not in metadata:
        raise ValueError(f"{str(path)!r} is not an intgrad shard (no summary in its footer)")
    summary = DatasetSummary.from_dict(json.loads(metadata[_SUMMARY_KEY]))
    return summary, json.loads(metadata[_SHARD_KEY])


def read_shard(path: str | os.PathLike[str], columns: Sequence[str] | None = None) -> Any:
    """A shard's rows as a DataFrame (``columns`` to read only some)."""
    import pyarrow.parquet as pq

    return pq.read_table(Path(path), columns=list(columns) if columns else None).to_pandas()
