"""The noise tunnel: SmoothGrad, SmoothGrad² and VarGrad over any attribution method.

For K noisy copies x + ε_k of each example, ε_k ∼ N(0, σ²) per feature, an inner attribution
method A (Integrated Gradients, the gradient, Expected Gradients, ...) is run once on the
expanded batch of K·E rows, and its attributions are combined per example:

    smoothgrad     (1/K) Σ_k A(x + ε_k)                    (Smilkov et al. 2017)
    smoothgrad_sq  (1/K) Σ_k A(x + ε_k)²
    vargrad        (1/K) Σ_k (A(x + ε_k) − smoothgrad)²    (Adebayo et al. 2018)

The noise level follows the SmoothGrad paper: with ``noise="fraction"``,
σ = ``stdev`` · (max(x) − min(x)) over each example's features (the paper's 10–20 % noise
is ``stdev`` 0.1–0.2); with ``noise="absolute"``, σ = ``stdev`` (Captum's ``stdevs``).

References:
    Smilkov, Thorat, Kim, Viégas & Wattenberg (2017), "SmoothGrad: removing noise by adding
    noise", arXiv:1706.03825.
    Adebayo, Gilmer, Goodfellow & Kim (2018), "Local Explanation Methods for Deep Neural
    Networks Lack Sensitivity to Parameter Values", ICLR workshop, arXiv:1810.03307 (VarGrad).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from intgrad._core.primitives import ArrayOps
from intgrad._core.result import Attribution
from intgrad._core.session import Explainer, validate_inputs
from intgrad.family._samples import (
    Block,
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
    expand_baselines,
    expand_inputs,
    expand_targets,
    join_rows,
    prepare_inputs,
    restructure,
    row_sums,
    take_rows,
)
from intgrad.family._session import as_explainer
from intgrad.family.expected import expected_gradients

__all__ = ["INNER_METHODS", "KINDS", "NOISE_SCALES", "InnerMethod", "noise_tunnel"]

InnerMethod = Callable[..., Attribution]
"""An attribution method the tunnel runs on the noisy batch:
``(explainer, inputs, *, target, batch_size, additional_forward_args, seed, progress,
**options) -> Attribution``, attributions of shape (rows, ...) for inputs of (rows, ...)."""

KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")
NOISE_SCALES = ("fraction", "absolute")


def _integrated_gradients(
    explainer: Explainer,
    inputs: Any,
    *,
    target: object,
    batch_size: int | None,
    additional_forward_args: Any,
    seed: int | None,
    progress: Callable[[int, int], None] | None,
    **options: Any,
) -> Attribution:
    """Integrated Gradients (:meth:`intgrad.Explainer.attribute`); options as its arguments."""
    return explainer.attribute(
        inputs,
        target=target,
        batch_size=batch_size,
        additional_forward_args=additional_forward_args,
        seed=seed,
        progress=progress,
        **options,
    )


def _gradient(
    explainer: Explainer,
    inputs: Any,
    *,
    target: object,
    batch_size: int | None,
    additional_forward_args: Any,
    seed: int | None,
    progress: Callable[[int, int], None] | None,
    **options: Any,
) -> Attribution:
    """The gradient (:meth:`intgrad.Explainer.gradients`): vanilla SmoothGrad. No options."""
    if options:
        raise TypeError(f"the gradient takes no options, got {', '.join(sorted(options))}")
    return explainer.gradients(
        inputs,
        target=target,
        batch_size=batch_size,
        additional_forward_args=additional_forward_args,
    )


def _expected_gradients(
    explainer: Explainer,
    inputs: Any,
    *,
    target: object,
    batch_size: int | None,
    additional_forward_args: Any,
    seed: int | None,
    progress: Callable[[int, int], None] | None,
    **options: Any,
) -> Attribution:
    """Expected Gradients (:func:`intgrad.family.expected.expected_gradients`); options as its
    arguments (``background`` is required), except that its ``samples`` is named
    ``references`` here and defaults to 1: one reference per noisy copy, so that the tunnel's
    K samples are K draws of input noise, reference and α together (Captum's GradientShap)."""
    references = options.pop("references", 1)
    return expected_gradients(
        explainer,
        inputs,
        samples=references,
        target=target,
        batch_size=batch_size,
        additional_forward_args=additional_forward_args,
        seed=seed,
        progress=progress,
        **options,
    )


def _family_member(name: str, takes_seed: bool = True) -> InnerMethod:
    """An inner method that calls the public function ``intgrad.family.<module>.<name>``."""

    def run(
        explainer: Explainer,
        inputs: Any,
        *,
        target: object,
        batch_size: int | None,
        additional_forward_args: Any,
        seed: int | None,
        progress: Callable[[int, int], None] | None,
        **options: Any,
    ) -> Attribution:
        import importlib

        module, function = _FAMILY[name]
        method = getattr(importlib.import_module(f"intgrad.family.{module}"), function)
        extra = {"seed": seed} if takes_seed else {}
        return method(
            explainer,
            inputs,
            target=target,
            batch_size=batch_size,
            additional_forward_args=additional_forward_args,
            progress=progress,
            **extra,
            **options,
        )

    run.__doc__ = f"``intgrad.family.{_FAMILY[name][0]}.{name}``; options as its arguments."
    return run


_FAMILY = {
    "blur_ig": ("blur", "blur_ig"),
    "idgi": ("idgi", "idgi"),
    "guided_ig": ("guided", "guided_ig"),
}

INNER_METHODS: dict[str, InnerMethod] = {
    "integrated_gradients": _integrated_gradients,
    "gradient": _gradient,
    "expected_gradients": _expected_gradients,
    "blur_ig": _family_member("blur_ig", takes_seed=False),
    "idgi": _family_member("idgi"),
    "guided_ig": _family_member("guided_ig"),
}
"""The inner methods :func:`noise_tunnel` knows by name; add an entry to register another."""


def noise_tunnel(
    model: Any,
    inputs: Any,
    *,
    attribution: str | InnerMethod = "integrated_gradients",
    kind: str = "smoothgrad",
    samples: int = 16,
    stdev: float | tuple[float, ...] = 0.15,
    noise: str = "fraction",
    seed: int | None = None,
    target: object = None,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    **method_options: Any,
) -> Attribution:
    """Smooth an attribution method over Gaussian noise: SmoothGrad, SmoothGrad² or VarGrad.

    The noise is drawn from ``numpy.random.default_rng(seed)``, the same in every framework,
    and the inner method runs once on all K·E noisy rows (chunked to ``batch_size`` rows per
    model call, so memory holds the K·E inputs, not K·E·steps path points).

    Args:
        model: a model of the inputs' framework, or an :class:`~intgrad.Explainer`.
        inputs: a tensor of shape (examples, ...) or a tuple of such tensors.
        attribution: the inner method: a name from :data:`INNER_METHODS`
            (``"integrated_gradients"``, ``"gradient"``, ``"expected_gradients"``, ...) or a
            callable of the :data:`InnerMethod` signature.
        kind: ``"smoothgrad"`` (the mean), ``"smoothgrad_sq"`` (the mean of squares) or
            ``"vargrad"`` (the variance over the samples, ``ddof=0`` as Captum).
        samples: K, the noisy copies per example.
        stdev: the noise level, or a tuple with one per input: a fraction of each example's
            range (max − min over its features) with ``noise="fraction"``, the standard
            deviation itself with ``noise="absolute"``.
        noise: ``"fraction"`` or ``"absolute"``.
        seed: the seed of the noise (and of the inner method's own draws).
        target, batch_size, additional_forward_args, backend, output, progress: as
            :func:`intgrad.integrated_gradients`; per-example tensors among the extra
            arguments and per-example ``baselines`` follow their example's copies.
        **method_options: passed to the inner method (``baselines``, ``steps``, ``method``,
            ``return_delta`` for Integrated Gradients; ``background``, ``stdevs`` and
            ``references`` — its ``samples``, default 1 per noisy copy — for Expected
            Gradients).

    Returns:
        An :class:`~intgrad.Attribution` with ``algorithm`` ``f"{kind}:{inner algorithm}"``
        and ``standard_error`` the standard error of the mean over the K samples for
        ``smoothgrad`` and ``smoothgrad_sq`` (NaN for K = 1; ``None`` for ``vargrad``). For
        ``smoothgrad`` — linear in the attributions — ``delta``, ``f_input``, ``f_baseline``
        and ``baseline_deltas`` are the means of the inner method's over the samples, so the
        completeness of an inner method that has it carries over; they are ``None`` for
        ``smoothgrad_sq`` and ``vargrad``.

    Raises:
        ValueError: an unknown ``attribution``, ``kind`` or ``noise``; ``samples`` < 1;
            ``stdev`` < 0.
        TypeError: ``attribution`` neither a name nor a callable.

    References:
        Smilkov et al. (2017), "SmoothGrad: removing noise by adding noise".
        Adebayo et al. (2018), arXiv:1810.03307 (VarGrad).
    """
    explainer = as_explainer(model, backend=backend, output=output)
    return sample_noise_tunnel(
        explainer,
        inputs,
        attribution=attribution,
        kind=kind,
        samples=samples,
        stdev=stdev,
        noise=noise,
        seed=seed,
        target=target,
        batch_size=batch_size,
        additional_forward_args=additional_forward_args,
        progress=progress,
        options=method_options,
    ).result


def inner_method(attribution: object) -> InnerMethod:
    """The callable of ``attribution``: a registered name, or the callable itself."""
    if isinstance(attribution, str):
        if attribution not in INNER_METHODS:
            raise ValueError(
                f"attribution must be one of {', '.join(INNER_METHODS)} or a callable; "
                f"got {attribution!r}"
            )
        return INNER_METHODS[attribution]
    if not callable(attribution):
        raise TypeError(
            f"attribution must be a method name or a callable, got {type(attribution).__name__}"
        )
    return attribution


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _noise_scales(
    ops: ArrayOps, inputs: tuple[Any, ...], stdevs: tuple[float, ...], noise: str
) -> list[np.ndarray]:
    """Per input, shape (examples,): σ for each example."""
    examples = int(ops.shape(inputs[0])[0])
    if noise == "absolute":
        return [np.full(examples, s) for s in stdevs]
    scales = []
    for x, s in zip(inputs, stdevs, strict=True):
        if not s:
            scales.append(np.zeros(examples))
            continue
        # The range of each example's features, one transfer of the E inputs to the host.
        flat = ops.to_host(x).reshape(examples, -1)
        spread = flat.max(axis=1) - flat.min(axis=1) if flat.shape[1] else np.zeros(examples)
        scales.append(s * spread)
    return scales


def sample_noise_tunnel(
    explainer: Explainer,
    inputs: Any,
    *,
    attribution: object,
    kind: str,
    samples: int,
    stdev: float | tuple[float, ...],
    noise: str,
    seed: int | None,
    target: object,
    batch_size: int | None,
    additional_forward_args: Any,
    progress: Callable[[int, int], None] | None,
    options: dict[str, Any],
) -> Sampled:
    """:func:`noise_tunnel`, with the inner method's per-copy results joined from the blocks
    (for the Captum drop-in, whose convergence delta is per sample).

    The K·E noisy copies run in blocks of at most ``batch_size`` copies; each block's
    attributions are folded into running sums and dropped (``Sampled.row_sums`` holds each
    copy's sum).
    """
    method = inner_method(attribution)
    kind = _check_choice(kind, "kind", KINDS)
    noise = _check_choice(noise, "noise", NOISE_SCALES)
    count = check_samples(samples)
    single = not isinstance(inputs, (tuple, list))
    raw = as_tuple(inputs)
    stdevs = check_stdevs(stdev, len(raw), "stdev")
    backend = explainer.resolve_backend(raw)
    prepared = prepare_inputs(backend, raw, explainer.layer is not None, any(stdevs))
    plan = Samples(count, validate_inputs(prepared))
    ops = backend.ops(prepared)
    blocks = plan.blocks(block_rows(batch_size, plan, prepared, backend, ops))
    rng = np.random.default_rng(seed)
    draws = NoiseDraws(
        rng, prepared, _noise_scales(ops, prepared, stdevs, noise), plan, len(blocks) > 1, ops
    )
    moments = [SampleMoments(plan) for _ in prepared]
    tracker = BlockProgress(progress, plan.rows)
    parts, sums, likes = [], [], None
    for number, block in enumerate(blocks):
        noisy = draws.add(ops, expand_inputs(ops, prepared, block), block)
        block_options = dict(options)
        if "baselines" in options:
            block_options["baselines"] = expand_baselines(
                options["baselines"], prepared, backend.is_native, ops, block
            )
        part = method(
            explainer,
            restructure(noisy, single),
            target=expand_targets(target, block, backend.to_numpy),
            batch_size=batch_size,
            additional_forward_args=expand_arguments(
                additional_forward_args, backend.is_native, ops, block
            ),
            seed=_inner_seed(seed, rng, number, len(blocks)),
            progress=tracker.of(block),
            **block_options,
        )
        rows = _check_rows(ops, part, block)
        for moment, a in zip(moments, rows, strict=True):
            values = ops.to_host(a)
            moment.add(values * values if kind == "smoothgrad_sq" else values, block)
        if likes is None:
            likes = take_rows(ops, rows, np.zeros(1))
        sums.append(row_sums(ops, part.attributions))
        parts.append(dataclasses.replace(part, attributions=None))
    per_row = join_rows(parts)
    result = _summary(ops, moments, likes, per_row, plan, kind, single)
    return Sampled(result, per_row, plan, ops, np.concatenate(sums))


def _inner_seed(seed: int | None, rng: np.random.Generator, block: int, blocks: int) -> int | None:
    """The seed of the inner method's own draws in a block.

    One block: the call's generator's next integer, after all the noise (as when every copy
    ran at once). Several: a seed of ``(seed, block)`` — the noise must stay one unbroken
    stream, and each block's draws must differ from the others'.
    """
    if seed is None:
        return None
    if blocks == 1:
        return int(rng.integers(2**63 - 1))
    return int(np.random.default_rng([seed, block]).integers(2**63 - 1))


def _check_rows(ops: ArrayOps, part: Attribution, block: Block) -> tuple[Any, ...]:
    """The inner method's attribution tensors, each with one row per noisy copy of the block."""
    rows = as_tuple(part.attributions)
    for position, values in enumerate(rows):
        if int(ops.shape(values)[0]) != block.rows:
            raise ValueError(
                f"the attribution method returned {int(ops.shape(values)[0])} rows in "
                f"attributions[{position}] for {block.rows} noisy inputs"
            )
    return rows


def _summary(
    ops: ArrayOps,
    moments: list[SampleMoments],
    likes: Any,
    per_row: Attribution,
    plan: Samples,
    kind: str,
    single: bool,
) -> Attribution:
    """The inner method's K·E rows reduced to the examples.

    ``moments`` are of the attributions (of their squares for ``smoothgrad_sq``); ``likes``
    holds one row of each attribution tensor, for its dtype and device.
    """
    if kind == "vargrad":
        combined = [m.variance(ddof=0) for m in moments]
    else:
        combined = [m.mean() for m in moments]
    reduced = [ops.from_host(c, like=like) for c, like in zip(combined, likes, strict=True)]
    sums = np.sum([ops.to_host(ops.row_sums(r)) for r in reduced], axis=0)
    linear = kind == "smoothgrad"

    def mean(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None or not linear else plan.mean(values)

    gaps = per_row.baseline_deltas
    spe = per_row.steps_per_example
    per_example = None if spe is None else plan.by_sample(spe).sum(axis=0)
    error = per_row.estimated_error
    errors = (
        None if kind == "vargrad" else restructure([m.standard_error() for m in moments], single)
    )
    return Attribution(
        attributions=restructure(reduced, single),
        delta=mean(per_row.delta),
        f_input=mean(per_row.f_input),
        f_baseline=mean(per_row.f_baseline),
        baseline_deltas=None if gaps is None or not linear else plan.mean(gaps.T).T,
        attribution_sums=np.asarray(sums, dtype=np.float64),
        steps=plan.samples * per_row.steps if per_example is None else int(per_example.max()),
        forward_evaluations=plan.samples * per_row.forward_evaluations,
        method=per_row.method,
        target=None if per_row.target is None else per_row.target[: plan.examples],
        baselines=per_row.baselines,
        estimated_error=None if error is None else plan.by_sample(error).max(axis=0),
        steps_per_example=per_example,
        algorithm=f"{kind}:{per_row.algorithm}",
        standard_error=errors,
    )
