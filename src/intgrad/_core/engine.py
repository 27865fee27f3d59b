"""One attribution call from start to finish, framework-free: resolve, integrate, check, report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.adaptive import AdaptiveSettings, integrate_adaptive, max_nodes
from intgrad._core.backend import Backend, PathEvaluator
from intgrad._core.baselines import BaselineRule, resolve_baselines
from intgrad._core.integrate import (
    accumulate_rows,
    balanced_chunk_rows,
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
        rule: the quadrature rule's alphas and weights (unused when ``adaptive`` is set).
        adaptive: the stopping rule of ``steps="auto"``, or ``None`` for the fixed rule.
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
    adaptive: AdaptiveSettings | None
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


def _count_elements(inputs: tuple[Any, ...]) -> tuple[int, int]:
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

    def finish(self) -> None:
        """Report completion (the adaptive mode may stop before its planned total)."""
        if self.report is not None and self.done != self.total:
            self.report(self.done, self.done)


@dataclass(frozen=True)
class _BaselineOutcome:
    """One baseline's attributions and checks; arrays have shape (examples,)."""

    attributions: tuple[Any, ...]
    sums: np.ndarray
    f_input: np.ndarray | None
    f_baseline: np.ndarray | None
    steps: np.ndarray
    forward_evaluations: int
    estimated_error: np.ndarray | None
    path: PathRecord | None


def _fixed_rule(
    evaluator: PathEvaluator,
    request: AttributionRequest,
    rule: QuadratureRule,
    num_examples: int,
    chunk_rows: int,
    progress: _ProgressCounter,
) -> _BaselineOutcome:
    rows = rule_rows(num_examples, rule)
    state, record = accumulate_rows(
        evaluator, evaluator.zeros(), rows, chunk_rows, request.return_path, progress
    )
    attributions, sums = evaluator.finish(state)
    f_input = f_baseline = None
    if request.compute_delta:
        f_input, f_baseline = endpoint_outputs(evaluator, num_examples, chunk_rows)
    return _BaselineOutcome(
        attributions=attributions,
        sums=sums,
        f_input=f_input,
        f_baseline=f_baseline,
        steps=np.full(num_examples, rule.alphas.shape[0], dtype=np.int64),
        forward_evaluations=2 if request.compute_delta else 0,
        estimated_error=None,
        path=None if record is None else path_record(rows, record, num_examples),
    )


def _adaptive(
    evaluator: PathEvaluator,
    request: AttributionRequest,
    settings: AdaptiveSettings,
    num_examples: int,
    chunk_rows: int,
    progress: _ProgressCounter,
) -> _BaselineOutcome:
    outcome = integrate_adaptive(
        evaluator, num_examples, settings, chunk_rows, request.return_path, progress
    )
    attributions, sums = evaluator.finish(outcome.state)
    return _BaselineOutcome(
        attributions=attributions,
        sums=sums,
        f_input=outcome.f_input,
        f_baseline=outcome.f_baseline,
        steps=outcome.steps,
        forward_evaluations=outcome.forward_evaluations,
        estimated_error=outcome.estimated_error,
        path=outcome.path,
    )


def _planned_rows(request: AttributionRequest, num_examples: int) -> int:
    """Gradient evaluations the call will make at most, all examples of one baseline."""
    if request.adaptive is not None:
        return num_examples * max_nodes(request.adaptive.max_steps)
    return num_examples * request.rule.alphas.shape[0]


def _attribute_baseline(
    backend: Backend,
    model_fn: Callable[..., Any],
    inputs: tuple[Any, ...],
    rules: tuple[BaselineRule, ...],
    request: AttributionRequest,
    chunk_rows: int,
    progress: _ProgressCounter,
) -> _BaselineOutcome:
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
    num_examples = int(inputs[0].shape[0])
    if request.adaptive is not None:
        outcome = _adaptive(
            evaluator, request, request.adaptive, num_examples, chunk_rows, progress
        )
    else:
        outcome = _fixed_rule(evaluator, request, request.rule, num_examples, chunk_rows, progress)
    _check_finite("attributions", outcome.sums)
    if outcome.f_input is not None and outcome.f_baseline is not None:
        _check_finite(
            "model outputs at the input and baseline",
            np.stack([outcome.f_input, outcome.f_baseline]),
        )
    return outcome


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
    num_examples, features = _count_elements(inputs)
    baseline_rules = resolve_baselines(request.baselines, len(inputs), request.seed)
    planned = _planned_rows(request, num_examples)
    most_rows = request.batch_size or default_chunk_rows(
        features, planned, backend.chunk_elements(inputs)
    )
    # The adaptive mode's plan is only an upper bound: even chunks over it would mean nothing.
    chunk_rows = (
        min(most_rows, planned)
        if request.adaptive is not None
        else balanced_chunk_rows(most_rows, planned)
    )
    progress = _ProgressCounter(request.progress, planned * len(baseline_rules))
    outcomes = [
        _attribute_baseline(backend, model_fn, inputs, rules, request, chunk_rows, progress)
        for rules in baseline_rules
    ]
    progress.finish()
    return _combine(backend, outcomes, request, baseline_rules)


def _combine(
    backend: Backend,
    outcomes: list[_BaselineOutcome],
    request: AttributionRequest,
    baseline_rules: list[tuple[BaselineRule, ...]],
) -> Attribution:
    """One :class:`Attribution` from the outcomes of every baseline (attributions averaged)."""
    first = outcomes[0]
    attributions = (
        first.attributions
        if len(outcomes) == 1
        else backend.mean([o.attributions for o in outcomes])
    )
    deltas = f_baseline = None
    if first.f_input is not None:
        f_baselines = np.stack([o.f_baseline for o in outcomes if o.f_baseline is not None])
        deltas = np.stack([o.sums for o in outcomes]) - (first.f_input - f_baselines)
        f_baseline = f_baselines.mean(axis=0)
    steps = np.sum([o.steps for o in outcomes], axis=0)
    errors = [o.estimated_error for o in outcomes if o.estimated_error is not None]
    return Attribution(
        attributions=attributions,
        delta=None if deltas is None else deltas.mean(axis=0),
        f_input=first.f_input,
        f_baseline=f_baseline,
        baseline_deltas=deltas,
        attribution_sums=np.mean([o.sums for o in outcomes], axis=0),
        steps=int(steps.max()),
        forward_evaluations=sum(o.forward_evaluations for o in outcomes),
        method=request.method,
        target=request.targets,
        baselines=tuple(
            "+".join(sorted({r.describe() for r in rules})) for rules in baseline_rules
        ),
        paths=tuple(o.path for o in outcomes if o.path is not None),
        estimated_error=np.max(errors, axis=0) if errors else None,
        steps_per_example=steps,
    )
