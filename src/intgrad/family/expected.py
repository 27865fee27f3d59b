"""Expected Gradients: Integrated Gradients averaged over baselines drawn from a background.

For an input x and a background distribution D of references x′,

    EG(x)_i = E_{x′∼D, α∼U(0,1)} [ (x_i − x′_i) · ∂F(x′ + α(x − x′))/∂x_i ]

— the expectation of IG over D, estimated with one gradient per sample (reference and α drawn
together) rather than one path integral per reference. With Gaussian noise on the input it is
Captum's GradientShap (Lundberg & Lee 2017). The K·E samples of a call are K·E engine slots,
one gradient row each, run in blocks of at most ``batch_size`` slots: a block's inputs, drawn
references, noise and attributions exist only while it runs, and its attributions are folded
into running sums per example, so memory is bounded by ``batch_size``, not by K.

References:
    Erion, Janizek, Sturmfels, Lundberg & Lee (2021), "Improving performance of deep learning
    models with axiomatic attribution priors and expected gradients", Nature Machine
    Intelligence 3, 620–631 (eq. 4).
    Lundberg & Lee (2017), "A Unified Approach to Interpreting Model Predictions", NeurIPS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from intgrad._core.backend import Rows
from intgrad._core.loop import Plan, PlanGenerator, PlanReport
from intgrad._core.paths import StraightLine
from intgrad._core.planners import endpoint_rows, path_records
from intgrad._core.primitives import ArrayOps
from intgrad._core.result import Attribution
from intgrad._core.session import Explainer, PathMethod, validate_inputs
from intgrad.family._samples import (
    BlockProgress,
    NoiseDraws,
    Sampled,
    SampleMoments,
    Samples,
    as_tuple,
    block_rows,
    check_samples,
    check_stdevs,
    expand_arguments,
    expand_inputs,
    expand_targets,
    join_rows,
    prepare_inputs,
    reference_rows,
    restructure,
    row_sums,
    take_rows,
)
from intgrad.family._session import as_explainer

__all__ = ["MonteCarloAlphas", "expected_gradients"]


class MonteCarloAlphas:
    """A planner factory: one gradient row per slot at that slot's own α, weight 1.

    With ``compute_delta`` the end points come first (``planners.endpoint_rows``): F at each
    slot's input and at its start, so each sample's completeness gap is known.

    Args:
        alphas: shape (slots,), the path coordinate of each slot, in [0, 1].
    """

    rows_per_slot = 1
    method = "monte_carlo"

    def __init__(self, alphas: np.ndarray) -> None:
        self.alphas = np.asarray(alphas, dtype=np.float64).reshape(-1)

    def __call__(
        self, owners: np.ndarray, num_examples: int, compute_delta: bool, record: bool
    ) -> PlanGenerator:
        if owners.size != self.alphas.size:
            raise ValueError(f"{self.alphas.size} alphas were drawn for {owners.size} slots")
        f_input = f_start = None
        if compute_delta:
            ends = yield Plan(endpoint_rows(owners, num_examples), gradients=False)
            assert ends.outputs is not None
            f_input, f_start = ends.outputs[:num_examples], ends.outputs[num_examples:]
        slots = np.arange(owners.size, dtype=np.int64)
        rows = Rows(
            example_index=owners,
            alphas=self.alphas,
            weights=np.ones(owners.size),
            start_index=slots,
        )
        result = yield Plan(rows, gradients=True)
        return PlanReport(
            f_input=f_input,
            f_start=f_start,
            steps=np.ones(owners.size, dtype=np.int64),
            estimated_error=None,
            forward_evaluations=1 + owners.size // num_examples if compute_delta else 0,
            paths=path_records([rows], [result], owners.size, num_examples) if record else (),
        )


def expected_gradients(
    model: Any,
    inputs: Any,
    *,
    background: Any,
    samples: int = 32,
    stdevs: float | tuple[float, ...] = 0.0,
    target: object = None,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    seed: int | None = None,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    return_delta: bool = True,
    multiply_by_inputs: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Attribution:
    """Attribute the selected output with Expected Gradients (Erion et al. 2021).

    Per example, ``samples`` references are drawn uniformly with replacement from
    ``background`` and one α ∼ U(0, 1) per reference, both from
    ``numpy.random.default_rng(seed)`` (the reference rows first, then the α, then the noise),
    so the draws are the same in every framework. Each sample contributes
    ``(x − x′) · ∂F(x′ + α(x − x′))/∂x``; the attributions are their mean.

    Args:
        model: a model of the inputs' framework, or an :class:`~intgrad.Explainer` (its
            compiled steps are reused; then leave ``backend`` and ``output`` unset).
        inputs: a tensor of shape (examples, ...) or a tuple of such tensors.
        background: the reference distribution: a tensor (rows, ...) per input — of the
            inputs' framework, or NumPy — with the input's per-example shape, or a tuple with
            one per input (all with the same rows; a sample takes the same row of each).
        samples: K, the references (and gradients) per example.
        stdevs: the standard deviation of Gaussian noise added to the input for each sample
            (in the input's units, as Captum's GradientShap), or a tuple with one per input.
        target, batch_size, additional_forward_args, backend, output, progress: as
            :func:`intgrad.integrated_gradients`; ``batch_size`` bounds the rows (samples ×
            examples) per model call and the rows held in memory at once (``None``: the
            engine's default chunk for the inputs' size), ``progress`` counts the K·E gradient
            rows.
        seed: the seed of the draws; ``None`` draws fresh ones.
        return_delta: evaluate F at each sample's input and reference for the completeness
            gap (two forward rows per sample).
        multiply_by_inputs: ``False`` returns the expected gradient without ``(x − x′) ·``
            (Captum's option); ``delta`` still checks the multiplied attributions.

    Returns:
        An :class:`~intgrad.Attribution` with ``algorithm="expected_gradients"``,
        ``method="monte_carlo"``, ``steps`` = K, and ``standard_error``, the standard error of
        the mean per feature (sample standard deviation over the K samples / √K; NaN for
        K = 1). ``delta`` is the mean of the samples' gaps
        ``sum(φ_k) − (F(x_k) − F(x′_k))`` — zero in expectation, not per call —
        ``f_input`` the mean F at the (noisy) inputs, ``f_baseline`` the mean F at the drawn
        references, and ``baseline_deltas`` of shape (K, examples) each sample's gap.

    Raises:
        ValueError: ``samples`` < 1, ``stdevs`` < 0, a background of the wrong shape or
            without rows.
        TypeError: a background of another framework.

    References:
        Erion et al. (2021), Nature Machine Intelligence 3, 620–631.
        Lundberg & Lee (2017), "A Unified Approach to Interpreting Model Predictions".
    """
    explainer = as_explainer(model, backend=backend, output=output)
    return sample_expected_gradients(
        explainer,
        inputs,
        background=background,
        samples=samples,
        stdevs=stdevs,
        target=target,
        batch_size=batch_size,
        additional_forward_args=additional_forward_args,
        seed=seed,
        return_delta=return_delta,
        multiply_by_inputs=multiply_by_inputs,
        progress=progress,
    ).result


def sample_expected_gradients(
    explainer: Explainer,
    inputs: Any,
    *,
    background: Any,
    samples: int,
    stdevs: float | tuple[float, ...],
    target: object,
    batch_size: int | None,
    additional_forward_args: Any,
    seed: int | None,
    return_delta: bool,
    multiply_by_inputs: bool,
    progress: Callable[[int, int], None] | None,
) -> Sampled:
    """:func:`expected_gradients`, with the engine's per-sample results joined from the blocks
    (for the Captum drop-in, whose convergence delta is per sample).

    The K·E slots run in blocks of at most ``batch_size`` (:func:`~intgrad.family._samples.
    block_rows`); each block's attributions are folded into running sums and dropped
    (``Sampled.rows.attributions`` is ``None``; ``Sampled.row_sums`` holds each slot's sum).
    """
    count = check_samples(samples)
    if not isinstance(multiply_by_inputs, bool):
        raise TypeError(f"multiply_by_inputs must be a bool, got {multiply_by_inputs!r}")
    single = not isinstance(inputs, (tuple, list))
    raw = as_tuple(inputs)
    noise = check_stdevs(stdevs, len(raw))
    backend = explainer.resolve_backend(raw)
    # Token ids are fine under a layer, where the path runs in the activations.
    prepared = prepare_inputs(backend, raw, explainer.layer is not None, any(noise))
    plan = Samples(count, validate_inputs(prepared))
    ops = backend.ops(prepared)
    references, rows = reference_rows(backend, ops, background, prepared, "background")
    blocks = plan.blocks(block_rows(batch_size, plan, prepared, backend, ops))
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, rows, size=(plan.samples, plan.examples)).reshape(-1)
    alphas = rng.uniform(0.0, 1.0, size=(plan.samples, plan.examples)).reshape(-1)
    scales = [np.full(plan.examples, s) for s in noise]
    draws = NoiseDraws(rng, prepared, scales, plan, len(blocks) > 1, ops)
    moments = [SampleMoments(plan) for _ in prepared]
    tracker = BlockProgress(progress, plan.rows)
    parts, sums, likes = [], [], None
    for block in blocks:
        method = PathMethod(
            StraightLine(multiply_by_inputs),
            MonteCarloAlphas(alphas[block.span]),
            "expected_gradients",
        )
        part = explainer.run(
            method,
            restructure(draws.add(ops, expand_inputs(ops, prepared, block), block), single),
            baselines=restructure(take_rows(ops, references, drawn[block.span]), single),
            target=expand_targets(target, block, backend.to_numpy),
            batch_size=batch_size,
            additional_forward_args=expand_arguments(
                additional_forward_args, backend.is_native, ops, block
            ),
            return_delta=return_delta,
            progress=tracker.of(block),
        )
        slots = as_tuple(part.attributions)
        for moment, a in zip(moments, slots, strict=True):
            moment.add(ops.to_host(a), block)
        if likes is None:
            likes = take_rows(ops, slots, np.zeros(1))
        sums.append(row_sums(ops, part.attributions))
        parts.append(dataclasses.replace(part, attributions=None))
    per_row = join_rows(parts)
    result = _summary(ops, moments, likes, per_row, plan, rows, single)
    return Sampled(result, per_row, plan, ops, np.concatenate(sums))


def _summary(
    ops: ArrayOps,
    moments: list[SampleMoments],
    likes: Any,
    per_row: Attribution,
    plan: Samples,
    rows: int,
    single: bool,
) -> Attribution:
    """The K·E slots reduced to the examples: means, standard errors, gaps.

    ``likes`` holds one row of each input's attributions, for their dtype and device.
    """
    means = [ops.from_host(m.mean(), like=like) for m, like in zip(moments, likes, strict=True)]
    errors = [m.standard_error() for m in moments]
    gaps = None if per_row.baseline_deltas is None else plan.by_sample(per_row.baseline_deltas[0])
    assert per_row.steps_per_example is not None
    return Attribution(
        attributions=restructure(means, single),
        delta=None if gaps is None else gaps.mean(axis=0),
        f_input=None if per_row.f_input is None else plan.mean(per_row.f_input),
        f_baseline=None if per_row.f_baseline is None else plan.mean(per_row.f_baseline),
        baseline_deltas=gaps,
        attribution_sums=plan.mean(per_row.attribution_sums),
        steps=plan.samples * per_row.steps,
        forward_evaluations=plan.samples * per_row.forward_evaluations,
        method=per_row.method,
        target=None if per_row.target is None else per_row.target[: plan.examples],
        baselines=(f"background({rows} rows)",),
        steps_per_example=plan.by_sample(per_row.steps_per_example).sum(axis=0),
        algorithm="expected_gradients",
        standard_error=restructure(errors, single),
    )
