"""Integrated Gradients of tabular classifiers, per encoded column and per source column.

The rows are encoded by the model's schema and go through *one* attribution call of a session
kept by the explainer, so all rows share the model calls along the path (chunks of path
points of many rows at once; ``batch_size`` bounds the rows per forward pass). A baseline of K
references (``sample:K``) tiles the rows K times — each copy with its own reference — in that
same one call, so it costs one call of K× the rows, not K calls. The attributions of each
categorical column's one-hot group are summed, so completeness holds per source column.

References:
    Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from intgrad._core.result import Attribution
from intgrad._core.session import Explainer
from intgrad._core.targets import resolve_target
from intgrad.tabular._frameworks import (
    AffineHead,
    affine_head,
    forward_logits,
    to_native,
    to_numpy,
)
from intgrad.tabular.baselines import (
    Background,
    TabularBaseline,
    reference_mean,
    resolve_baseline,
    tile_references,
)
from intgrad.tabular.explanation import TabularExplanation
from intgrad.tabular.models import TabularModel, as_tabular_model, load_tabular_model
from intgrad.tabular.schema import TabularSchema

__all__ = [
    "TABULAR_OUTPUTS",
    "RowAttributions",
    "TabularExplainer",
    "as_frame",
    "default_batch_size",
    "explain_table",
    "resolve_target",
]

TABULAR_OUTPUTS: tuple[str, ...] = ("probability", "logit")
"""What F is: the target's softmax probability (default) or its logit (the raw output)."""

Target = int | str | None
_STATISTICS = ("mean", "median", "zeros")  # baselines that depend on the background alone
_PATH_ROWS = 4096  # tabular models are small: big chunks amortise the per-call overhead
_PATH_ELEMENTS = 2**22  # at most 16 MiB of float32 path points per chunk


