"""One attribution call from start to finish, framework-free: resolve, integrate, check, report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.backend import Backend, PathEvaluator
from intgrad._core.baselines import resolve_baselines
from intgrad._core.integrate import (
    accumulate_rows,
    default_chunk_rows,
    endpoint_outputs,
    path_record,
    rule_rows,
)
from intgrad._core.quadrature import QuadratureRule
from intgrad._core.result import Attribution, PathRecord

__all__ = ["AttributionRequest", "normalise_targets", "run"]


@dataclass(frozen=True)
class AttributionRequest:
    """Everything one call needs besides the model and the inputs (all validated).

    Attributes:
        rule: the quadrature rule's alphas and weights.
        method: the rule's name, reported back.
        baselines: the user's ``baselines`` argument, unresolved.
        targets: shape (examples,), int64, or ``None`` for single-output models.
        batch_size: rows (examples × alphas) per model call, or ``None`` for the default.
        additional_forward_args: extra positional arguments for the model.
        output: ``None`` (raw), ``"probability"`` (softmax) or a callable on the outputs.
        compute_delta: whether to run the completeness check.
        return_path: whether to record outputs and mean gradients along the path.
        seed: seed for named random baselines.
        progress: called as ``progress(done, total)`` in gradient evaluations after each chunk.
    """

    rule: QuadratureRule
    method: str
    baselines: object
    targets: np.ndarray | None
    batch_size: int | None
    additional_forward_args: tuple[Any, ...]
    output: str | Callable[[Any], Any] | None
    compute_delta: bool
    return_path: bool
    seed: int | None
    progress: Callable[[int, int], None] | None = None


def normalise_targets(target: object, num_examples: int, backend: Backend) -> np.ndarray | None:
    """``target`` as int64 of shape (examples,), or ``None``; ``ValueError`` when malformed."""
    if target is None:
        return None
    if isinstance(target, bool):
        raise TypeError("target must be an int, a sequence of ints or None, got a bool")
    if isinstance(target, (int, np.integer)):
        values = np.full(num_examples, int(target), dtype=np.int64)
    else:
        array = backend.to_numpy(target) if backend.is_native(target) else np.asarray(target)
        if array.ndim != 1 or array.shape[0] != num_examples:
            raise ValueError(
                f"target must be an int or have one entry per example ({num_examples}); "
                f"got shape {tuple(array.shape)}"
            )
        if not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"target entries must be integers, got dtype {array.dtype}")
        values = array.astype(np.int64)
    if (values < 0).any():
        raise ValueError(f"target must be >= 0, got {values.min()}")
    return values


def _count_elements(backend: Backend, inputs: tuple[Any, ...]) -> tuple[int, int]:
    num_examples = int(inputs[0].shape[0])
    features = sum(int(np.prod(x.shape[1:])) for x in inputs)
    return num_examples, features


def _check_finite(name: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"{name} contain NaN or inf for example(s) {bad.tolist()[:10]}: the model's outputs "
            "or gradients are not finite along the path"
        )


class _ProgressCounter:
    """Turns per-chunk row counts into ``progress(done, total)`` calls."""

    def __init__(self, report: Callable[[int, int], None] | None, total: int) -> None:
        self.report, self.total, self.done = report, total, 0

    def __call__(self, rows: int) -> None:
        self.done += rows
        if self.report is not None:
            self.report(self.done, self.total)


def _one_baseline(
    evaluator: PathEvaluator,
    request: AttributionRequest,
    num_examples: int,
    chunk_rows: int,
    progress: _ProgressCounter,
) -> tuple[tuple[Any, ...], np.ndarray, PathRecord | None]:
    rows = rule_rows(num_examples, request.rule)
    state, record = accumulate_rows(
        evaluator, evaluator.zeros(), rows, chunk_rows, request.return_path, progress
    )
    attributions, sums = evaluator.finish(state)
    path = None if record is None else path_record(rows, record, num_examples)
    return attributions, sums, path


def run(
    backend: Backend,
    model_fn: Callable[..., Any],
    inputs: tuple[Any, ...],
    request: AttributionRequest,
) -> Attribution:
    """Integrated Gradients of ``inputs`` under ``model_fn`` (already guarded by the backend).

    Returns:
        An :class:`Attribution` whose ``attributions`` is a tuple with one tensor per input.
    """
    num_examples, features = _count_elements(backend, inputs)
    steps = request.rule.alphas.shape[0]
    total_rows = num_examples * steps
    chunk_rows = min(request.batch_size or default_chunk_rows(features, total_rows), total_rows)
    baseline_rules = resolve_baselines(request.baselines, len(inputs), request.seed)
    progress = _ProgressCounter(request.progress, num_examples * steps * len(baseline_rules))

    per_baseline, sums, deltas, f_inputs, f_baselines, paths = [], [], [], [], [], []
    for rules in baseline_rules:
        baselines = tuple(backend.make_baseline(r, x) for r, x in zip(rules, inputs, strict=True))
        evaluator = backend.evaluator(
            model_fn,
            inputs,
            baselines,
            request.targets,
            request.output,
            request.additional_forward_args,
            chunk_rows,
        )
        attributions, attribution_sum, path = _one_baseline(
            evaluator, request, num_examples, chunk_rows, progress
        )
        _check_finite("attributions", attribution_sum)
        per_baseline.append(attributions)
        sums.append(attribution_sum)
        if path is not None:
            paths.append(path)
        if request.compute_delta:
            f_input, f_baseline = endpoint_outputs(evaluator, num_examples, chunk_rows)
            _check_finite(
                "model outputs at the input and baseline", np.stack([f_input, f_baseline])
            )
            f_inputs.append(f_input)
            f_baselines.append(f_baseline)
            deltas.append(attribution_sum - (f_input - f_baseline))

    attributions = per_baseline[0] if len(per_baseline) == 1 else backend.mean(per_baseline)
    baseline_deltas = np.stack(deltas) if deltas else None
    return Attribution(
        attributions=attributions,
        delta=None if baseline_deltas is None else baseline_deltas.mean(axis=0),
        f_input=f_inputs[0] if f_inputs else None,
        f_baseline=np.mean(f_baselines, axis=0) if f_baselines else None,
        baseline_deltas=baseline_deltas,
        attribution_sums=np.mean(sums, axis=0),
        steps=steps * len(baseline_rules),
        forward_evaluations=2 * len(baseline_rules) if request.compute_delta else 0,
        method=request.method,
        target=request.targets,
        baselines=tuple(
            "+".join(sorted({r.describe() for r in rules})) for rules in baseline_rules
        ),
        paths=tuple(paths),
    )
