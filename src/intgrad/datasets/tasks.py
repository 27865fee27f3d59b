"""What a dataset job does with one shard, per modality: explain it through the public API.

A task turns a :class:`~intgrad.datasets.sources.Batch` into
:class:`~intgrad.datasets.records.ExampleResults`: rows of a table (per source column), texts
(per word) or images (per cell of a reduced attribution map). A task is picklable — a Ray
worker receives it whole and builds its own explanation session on first use — and its
``settings()`` are part of a job's identity, so a resumed job cannot mix settings.

An example that cannot be explained (a bad row, an empty text, an unreadable image) gets its
one-line error and the others go on: a batch that fails as a whole is retried one example at a
time to find the culprit. Non-finite outputs are caught once for every task, by
:meth:`~intgrad.datasets.job.ShardJob.run`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from intgrad.datasets.records import ExampleResults
from intgrad.datasets.sources import Batch

__all__ = ["DatasetTask", "ImageTask", "TabularTask", "TextTask", "reduce_map"]

FeatureKind = Literal["columns", "tokens", "cells"]
_EXPLAIN_ERRORS = (ValueError, RuntimeError, FloatingPointError)


class DatasetTask(Protocol):
    """Explains one shard of a dataset."""

    kind: FeatureKind

    def settings(self) -> dict[str, Any]:
        """JSON-ready settings that identify the job (model, baseline, steps, ...)."""
        ...

    def explain(self, batch: Batch) -> ExampleResults:
        """One entry per example of ``batch``, failed examples with their error."""
        ...


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'failed'}"


def isolate_failures(
    explain: Callable[[list[int]], None], candidates: list[int], errors: list[str | None]
) -> None:
    """Run ``explain(indices)`` on all candidates; if it raises, on each alone, noting errors."""
    if not candidates:
        return
    try:
        explain(candidates)
        return
    except _EXPLAIN_ERRORS as error:
        if len(candidates) == 1:
            errors[candidates[0]] = _one_line(error)
            return
    for index in candidates:
        try:
            explain([index])
        except _EXPLAIN_ERRORS as error:
            errors[index] = _one_line(error)


class _Lazy:
    """A task's explanation session: built on first use, never pickled (a worker builds its own)."""

    def __init__(self) -> None:
        self._session: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_session"], state["_lock"] = None, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def session(self, build: Callable[[], Any]) -> Any:
        with self._lock:
            if self._session is None:
                self._session = build()
            return self._session


class TextTask(_Lazy):
    """Explain texts per word with :class:`intgrad.text.TextExplainer`.

    Args:
        model: a :class:`~intgrad.text.TextModel`, a name or a Hugging Face directory; default
            the embedded sentiment classifier.
        baseline, steps, method, target, texts_per_call, batch_size: as in
            :meth:`intgrad.text.TextExplainer.explain`.
        lowercase: fold words to lower case before they are summarised (``Great`` and
            ``great`` are one token of the global importance).
    """

    kind: FeatureKind = "tokens"

    def __init__(
        self,
        model: Any = None,
        *,
        baseline: str = "pad",
        steps: int | Literal["auto"] = 32,
        method: str | None = None,
        target: object = None,
        texts_per_call: int = 32,
        batch_size: int | None = None,
        lowercase: bool = True,
    ) -> None:
        super().__init__()
        from intgrad.text import load_text_model

        self.model = (
            load_text_model(model) if model is None or isinstance(model, (str, Path)) else model
        )
        self.baseline, self.steps, self.method, self.target = baseline, steps, method, target
        self.texts_per_call, self.batch_size, self.lowercase = texts_per_call, batch_size, lowercase

    def settings(self) -> dict[str, Any]:
        return {
            "task": "text",
            "model": self.model.name,
            "baseline": self.baseline,
            "steps": self.steps,
            "method": self.method,
            "target": None if self.target is None else str(self.target),
            "lowercase": self.lowercase,
            "labels": list(self.model.labels),
        }

    def explain(self, batch: Batch) -> ExampleResults:
        from intgrad.text import TextExplainer

        texts = list(batch.items)
        errors: list[str | None] = [_text_error(t) for t in texts]
        results = ExampleResults.empty(batch.positions, batch.ids, errors)
        errors = results.errors  # failures found below are the results' own
        results.tokens = [() for _ in texts]
        results.token_attributions = [np.zeros(0) for _ in texts]
        explainer = self.session(lambda: TextExplainer(self.model))

        def explain(indices: list[int]) -> None:
            explained = explainer.explain(
                [texts[i] for i in indices],
                target=self.target,
                baseline=self.baseline,
                steps=self.steps,
                method=self.method,
                texts_per_call=self.texts_per_call,
                batch_size=self.batch_size,
            )
            for index, explanation in zip(indices, explained, strict=True):
                _fill_text(results, index, explanation, self.lowercase)

        isolate_failures(explain, [i for i, e in enumerate(errors) if e is None], errors)
        return results