def default_batch_size(width: int) -> int:
    """Path rows per model call when ``batch_size`` is not given: 4096, fewer for wide rows."""
    return max(1, min(_PATH_ROWS, _PATH_ELEMENTS // max(1, width)))


def as_frame(
    data: object, schema: TabularSchema, feature_names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Rows as a DataFrame: a DataFrame as it is, a Series or dict as one row, an array by names.

    Args:
        data: a DataFrame; a Series or a mapping (one row); or an array of shape (rows,
            columns) or (columns,) of raw feature values.
        schema: its ``columns`` name an array's columns when ``feature_names`` is not given.
        feature_names: the names of an array's columns.
    """
    if isinstance(data, pd.DataFrame):
        if feature_names is not None:
            raise ValueError("feature_names names an array's columns; a DataFrame has its own")
        return data
    if isinstance(data, pd.Series):
        return data.to_frame().T
    if isinstance(data, Mapping):
        return pd.DataFrame([dict(data)])
    array = np.asarray(data)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(f"an array of rows must have shape (rows, columns), got {array.shape}")
    names = list(feature_names) if feature_names is not None else list(schema.columns)
    if len(names) != array.shape[1]:
        raise ValueError(
            f"the array has {array.shape[1]} columns but {len(names)} feature names"
            + ("" if feature_names is not None else " (the schema's columns): pass feature_names")
        )
    return pd.DataFrame(array, columns=names)


def _targets(target: object, predicted: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    rows, classes = predicted.size, len(labels)
    if target is None or isinstance(target, (str, int, np.integer)):
        value = None if target is None else resolve_target(target, labels, classes)
        return predicted.copy() if value is None else np.full(rows, value, dtype=np.int64)
    given = list(target) if isinstance(target, (Sequence, np.ndarray, pd.Series)) else None
    if given is None:
        raise TypeError(f"target must be an index, a label, or one per row; got {target!r}")
    if len(given) != rows:
        raise ValueError(f"got {len(given)} targets for {rows} rows")
    return np.array(
        [
            predicted[i] if t is None else resolve_target(t, labels, classes)
            for i, t in enumerate(given)
        ],
        dtype=np.int64,
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _merge_references(
    result: Attribution, baseline: TabularBaseline, rows: int, mean: np.ndarray
) -> Attribution:
    """One call's result over references × rows as the rows' result (see the explanation)."""
    count = baseline.count

    def per(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.asarray(values).reshape(count, rows)

    deltas, steps = per(result.delta), per(result.steps_per_example)
    f_baseline, estimated = per(result.f_baseline), per(result.estimated_error)
    f_input, sums = per(result.f_input), per(result.attribution_sums)
    assert sums is not None
    targets = None if result.target is None else result.target[:rows]
    return Attribution(
        attributions=mean,
        delta=None if deltas is None else deltas.mean(axis=0),
        f_input=None if f_input is None else f_input[0],
        f_baseline=None if f_baseline is None else f_baseline.mean(axis=0),
        baseline_deltas=deltas,
        attribution_sums=sums.mean(axis=0),
        steps=result.steps * count if steps is None else int(steps.sum(axis=0).max()),
        forward_evaluations=result.forward_evaluations * count,
        method=result.method,
        target=targets,
        baselines=baseline.labels,
        estimated_error=None if estimated is None else estimated.max(axis=0),
        steps_per_example=None if steps is None else steps.sum(axis=0),
    )


class RowAttributions(NamedTuple):
    """What :meth:`TabularExplainer.explain_arrays` returns: one entry per row, in row order.

    Attributes:
        attributions: shape (rows, source columns), float64: the attributions per source
            column (a one-hot group summed), in the schema's column order.
        target, predicted: shape (rows,), int64: the explained and the most probable class.
        f_input, f_baseline, delta: shape (rows,), float64: F(x), F(x′) (the mean over the
            references of a sampled baseline) and the completeness gap.
    """

    attributions: np.ndarray
    target: np.ndarray
    predicted: np.ndarray
    f_input: np.ndarray
    f_baseline: np.ndarray
    delta: np.ndarray


class _Run(NamedTuple):
    """One explanation call's inputs and raw result, before it is shaped into frames."""

    frame: pd.DataFrame
    logits: np.ndarray
    labels: tuple[str, ...]
    targets: np.ndarray
    baseline: TabularBaseline
    per_reference: np.ndarray
    raw: Attribution
    seconds: float


class TabularExplainer:
    """Integrated Gradients of one tabular classifier, for many calls.

    Args:
        model: a :class:`~intgrad.tabular.TabularModel`, a model name or saved path (see
            :func:`~intgrad.tabular.load_tabular_model`), or a model of encoded rows — a
            ``torch.nn.Module``, a Keras model or a JAX pair ``(apply_fn, params)`` — with
            ``schema``. It maps (rows, ``schema.width``) float32 to (rows, classes). Never
            modified.
        schema: the encoding of a model object (replaces a TabularModel's when given).
        labels: the class names of a model object; default ``"0"``, ``"1"``, ... .
        background: training rows for the baselines' statistics and ``sample:K`` draws;
            default: the model's own background, or for ``"mean"`` and ``"median"`` the
            schema's training statistics.
        output: ``"probability"`` (default: the target's softmax probability) or ``"logit"``.
    """

    def __init__(
        self,
        model: Any = "adult-mlp",
        *,
        schema: TabularSchema | None = None,
        labels: Sequence[str] | None = None,
        background: pd.DataFrame | None = None,
        output: Literal["probability", "logit"] = "probability",
    ) -> None:
        if output not in TABULAR_OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(TABULAR_OUTPUTS)}, got {output!r}")
        if isinstance(model, str) or hasattr(model, "__fspath__"):
            model = load_tabular_model(model)
        self.model: TabularModel = as_tabular_model(model, schema, labels)
        self.schema = self.model.schema
        self.output = output
        self.session = Explainer(
            self.model.module,
            backend=self.model.framework,
            output="probability" if output == "probability" else None,
        )
        self._head: tuple[AffineHead, Explainer] | None = None
        frame = background if background is not None else self.model.background
        self._background_frame = frame
        self._background: Background | None = None
        self._statistics: dict[str, TabularBaseline] = {}
        self._groups: np.ndarray | None = None
        self._lock = threading.Lock()

    def background(self) -> Background | None:
        """The background rows, encoded on first use (``None`` when there are none)."""
        if self._background_frame is None:
            return None
        with self._lock:
            if self._background is None:
                self._background = Background.of(self._background_frame, self.schema)
            return self._background

    def baseline(self, spec: object, seed: int | None = 0) -> TabularBaseline:
        """A baseline resolved against this explainer's background (the statistics are kept)."""
        background = self.background()
        if not (isinstance(spec, str) and spec in _STATISTICS):
            return resolve_baseline(spec, self.schema, background, seed)
        with self._lock:
            if spec not in self._statistics:
                self._statistics[spec] = resolve_baseline(spec, self.schema, background)
            return self._statistics[spec]

    def _labels(self, classes: int) -> tuple[str, ...]:
        labels = self.model.labels or tuple(str(i) for i in range(classes))
        if len(labels) != classes:
            raise ValueError(f"the model gives {classes} outputs but has {len(labels)} labels")
        return labels

    def _logits(self, encoded: np.ndarray) -> np.ndarray:
        logits = forward_logits(self.model.module, self.model.framework, encoded)
        if self.output == "probability" and logits.shape[1] < 2:
            raise ValueError(
                "the model gives one output per row, whose softmax is always 1: use output='logit'"
            )
        return logits

    def predict(self, data: object, *, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
        """The model's softmax probabilities: (rows, labels), float64, on the rows' index."""
        frame = as_frame(data, self.schema, feature_names)
        logits = self._logits(self.schema.encode(frame))
        return pd.DataFrame(
            _softmax(logits), index=frame.index, columns=self._labels(logits.shape[1])
        )

    def _attribute(
        self,
        encoded: np.ndarray,
        targets: np.ndarray,
        baseline: TabularBaseline,
        options: dict[str, Any],
    ) -> tuple[np.ndarray, Attribution]:
        """Attributions per reference, (references, rows, encoded), and the one call's result."""
        count, rows = baseline.count, encoded.shape[0]
        inputs, starts = (
            (encoded, baseline.references)
            if count == 1
            else tile_references(encoded, baseline.references)
        )
        module, framework = self.model.module, self.model.framework
        native, native_starts = (
            to_native(inputs, framework, module),
            to_native(starts, framework, module),
        )
        # Fixed steps only: "auto" plans its steps on the gradients it integrates.
        split = self.affine_head() if isinstance(options["steps"], int) else None
        if split is None:
            result = self.session.attribute(
                native, baselines=native_starts, target=np.tile(targets, count), **options
            )
            per_reference = to_numpy(result.attributions).astype(np.float64)
        else:  # the same integral, the first layer's products once per row (see AffineHead)
            head, rest = split
            result = rest.attribute(
                head.apply(native),
                baselines=head.apply(native_starts),
                target=np.tile(targets, count),
                **options,
            )
            per_reference = head.input_attributions(result.attributions, native, native_starts)
        return per_reference.reshape(count, rows, -1), result

    def affine_head(self) -> tuple[AffineHead, Explainer] | None:
        """The model split at a first ``nn.Linear`` and a session of the rest, or ``None``.

        A plain torch ``nn.Sequential`` starting with ``nn.Linear`` (the embedded MLPs) is
        explained through :class:`~intgrad.tabular._frameworks.AffineHead`: the same
        attributions, completeness gap and F values, with the first layer's products per row
        rather than per path point, for a fixed number of steps (``"auto"`` plans its steps
        on the integrated gradients, so it explains the whole model). Looked at on every
        call, so a model that gains a hook or a new first layer is explained as it now is.
        """
        current = affine_head(self.model.module, self.model.framework)
        if current is None:
            return None
        with self._lock:
            if self._head is None or not self._head[0].same_modules(current):
                rest = Explainer(
                    current.rest,
                    backend="torch",
                    output=self.session.output,
                    multiply_by_inputs=False,
                )
                self._head = (current, rest)
            return self._head

    def _run(
        self,
        data: object,
        target: Target | Sequence[Target] | np.ndarray,
        baseline: object,
        steps: int | Literal["auto"],
        method: str | None,
        batch_size: int | None,
        seed: int | None,
        feature_names: Sequence[str] | None,
    ) -> _Run:
        """Encode the rows, pick their targets and make the one attribution call."""
        frame = as_frame(data, self.schema, feature_names)
        encoded = self.schema.encode(frame)
        logits = self._logits(encoded)
        labels = self._labels(logits.shape[1])
        targets = _targets(target, np.argmax(logits, axis=1), labels)
        resolved = self.baseline(baseline, seed)
        rows_per_call = default_batch_size(self.schema.width) if batch_size is None else batch_size
        options = {"steps": steps, "method": method, "batch_size": rows_per_call}
        started = time.perf_counter()
        per_reference, raw = self._attribute(encoded, targets, resolved, options)
        seconds = time.perf_counter() - started
        return _Run(frame, logits, labels, targets, resolved, per_reference, raw, seconds)

    def explain(
        self,
        data: object,
        *,
        target: Target | Sequence[Target] | np.ndarray = None,
        baseline: object = "median",
        steps: int | Literal["auto"] = 50,
        method: str | None = None,
        batch_size: int | None = None,
        seed: int | None = 0,
        feature_names: Sequence[str] | None = None,
    ) -> TabularExplanation:
        """Explain rows of a table.

        Args:
            data: the rows: a DataFrame with the schema's columns (others are ignored), a
                Series or dict (one row), or an array of raw values with ``feature_names``.
            target: the class to explain — an index or a label, one for all rows or one per
                row; default: each row's predicted class.
            baseline: ``"median"`` (default), ``"mean"``, ``"zeros"``, ``"sample:K"``, or a
                row (see :mod:`intgrad.tabular.baselines`).
            steps: gradient evaluations per row and reference (default 50), or ``"auto"``.
            method: the quadrature rule of a fixed ``steps`` (default Gauss–Legendre).
            batch_size: path rows per model call, to bound memory; default:
                :func:`default_batch_size` (4096 for up to 1024 encoded columns).
            seed: the seed of a ``sample:K`` draw.
            feature_names: the names of an array's columns.

        Raises:
            ValueError: a row the schema cannot encode (see ``TabularSchema.check_rows``), an
                unknown target or baseline.
        """
        run = self._run(data, target, baseline, steps, method, batch_size, seed, feature_names)
        return self._explanation(run)

    def explain_arrays(
        self,
        data: object,
        *,
        target: Target | Sequence[Target] | np.ndarray = None,
        baseline: object = "median",
        steps: int | Literal["auto"] = 50,
        method: str | None = None,
        batch_size: int | None = None,
        seed: int | None = 0,
        feature_names: Sequence[str] | None = None,
    ) -> RowAttributions:
        """:meth:`explain` as plain arrays, without building DataFrames (for dataset jobs).

        Arguments and errors as :meth:`explain`; the values are the same numbers as its
        explanation's ``attributions``, ``target``, ``predicted``, ``f_input``,
        ``f_baseline`` and ``delta``.
        """
        run = self._run(data, target, baseline, steps, method, batch_size, seed, feature_names)
        rows = len(run.frame)
        encoded, _, result = self._merged(run)

        def per_row(values: np.ndarray | None) -> np.ndarray:
            return np.full(rows, np.nan) if values is None else np.asarray(values, np.float64)

        return RowAttributions(
            attributions=encoded @ self._group_matrix(),
            target=run.targets.astype(np.int64),
            predicted=np.argmax(_softmax(run.logits), axis=1).astype(np.int64),
            f_input=per_row(result.f_input),
            f_baseline=per_row(result.f_baseline),
            delta=per_row(result.delta),
        )

    def _group_matrix(self) -> np.ndarray:
        with self._lock:
            if self._groups is None:
                self._groups = self.schema.group_matrix()
            return self._groups

    def _merged(self, run: _Run) -> tuple[np.ndarray, np.ndarray | None, Attribution]:
        """The rows' encoded attributions, their standard error (sampled baselines) and result."""
        if run.baseline.sampled:
            encoded, encoded_error = reference_mean(run.per_reference)
            result = _merge_references(run.raw, run.baseline, len(run.frame), encoded)
            return encoded, encoded_error, result
        encoded = run.per_reference[0]
        result = dataclasses.replace(run.raw, attributions=encoded, baselines=run.baseline.labels)
        return encoded, None, result

    def _explanation(self, run: _Run) -> TabularExplanation:
        schema, index, baseline = self.schema, run.frame.index, run.baseline
        groups = self._group_matrix()
        encoded, encoded_error, result = self._merged(run)
        grouped_error = reference_mean(run.per_reference @ groups)[1] if baseline.sampled else None

        def table(values: np.ndarray | None, columns: Sequence[str]) -> pd.DataFrame | None:
            return (
                None if values is None else pd.DataFrame(values, index=index, columns=list(columns))
            )

        attributions = table(encoded @ groups, schema.columns)
        encoded_attributions = table(encoded, schema.encoded_names)
        assert attributions is not None and encoded_attributions is not None
        return TabularExplanation(
            attributions=attributions,
            encoded_attributions=encoded_attributions,
            values=run.frame[list(schema.columns)].copy(),
            standard_error=table(grouped_error, schema.columns),
            encoded_standard_error=table(encoded_error, schema.encoded_names),
            probabilities=pd.DataFrame(_softmax(run.logits), index=index, columns=list(run.labels)),
            target=pd.Series(run.targets, index=index, dtype=np.int64),
            labels=run.labels,
            baseline=baseline.name,
            references=baseline.references,
            output=self.output,
            model=self.model.name,
            result=result,
            seconds=run.seconds,
        )


def explain_table(
    data: object,
    model: Any = "adult-mlp",
    *,
    schema: TabularSchema | None = None,
    labels: Sequence[str] | None = None,
    background: pd.DataFrame | None = None,
    output: Literal["probability", "logit"] = "probability",
    **options: Any,
) -> TabularExplanation:
    """Explain rows with a one-shot :class:`TabularExplainer`; ``options`` as its ``explain``.

    Example::

        rows = load_adult("test").head(5)
        explanation = explain_table(rows, baseline="median")
        print(explanation.attributions.round(3))
    """
    explainer = TabularExplainer(
        model, schema=schema, labels=labels, background=background, output=output
    )
    return explainer.explain(data, **options)
