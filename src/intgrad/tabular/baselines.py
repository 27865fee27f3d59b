"""Baselines for tables, in the encoded space, resolved against a background (training) frame.

A baseline is one or more *reference rows* of the encoded matrix:

- ``"median"`` (the default): each numeric column at its median; each categorical column the
  one-hot of its mode (its most frequent category).
- ``"mean"``: each numeric column at its mean (0 after standardisation); each categorical
  column its *frequency vector* — the share of each category, the mean of its one-hot — a point
  between categories that no real row takes, but the expectation of the encoded input.
- ``"zeros"``: every encoded column zero. For a numeric column that is its training mean (the
  standardisation maps the mean to 0); for a categorical column it is *no category at all*
  (an all-zero one-hot), which the model never saw in training.
- a row — a one-row DataFrame, a Series or a dict of the feature columns (encoded by the
  schema), or an encoded vector of shape (encoded columns,).
- ``"sample:K"``: K background rows drawn with a seed (without replacement), each a baseline
  of its own; the attributions are averaged over them, in the spirit of Expected Gradients
  (Erion et al. 2021) but with a fixed α grid per reference. A DataFrame of several rows gives
  its rows as the references in the same way. The standard error of that mean is reported:
  ``std(per-reference attributions, ddof=1) / sqrt(K)`` per feature (the error of a mean of K
  draws: not SHAP's, which divides twice, shap#4842).

With a background frame, ``"mean"`` and ``"median"`` are its statistics; without one, the
schema's training statistics (the same numbers for the training frame).

References:
    Sturmfels, Lundberg & Lee (2020), "Visualizing the Impact of Feature Attribution
    Baselines", Distill.
    Erion, Janizek, Sturmfels, Lundberg & Lee (2021), "Improving performance of deep learning
    models with axiomatic attribution priors and expected gradients", Nature Machine
    Intelligence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from intgrad.tabular.schema import CategoricalColumn, NumericColumn, TabularSchema, describe_row

__all__ = [
    "TABULAR_BASELINES",
    "Background",
    "TabularBaseline",
    "reference_mean",
    "resolve_baseline",
    "tile_references",
]

TABULAR_BASELINES: tuple[str, ...] = ("median", "mean", "zeros", "sample:K")
"""Baselines by name; a row (DataFrame, Series, dict or encoded vector) is given as itself."""


@dataclass(frozen=True)
class Background:
    """A background frame, encoded once.

    Attributes:
        encoded: shape (rows, encoded columns), float32.
        index: the frame's index labels, one per row.
    """

    encoded: np.ndarray
    index: pd.Index

    @classmethod
    def of(cls, frame: pd.DataFrame, schema: TabularSchema) -> Background:
        """Encode ``frame`` with ``schema`` (its errors name the background's bad rows)."""
        try:
            encoded = schema.encode(frame)
        except ValueError as error:
            raise ValueError(f"the background frame: {error}") from None
        return cls(encoded, frame.index)


@dataclass(frozen=True)
class TabularBaseline:
    """A resolved baseline.

    Attributes:
        name: its description (``"median"``, ``"sample:16(seed=0)"``, ``"row 3"``, ...).
        references: shape (references, encoded columns), float32: the reference rows.
        sampled: whether the references are a sample whose mean attribution gets a standard
            error (``sample:K`` and several-row frames); otherwise there is one reference.
        labels: a description of each reference (background index labels when sampled).
    """

    name: str
    references: np.ndarray
    sampled: bool
    labels: tuple[str, ...]

    @property
    def count(self) -> int:
        return int(self.references.shape[0])


def _schema_vector(schema: TabularSchema, statistic: str) -> np.ndarray:
    parts: list[np.ndarray] = []
    for feature in schema.features:
        if isinstance(feature, NumericColumn):
            value = 0.0 if statistic == "mean" else (feature.median - feature.mean) / feature.std
            parts.append(np.array([value]))
        elif statistic == "mean":
            parts.append(np.asarray(feature.frequencies))
        else:
            parts.append(np.eye(feature.width)[feature.mode])
    return np.concatenate(parts)


def _background_vector(schema: TabularSchema, background: Background, statistic: str) -> np.ndarray:
    encoded = background.encoded
    if statistic == "mean":
        return encoded.astype(np.float64).mean(axis=0)
    vector = np.empty(schema.width)
    counts = encoded.sum(axis=0, dtype=np.float64)  # one-hot columns: exact category counts
    for feature, indices in zip(schema.features, schema.groups.values(), strict=True):
        if isinstance(feature, CategoricalColumn):
            vector[list(indices)] = np.eye(feature.width)[int(np.argmax(counts[list(indices)]))]
        else:
            vector[indices[0]] = np.median(encoded[:, indices[0]].astype(np.float64))
    return vector


def _statistic(
    schema: TabularSchema, background: Background | None, statistic: str
) -> TabularBaseline:
    vector = (
        _schema_vector(schema, statistic)
        if background is None
        else _background_vector(schema, background, statistic)
    )
    return TabularBaseline(statistic, vector[None].astype(np.float32), False, (statistic,))


def _sample(
    spec: str, schema: TabularSchema, background: Background | None, seed: int | None
) -> TabularBaseline:
    count_text = spec.partition(":")[2]
    if not count_text.isdigit() or int(count_text) < 2:
        raise ValueError(
            f"a sample baseline is 'sample:K' with K >= 2 references, got {spec!r} "
            "(one reference has no standard error: give the row itself)"
        )
    count = int(count_text)
    if background is None:
        raise ValueError(
            f"baseline {spec!r} draws from a background frame: "
            "pass background=<training rows> to the TabularExplainer"
        )
    rows = background.encoded.shape[0]
    if count > rows:
        raise ValueError(
            f"baseline {spec!r} needs {count} background rows, the background has {rows}"
        )
    positions = np.sort(np.random.default_rng(seed).choice(rows, size=count, replace=False))
    labels = tuple(f"background {describe_row(background.index[p])}" for p in positions)
    name = f"sample:{count}(seed={seed})"
    return TabularBaseline(name, background.encoded[positions].astype(np.float32), True, labels)


def _frame_rows(frame: pd.DataFrame, schema: TabularSchema) -> TabularBaseline:
    encoded = schema.encode(frame)
    labels = tuple(describe_row(label) for label in frame.index)
    if len(frame) == 1:
        return TabularBaseline(labels[0], encoded, False, labels)
    return TabularBaseline(f"{len(frame)} rows", encoded, True, labels)


def _encoded_row(vector: np.ndarray, schema: TabularSchema) -> TabularBaseline:
    row = np.asarray(vector, dtype=np.float32).reshape(-1)
    if row.size != schema.width or np.asarray(vector).ndim > 2:
        raise ValueError(
            f"an encoded baseline must have shape ({schema.width},), got {np.shape(vector)}"
        )
    if not np.isfinite(row).all():
        raise ValueError("an encoded baseline must be finite")
    return TabularBaseline("encoded row", row[None], False, ("encoded row",))


def resolve_baseline(
    spec: object,
    schema: TabularSchema,
    background: pd.DataFrame | Background | None = None,
    seed: int | None = 0,
) -> TabularBaseline:
    """The reference rows of a baseline specification (see the module's description).

    Args:
        spec: ``"median"``, ``"mean"``, ``"zeros"``, ``"sample:K"``, a DataFrame (one row, or
            several as references), a Series or dict (one row), or an encoded vector.
        schema: the schema that encodes the rows.
        background: the background rows, a frame or already encoded; needed by ``sample:K``.
        seed: the seed of the ``sample:K`` draw.

    Raises:
        ValueError: an unknown name, ``sample:K`` without a background or with K < 2 or more
            than its rows, or a row the schema cannot encode.
    """
    if isinstance(background, pd.DataFrame):
        background = Background.of(background, schema)
    if isinstance(spec, str):
        if spec in ("mean", "median"):
            return _statistic(schema, background, spec)
        if spec == "zeros":
            zeros = np.zeros((1, schema.width), dtype=np.float32)
            return TabularBaseline("zeros", zeros, False, ("zeros",))
        if spec.startswith("sample:"):
            return _sample(spec, schema, background, seed)
        raise ValueError(
            f"unknown baseline {spec!r}; choose {', '.join(TABULAR_BASELINES)} or give a row"
        )
    if isinstance(spec, pd.DataFrame):
        return _frame_rows(spec, schema)
    if isinstance(spec, pd.Series):
        return _frame_rows(spec.to_frame().T, schema)
    if isinstance(spec, Mapping):
        return _frame_rows(pd.DataFrame([dict(spec)]), schema)
    if isinstance(spec, np.ndarray):
        return _encoded_row(spec, schema)
    raise TypeError(
        f"baseline must be a name, a DataFrame, a Series, a dict or an encoded array, "
        f"got {type(spec).__name__}"
    )


def tile_references(inputs: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair every row with every reference, so that one attribution call covers them all.

    Args:
        inputs: shape (rows, features).
        references: shape (references, features).

    Returns:
        ``(tiled_inputs, tiled_starts)``, both (references × rows, features), reference-major:
        entry ``k × rows + n`` is row ``n`` with reference ``k``.
    """
    count, rows = references.shape[0], inputs.shape[0]
    return np.tile(inputs, (count, 1)), np.repeat(references, rows, axis=0)


def reference_mean(per_reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean over references and its standard error.

    Args:
        per_reference: shape (references, rows, features): the attributions of each reference.

    Returns:
        ``(mean, standard_error)``, both (rows, features), float64, where the standard error is
        ``std(per_reference, axis=0, ddof=1) / sqrt(references)`` (references >= 2).
    """
    values = np.asarray(per_reference, dtype=np.float64)
    count = values.shape[0]
    if count < 2:
        raise ValueError(f"a standard error needs at least 2 references, got {count}")
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(count)