def _text_error(text: object) -> str | None:
    if not isinstance(text, str):
        return f"TypeError: a text must be a string, got {type(text).__name__}"
    return None if text.strip() else "ValueError: empty text"


def _fill_text(results: ExampleResults, index: int, explanation: Any, lowercase: bool) -> None:
    words = [w for w in explanation.words if not w.special]
    assert results.tokens is not None and results.token_attributions is not None
    results.tokens[index] = tuple(w.text.lower() if lowercase else w.text for w in words)
    results.token_attributions[index] = np.array([w.attribution for w in words], np.float64)
    results.target[index] = explanation.target
    results.target_label[index] = explanation.target_label
    results.predicted[index] = explanation.predicted
    results.predicted_label[index] = explanation.predicted_label
    _fill_outputs(results, index, explanation.result)


def _fill_outputs(results: ExampleResults, index: int, result: Any) -> None:
    """F(x), F(x′) and the gap of a one-example result (non-finite ones: see ShardJob.run)."""
    results.f_input[index] = float(result.f_input[0])
    results.f_baseline[index] = float(result.f_baseline[0])
    results.delta[index] = float(result.delta[0])


def reduce_map(attributions: np.ndarray, cells: int) -> np.ndarray:
    """Sum an image's attributions, shape (height, width, channels), into (cells, cells).

    Sums (not means) so the cells still add up to the total attribution: completeness holds
    over the reduced map. Rows and columns are split as evenly as ``np.array_split`` does.
    """
    if cells < 1:
        raise ValueError(f"cells must be >= 1, got {cells}")
    plane = np.asarray(attributions, np.float64)
    plane = plane.sum(axis=-1) if plane.ndim == 3 else plane
    height, width = plane.shape
    if cells > min(height, width):
        raise ValueError(f"cannot reduce a {height}×{width} map to {cells}×{cells} cells")
    rows = np.array_split(np.arange(height), cells)
    columns = np.array_split(np.arange(width), cells)
    row_sums = np.add.reduceat(plane, [r[0] for r in rows], axis=0)
    return np.add.reduceat(row_sums, [c[0] for c in columns], axis=1)


def cell_names(cells: int) -> tuple[str, ...]:
    """The features of a reduced map: ``"r{row}c{col}"``, row-major."""
    return tuple(f"r{r}c{c}" for r in range(cells) for c in range(cells))


class ImageTask(_Lazy):
    """Explain images with one :class:`intgrad.images.ImageExplainer`, kept as reduced maps.

    Args:
        model: a loaded image model or a spec (default the embedded EfficientNet-Lite0).
        baseline, steps, method, target, batch_size: as in
            :meth:`intgrad.images.ImageExplainer.explain`.
        cells: the reduced map's side: each image's attributions are summed over channels
            and into ``cells × cells`` blocks (default 14: 16 × 16 pixel blocks at 224).
    """

    kind: FeatureKind = "cells"

    def __init__(
        self,
        model: Any = "efficientnet-lite0",
        *,
        baseline: str = "black",
        steps: int | Literal["auto"] = 32,
        method: str | None = None,
        target: int | str | None = None,
        batch_size: int | None = None,
        cells: int = 14,
    ) -> None:
        super().__init__()
        from intgrad.images import load_image_model

        self.model = load_image_model(model) if isinstance(model, str) else model
        self.baseline, self.steps, self.method, self.target = baseline, steps, method, target
        self.batch_size, self.cells = batch_size, int(cells)
        reduce_map(np.zeros((*self.model.input_size, 3)), self.cells)

    def settings(self) -> dict[str, Any]:
        return {
            "task": "images",
            "model": self.model.name,
            "baseline": self.baseline,
            "steps": self.steps,
            "method": self.method,
            "target": None if self.target is None else str(self.target),
            "cells": self.cells,
            "map_shape": [self.cells, self.cells],
        }

    def explain(self, batch: Batch) -> ExampleResults:
        from intgrad.images import ImageExplainer, load_image

        explainer: ImageExplainer = self.session(lambda: ImageExplainer(self.model))
        images: list[np.ndarray | None] = []
        errors: list[str | None] = []
        for item in batch.items:
            try:
                images.append(item if isinstance(item, np.ndarray) else load_image(item))
                errors.append(None)
            except (ValueError, OSError) as error:
                images.append(None)
                errors.append(_one_line(error))
        results = ExampleResults.empty(batch.positions, batch.ids, errors)
        errors = results.errors  # failures found below are the results' own
        results.feature_names = cell_names(self.cells)
        results.attributions = np.full((len(images), self.cells**2), np.nan)

        def explain(indices: list[int]) -> None:
            explained = explainer.explain(
                [images[i] for i in indices],  # type: ignore[misc]
                target=self.target,
                steps=self.steps,
                method=self.method,
                baseline=self.baseline,
                batch_size=self.batch_size,
            )
            for index, explanation in zip(indices, explained, strict=True):
                assert results.attributions is not None
                results.attributions[index] = reduce_map(
                    explanation.attributions, self.cells
                ).ravel()
                results.target[index] = explanation.target
                results.target_label[index] = explanation.target_label
                top = explanation.top_k[0]
                results.predicted[index], results.predicted_label[index] = top.index, top.label
                _fill_outputs(results, index, explanation.result)

        isolate_failures(explain, [i for i, e in enumerate(errors) if e is None], errors)
        return results


