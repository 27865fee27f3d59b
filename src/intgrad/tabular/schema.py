"""Table columns to model inputs: numeric columns standardised, categorical columns one-hot.

A :class:`TabularSchema` is fitted on a training frame and then encodes any frame with the same
feature columns into one float32 matrix. Each *source column* owns a group of encoded columns —
one for a numeric column, one per training category for a categorical one — so attributions of
the encoded columns can be summed back per source column (completeness then holds per source
column too). The schema refuses what it cannot encode with a one-line ``ValueError`` that names
the row, the column and the value; :meth:`TabularSchema.check_rows` reports the same per row
without raising, so a job can record the failing rows and go on.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "UNKNOWN_POLICIES",
    "CategoricalColumn",
    "NumericColumn",
    "TabularSchema",
]

Category = str | int | float | bool
Unknown = Literal["error", "zeros"]

UNKNOWN_POLICIES: tuple[str, ...] = ("error", "zeros")
"""What encoding does with a category the training frame did not have."""

_FORMAT = "intgrad.tabular.schema"
_VERSION = 1
_SHOWN_CATEGORIES = 5


@dataclass(frozen=True)
class NumericColumn:
    """A numeric source column, encoded as ``(value − mean) / std``.

    Attributes:
        name: the column's name.
        mean: the training mean.
        std: the training standard deviation (population, ``ddof=0``); 1.0 for a constant column.
        median: the training median (the ``"median"`` baseline's value).
    """

    name: str
    mean: float
    std: float
    median: float

    @property
    def width(self) -> int:
        return 1


@dataclass(frozen=True)
class CategoricalColumn:
    """A categorical source column, encoded as a one-hot over the training categories.

    Attributes:
        name: the column's name.
        categories: the training categories (strings, numbers or booleans), sorted.
        frequencies: the training share of each category, in the order of ``categories``
            (they sum to 1: the ``"mean"`` baseline's value).
    """

    name: str
    categories: tuple[Category, ...]
    frequencies: tuple[float, ...]

    @property
    def width(self) -> int:
        return len(self.categories)

    @property
    def mode(self) -> int:
        """The index of the most frequent training category (the first of equals)."""
        return int(np.argmax(self.frequencies))

    @functools.cached_property
    def lookup(self) -> pd.Index:
        """The categories as an index, for ``get_indexer`` (built once per column)."""
        return pd.Index(self.categories, dtype=object)


Column = NumericColumn | CategoricalColumn


def describe_row(label: object) -> str:
    """``row 3`` for an integer index label, ``row 'a'`` for any other."""
    return f"row {label}" if isinstance(label, (int, np.integer)) else f"row {label!r}"


def _scalar(value: object) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_categorical_dtype(dtype: Any) -> bool:
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def _is_numeric_dtype(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


# --- per-column encoding: values and the problems of each row ------------------------------


def _problems(series: pd.Series, positions: np.ndarray, problem: str) -> dict[int, str]:
    """``{position: "row <label>: column '<name>' <problem>"}`` for the rows given, where
    ``<VALUE>`` in ``problem`` stands for the row's value."""
    messages = {}
    for position in positions:
        value = repr(_scalar(series.iloc[position]))
        messages[int(position)] = (
            f"{describe_row(series.index[position])}: column {series.name!r} "
            + problem.replace("<VALUE>", value)
        )
    return messages


def _missing(series: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    missing = series.isna().to_numpy()
    return missing, _problems(series, np.flatnonzero(missing), "has a missing value")


def _numbers(series: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    """The column as float64 (rows,) and a message per row position it cannot convert."""
    missing, problems = _missing(series)
    if _is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:  # strings of a CSV shard, say: convert what reads as a number
        values = np.asarray(pd.to_numeric(series.astype(object), errors="coerce"), np.float64)
    bad = np.flatnonzero(~missing & ~np.isfinite(values))
    problems.update(_problems(series, bad, "must hold finite numbers, got <VALUE>"))
    return values, problems


def _encode_numeric(column: NumericColumn, series: pd.Series) -> tuple[np.ndarray, dict[int, str]]:
    values, problems = _numbers(series)
    standardised = (values - column.mean) / column.std
    return np.where(np.isfinite(standardised), standardised, 0.0)[:, None], problems


def _category_codes(
    column: CategoricalColumn, series: pd.Series, missing: np.ndarray
) -> np.ndarray:
    """Shape (rows,), int64: each value's category index, −1 where it has none.

    ``missing``: shape (rows,), bool, where the series has no value.
    """
    # Text columns are looked up as they are; anything else as Python objects (1 matches 1.0).
    values = series if isinstance(series.dtype, pd.StringDtype) else series.astype(object)
    codes = np.asarray(column.lookup.get_indexer(values))
    # A CSV shard may read "1" where the training frame had 1: match on the text as well.
    unmatched = (codes < 0) & ~missing
    if unmatched.any():
        by_text = {str(c): i for i, c in enumerate(column.categories)}
        codes[unmatched] = [by_text.get(str(v), -1) for v in values[unmatched]]
    return codes.astype(np.int64)


def _known(column: CategoricalColumn) -> str:
    shown = ", ".join(repr(c) for c in column.categories[:_SHOWN_CATEGORIES])
    more = len(column.categories) - _SHOWN_CATEGORIES
    return shown + (f", … ({more} more)" if more > 0 else "")


def _encode_categorical(
    column: CategoricalColumn, series: pd.Series, unknown: Unknown
) -> tuple[np.ndarray, dict[int, str]]:
    missing, problems = _missing(series)
    codes = _category_codes(column, series, missing)
    block = np.zeros((codes.size, column.width), dtype=np.float64)
    known = np.flatnonzero(codes >= 0)
    block[known, codes[known]] = 1.0
    if unknown == "error":
        problem = (
            f"has the unknown category <VALUE> (known: {_known(column)}; "
            "unknown='zeros' encodes it as all zeros)"
        )
        unknown_rows = np.flatnonzero((codes < 0) & ~missing)
        problems.update(_problems(series, unknown_rows, problem))
    return block, problems


# --- fitting ---------------------------------------------------------------------------------


def _sorted_categories(values: Sequence[Any]) -> tuple[Category, ...]:
    categories = [_scalar(v) for v in values]
    for value in categories:
        if not isinstance(value, (str, int, float, bool)):
            raise ValueError(
                f"categories must be strings, numbers or booleans, got {type(value).__name__}"
            )
    try:
        return tuple(sorted(categories))
    except TypeError:  # mixed types: order by their text
        return tuple(sorted(categories, key=str))


def _fit_numeric(name: str, series: pd.Series) -> NumericColumn:
    values, problems = _numbers(series)
    if problems:
        raise ValueError(problems[min(problems)])
    std = float(values.std())
    return NumericColumn(
        name, float(values.mean()), std if std > 0 else 1.0, float(np.median(values))
    )


def _fit_categorical(name: str, series: pd.Series) -> CategoricalColumn:
    problems = _missing(series)[1]
    if problems:
        raise ValueError(problems[min(problems)])
    counts = series.astype(object).value_counts(sort=False)
    categories = _sorted_categories(list(counts.index))
    total = float(counts.sum())
    by_value = {_scalar(k): int(v) for k, v in counts.items()}
    return CategoricalColumn(name, categories, tuple(by_value[c] / total for c in categories))


def _check_frame(frame: object, names: Sequence[str], what: str = "of the schema") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(
            f"the frame lacks column(s) {missing} {what}; it has {list(map(str, frame.columns))}"
        )
    if len(frame) == 0:
        raise ValueError("the frame has no rows")
    return frame


def _column_kinds(
    frame: pd.DataFrame,
    target: str | None,
    categorical: Sequence[str] | None,
    numeric: Sequence[str] | None,
) -> tuple[list[str], set[str]]:
    """The feature columns in frame order and which of them are categorical."""
    named = [c for c in frame.columns if not isinstance(c, str)]
    if named:
        raise ValueError(f"column names must be strings, got {named[:5]}")
    candidates = [c for c in frame.columns if c != target]
    both = sorted(set(categorical or ()) & set(numeric or ()))
    if both:
        raise ValueError(f"column(s) {both} are listed as both categorical and numeric")
    given = categorical is not None or numeric is not None
    chosen_numeric = set(numeric or ())
    chosen_categorical = (
        set(categorical)
        if categorical is not None
        else {
            c
            for c in candidates
            if c not in chosen_numeric and _is_categorical_dtype(frame[c].dtype)
        }
    )
    if numeric is None:
        chosen_numeric = {
            c
            for c in candidates
            if c not in chosen_categorical and _is_numeric_dtype(frame[c].dtype)
        }
    untyped = [c for c in candidates if c not in chosen_numeric | chosen_categorical]
    if untyped and not given:
        raise ValueError(
            f"column(s) {untyped} are neither numeric nor categorical by dtype "
            f"({', '.join(str(frame[c].dtype) for c in untyped)}): list them in categorical= "
            "or numeric=, or drop them"
        )
    features = [c for c in candidates if c in chosen_numeric | chosen_categorical]
    if not features:
        raise ValueError("the schema needs at least one feature column besides the target")
    return features, chosen_categorical


# --- the schema ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TabularSchema:
    """How a table's feature columns become the model's float32 input matrix.

    Attributes:
        features: the source feature columns, in order: each a :class:`NumericColumn` or a
            :class:`CategoricalColumn`. The encoded matrix holds their groups side by side.
        target: the label column of the training frame (never encoded), or ``None``.
        unknown: ``"error"`` (default): an unseen category is an error; ``"zeros"``: it is
            encoded as an all-zero one-hot row (no category at all).
    """

    features: tuple[Column, ...]
    target: str | None = None
    unknown: Unknown = "error"

    def __post_init__(self) -> None:
        if self.unknown not in UNKNOWN_POLICIES:
            raise ValueError(
                f"unknown must be one of {', '.join(UNKNOWN_POLICIES)}, got {self.unknown!r}"
            )
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"the schema's column names repeat: {names}")

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        *,
        target: str | None = None,
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
        unknown: Unknown = "error",
    ) -> TabularSchema:
        """Fit the columns' statistics and categories on a training frame.

        Args:
            frame: the training rows; every feature value present (no NaN).
            target: the label column, left out of the features.
            categorical: the categorical columns; default: every column (but the target and
                ``numeric``) of an object, string, category or bool dtype.
            numeric: the numeric columns; default: every remaining column of a numeric dtype.
                Naming either list leaves out the columns that fit neither.
            unknown: see :attr:`unknown`.
        """
        names = [*(categorical or ()), *(numeric or ()), *([target] if target else [])]
        _check_frame(frame, list(dict.fromkeys(names)), "named to fit")
        features, categorical_names = _column_kinds(frame, target, categorical, numeric)
        columns: list[Column] = [
            _fit_categorical(name, frame[name])
            if name in categorical_names
            else _fit_numeric(name, frame[name])
            for name in features
        ]
        return cls(tuple(columns), target, unknown)

    # --- layout ---

    @property
    def columns(self) -> tuple[str, ...]:
        """The source feature columns, in order."""
        return tuple(f.name for f in self.features)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if isinstance(f, NumericColumn))

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if isinstance(f, CategoricalColumn))

    @property
    def width(self) -> int:
        """The number of encoded columns."""
        return sum(f.width for f in self.features)

    @property
    def encoded_names(self) -> tuple[str, ...]:
        """One name per encoded column: ``"age"``, ``"workclass=Private"``, ..."""
        names: list[str] = []
        for feature in self.features:
            if isinstance(feature, NumericColumn):
                names.append(feature.name)
            else:
                names.extend(f"{feature.name}={c}" for c in feature.categories)
        return tuple(names)

    @property
    def groups(self) -> dict[str, tuple[int, ...]]:
        """For each source column (in order), the indices of its encoded columns."""
        groups: dict[str, tuple[int, ...]] = {}
        start = 0
        for feature in self.features:
            groups[feature.name] = tuple(range(start, start + feature.width))
            start += feature.width
        return groups

    def group_matrix(self) -> np.ndarray:
        """Shape (encoded columns, source columns), float64: 1 where a column is in a group.

        ``encoded_attributions @ schema.group_matrix()`` sums each group.
        """
        matrix = np.zeros((self.width, len(self.features)), dtype=np.float64)
        for column, indices in enumerate(self.groups.values()):
            matrix[list(indices), column] = 1.0
        return matrix

    def with_unknown(self, unknown: Unknown) -> TabularSchema:
        """The same schema with another unknown-category policy."""
        return dataclasses.replace(self, unknown=unknown)

    # --- encoding ---

    def _encode(self, frame: object) -> tuple[np.ndarray, list[str | None]]:
        checked = _check_frame(frame, self.columns)
        encoded = np.zeros((len(checked), self.width), dtype=np.float32)
        problems: list[str | None] = [None] * len(checked)
        start = 0
        for feature in self.features:
            series = checked[feature.name]
            block, found = (
                _encode_numeric(feature, series)
                if isinstance(feature, NumericColumn)
                else _encode_categorical(feature, series, self.unknown)
            )
            encoded[:, start : start + feature.width] = block
            for position, message in found.items():
                problems[position] = problems[position] or message
            start += feature.width
        return encoded, problems

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The frame's feature columns encoded: shape (rows, :attr:`width`), float32.

        Columns beyond the schema's (the target, say) are ignored.

        Raises:
            TypeError: not a DataFrame.
            ValueError: a missing column (all are listed), no rows, or a row the schema cannot
                encode (the first such row: a missing value, a non-numeric value in a numeric
                column, or an unknown category under ``unknown="error"``).
        """
        encoded, problems = self._encode(frame)
        bad = [p for p in problems if p is not None]
        if bad:
            others = len(bad) - 1
            plural = "s" if others > 1 else ""
            more = f" (and {others} more failing row{plural}: see check_rows)" if others else ""
            raise ValueError(bad[0] + more)
        return encoded

    def check_rows(self, frame: pd.DataFrame) -> list[str | None]:
        """Per row, in order: why :meth:`encode` would refuse it, or ``None`` if it encodes.

        Raises what concerns the whole frame (not a DataFrame, missing columns, no rows).
        """
        return self._encode(frame)[1]

    def decode(self, encoded: np.ndarray) -> pd.DataFrame:
        """Encoded rows (rows, :attr:`width`) back to the source columns.

        Numeric columns are un-standardised; a categorical group becomes its largest entry's
        category (the mode for a frequency vector), ``None`` where the group is all zero.
        """
        values = np.asarray(encoded, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.width:
            raise ValueError(f"expected shape (rows, {self.width}), got {values.shape}")
        decoded: dict[str, Any] = {}
        for feature, indices in zip(self.features, self.groups.values(), strict=True):
            block = values[:, list(indices)]
            if isinstance(feature, NumericColumn):
                decoded[feature.name] = block[:, 0] * feature.std + feature.mean
            else:
                picked = [feature.categories[i] for i in block.argmax(axis=1)]
                empty = ~(block != 0).any(axis=1)
                decoded[feature.name] = [
                    None if e else p for p, e in zip(picked, empty, strict=True)
                ]
        return pd.DataFrame(decoded)

    # --- JSON ---

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; :meth:`from_dict` rebuilds the same schema."""
        columns: list[dict[str, Any]] = []
        for feature in self.features:
            if isinstance(feature, NumericColumn):
                columns.append(
                    {"name": feature.name, "kind": "numeric", "mean": feature.mean}
                    | {"std": feature.std, "median": feature.median}
                )
            else:
                columns.append(
                    {"name": feature.name, "kind": "categorical"}
                    | {"categories": list(feature.categories)}
                    | {"frequencies": list(feature.frequencies)}
                )
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "target": self.target,
            "unknown": self.unknown,
            "columns": columns,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TabularSchema:
        """The schema :meth:`to_dict` described.

        Raises:
            ValueError: not a schema description, or one with a column it cannot read.
        """
        if not isinstance(data, Mapping) or data.get("format") != _FORMAT:
            raise ValueError(f"not a tabular schema: expected a mapping with format {_FORMAT!r}")
        if data.get("version") != _VERSION:
            raise ValueError(f"unsupported schema version {data.get('version')!r}")
        try:
            features = tuple(_column_from_dict(c) for c in data["columns"])
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed schema column: {error!r}") from None
        return cls(features, data.get("target"), data.get("unknown", "error"))


def _column_from_dict(data: Mapping[str, Any]) -> Column:
    if data["kind"] == "numeric":
        return NumericColumn(
            str(data["name"]), float(data["mean"]), float(data["std"]), float(data["median"])
        )
    if data["kind"] == "categorical":
        categories, frequencies = tuple(data["categories"]), tuple(data["frequencies"])
        if len(categories) != len(frequencies):
            raise ValueError(
                f"column {data['name']!r}: categories and frequencies differ in length"
            )
        return CategoricalColumn(str(data["name"]), categories, tuple(map(float, frequencies)))
    raise ValueError(f"column {data.get('name')!r} has an unknown kind {data['kind']!r}")