class TabularTask(_Lazy):
    """Explain table rows per source column with :class:`intgrad.tabular.TabularExplainer`."""

    kind: FeatureKind = "columns"

    def __init__(
        self,
        model: Any = "adult-mlp",
        *,
        baseline: str = "median",
        steps: int | Literal["auto"] = 32,
        method: str | None = None,
        target: object = None,
        batch_size: int | None = None,
        background: Any = None,
    ) -> None:
        super().__init__()
        from intgrad.tabular import load_tabular_model

        self.model = load_tabular_model(model) if isinstance(model, (str, Path)) else model
        self.baseline, self.steps, self.method, self.target = baseline, steps, method, target
        self.batch_size, self.background = batch_size, background

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.model.schema.columns)

    def use_device(self, device: str) -> None:
        """Run a torch model on ``device`` (``"cuda"``, ``"cuda:1"``, ``"cpu"``) from now on.

        The task takes a copy of its model on ``device`` (the model it was given, perhaps the
        process's shared embedded one, stays where it is) and builds its session again; the
        rows follow the model's device. A Keras or JAX model is left where its framework
        placed it.
        """
        if self.model.framework != "torch":
            return
        import copy

        module = copy.deepcopy(self.model.module).to(device)
        with self._lock:
            self.model = dataclasses.replace(self.model, module=module)
            self._session = None

    def settings(self) -> dict[str, Any]:
        return {
            "task": "tabular",
            "model": self.model.name,
            "baseline": self.baseline,
            "steps": self.steps,
            "method": self.method,
            "target": None if self.target is None else str(self.target),
            "columns": list(self.columns),
            "labels": list(self.model.labels),
        }

    def explain(self, batch: Batch) -> ExampleResults:
        from intgrad.tabular import TabularExplainer

        frame = batch.items
        errors: list[str | None] = [None] * len(frame)
        results = ExampleResults.empty(batch.positions, batch.ids, errors)
        errors = results.errors  # failures found below are the results' own
        results.feature_names = self.columns
        results.attributions = np.full((len(frame), len(self.columns)), np.nan)
        results.values = frame.reindex(columns=list(self.columns))
        explainer = self.session(lambda: TabularExplainer(self.model, background=self.background))

        labels = list(self.model.labels)

        def explain(indices: list[int]) -> None:
            every = len(indices) == len(frame)  # the common case: no copy of the rows
            explained = explainer.explain_arrays(
                frame if every else frame.iloc[indices],
                target=self.target,
                baseline=self.baseline,
                steps=self.steps,
                method=self.method,
                batch_size=self.batch_size,
            )
            assert results.attributions is not None
            rows = np.asarray(indices)
            results.attributions[rows] = explained.attributions
            results.target[rows] = explained.target
            results.predicted[rows] = explained.predicted
            results.f_input[rows] = explained.f_input
            results.f_baseline[rows] = explained.f_baseline
            results.delta[rows] = explained.delta
            for row, target, predicted in zip(
                indices, explained.target.tolist(), explained.predicted.tolist(), strict=True
            ):
                results.target_label[row] = labels[target]
                results.predicted_label[row] = labels[predicted]

        try:  # the common case, every row readable: one call, the schema's checks not repeated
            explain(list(range(len(frame))))
        except _EXPLAIN_ERRORS:
            checked = self.model.schema.check_rows(frame)
            errors[:] = [None if e is None else f"ValueError: {e}" for e in checked]
            isolate_failures(explain, [i for i, e in enumerate(errors) if e is None], errors)
        return results


def default_task(kind: str, **options: Any) -> DatasetTask:
    """The task of a modality name: ``"tabular"``, ``"text"`` or ``"images"``."""
    tasks: dict[str, Callable[..., DatasetTask]] = {
        "tabular": TabularTask,
        "text": TextTask,
        "images": ImageTask,
    }
    if kind not in tasks:
        raise ValueError(f"a dataset task is one of {', '.join(tasks)}, got {kind!r}")
    return tasks[kind](**options)
