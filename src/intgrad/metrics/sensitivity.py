"""Max-sensitivity (Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, NeurIPS).

SENS_MAX(φ, F, x, r) = max over ‖δ‖∞ ≤ r of ‖φ(x + δ) − φ(x)‖: how much the explanation moves
under perturbations too small to matter, estimated by its maximum over ``samples`` draws of δ
uniform in the L∞ ball. Here it is relative, divided by ‖φ(x)‖ (norms over all of an example's
elements), so it does not depend on the attribution's scale; ``relative=False`` gives the
paper's absolute form.

Token ids have no small real perturbations, so their neighbourhood is in id space: each
sample replaces ``tokens`` distinct features (non-special tokens, with
:func:`~intgrad.metrics.token_features`), drawn uniformly, by ``mask_id`` — the ids at Hamming
distance ``tokens`` that differ by masking — and φ is compared per token (an embedding
layer's attributions summed over its width), position by position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.arguments import as_argument_tuple
from intgrad.metrics._common import (
    attribution_values,
    check_count,
    check_token_id,
    host,
    resolve_targets,
    rows_per_block,
    tile_arguments,
    tile_targets,
    to_framework,
)
from intgrad.metrics.features import FeatureSpec, feature_ranks, resolve_features

__all__ = ["Sensitivity", "max_sensitivity"]

Explain = Callable[..., Any]
"""``explain(inputs, *, target, additional_forward_args)`` → an Attribution, array or tensor."""


@dataclass(frozen=True)
class Sensitivity:
    """Max-sensitivity per example.

    Attributes:
        values: shape (examples,), float64, the largest change over the samples (relative to
            ‖φ(x)‖ unless ``relative`` is False; 0/0 is 0, x/0 is inf).
        changes: shape (samples, examples), float64, the change of every sample.
        radius: the L∞ radius of the perturbations; for token ids, the tokens replaced per
            sample (the Hamming radius).
        relative: whether changes are divided by ‖φ(x)‖.
        neighbourhood: the perturbations, e.g. ``"uniform-linf(radius=0.02)"`` or
            ``"mask-tokens(mask_id=103, tokens=1)"``.
    """

    values: np.ndarray
    changes: np.ndarray
    radius: float
    relative: bool
    neighbourhood: str = ""


def _explained(
    explain: Explain,
    inputs: Any,
    target: object,
    extras: tuple[Any, ...],
    shape: tuple[int, ...],
    host_inputs: np.ndarray,
) -> np.ndarray:
    result = explain(inputs, target=target, additional_forward_args=extras or None)
    return attribution_values(result, shape, host_inputs)


def _masked_copies(
    rng: np.random.Generator,
    count: int,
    x: np.ndarray,
    flat_ids: np.ndarray,
    tokens: int,
    mask_id: int,
) -> np.ndarray:
    """Shape (count, *x.shape): ``tokens`` random features of each example set to ``mask_id``
    (all of them where an example has fewer)."""
    copies = []
    for _ in range(count):
        draws = rng.random((x.shape[0], int(flat_ids.max()) + 1))
        ranks, _ = feature_ranks(np.zeros(flat_ids.shape), flat_ids, descending=False, scores=draws)
        chosen = (ranks < tokens) & (flat_ids >= 0)
        copies.append(np.where(chosen, mask_id, x.reshape(flat_ids.shape)))
    return np.stack(copies).reshape(count, *x.shape).astype(x.dtype)


def max_sensitivity(
    explain: Explain,
    inputs: Any,
    attributions: Any = None,
    *,
    radius: float = 0.02,
    samples: int = 10,
    relative: bool = True,
    mask_id: int | None = None,
    tokens: int = 1,
    features: FeatureSpec = None,
    target: object = None,
    additional_forward_args: Any = None,
    samples_per_call: int | None = None,
    seed: int | None = 0,
) -> Sensitivity:
    """The largest change of an explanation under uniform L∞ perturbations of radius r (or,
    for token ids, under masking ``tokens`` random tokens).

    δ is drawn as ``rng.uniform(-radius, radius, (count, *inputs.shape))`` from
    ``numpy.random.default_rng(seed)``, block after block; the perturbed copies of all
    examples in a block are explained by one call of ``explain`` (stacked sample-major:
    row ``s · examples + e`` is sample s of example e, with targets and per-example extra
    arguments repeated to match). For integer token ids each sample instead draws
    ``rng.random((examples, highest feature id + 1))`` and masks the ``tokens`` features of
    lowest draw.

    Args:
        explain: ``explain(inputs, *, target, additional_forward_args)`` returning an
            :class:`~intgrad.Attribution`, an array or a tensor of the inputs' shape, e.g.
            ``lambda x, **kw: explainer.attribute(x, steps=32, **kw)``.
        inputs: shape (examples, ...), real-valued, or token ids (texts, tokens), integers;
            a tensor or a NumPy array.
        attributions: φ(x), as an Attribution, array or tensor (an embedding layer's summed
            over its width), or one :class:`~intgrad.text.TextExplanation` per text;
            default: ``explain(inputs)``.
        radius: r, the L∞ radius (> 0) of real inputs.
        samples: perturbations per example.
        relative: divide by ‖φ(x)‖₂.
        mask_id: for token ids (required there), the id sampled tokens become.
        tokens: for token ids, how many distinct features each sample masks.
        features: for token ids, which positions may be masked (e.g.
            :func:`~intgrad.metrics.token_features`, which keeps special tokens and padding);
            default: every position.
        target: the explained output; default: the Attribution's own target.
        additional_forward_args: extra model arguments, passed on to ``explain``.
        samples_per_call: the most samples per ``explain`` call; default: all (bounded by
            host memory).
        seed: the seed of δ.

    Returns:
        A :class:`Sensitivity`.

    References:
        Yeh, Hsieh, Suggala, Inouye & Ravikumar (2019), "On the (In)fidelity and Sensitivity
        of Explanations", NeurIPS, arXiv:1901.09392.
    """
    if not callable(explain):
        raise TypeError(f"explain must be a callable, got {type(explain).__name__}")
    if isinstance(inputs, (tuple, list)):
        raise ValueError("metrics take one input tensor; got a tuple or list")
    samples = check_count("samples", samples)
    x = host(inputs)
    if x.ndim < 2:
        raise ValueError(f"inputs must have shape (examples, features...); got {x.shape}")
    shape, examples = tuple(x.shape), x.shape[0]
    neighbourhood, draw = _neighbourhood(x, radius, mask_id, tokens, features)
    targets = resolve_targets(target, attributions, examples)
    extras = as_argument_tuple(additional_forward_args)
    if attributions is None:
        phi = _explained(explain, inputs, tile_targets(targets, 1), extras, shape, x)
    else:
        phi = attribution_values(attributions, shape, x)
    per_block = rows_per_block(samples, examples, int(np.prod(shape[1:])))
    if samples_per_call is not None:
        per_block = min(per_block, check_count("samples_per_call", samples_per_call))
    rng = np.random.default_rng(seed)
    changes = []
    for start in range(0, samples, per_block):
        count = min(per_block, samples - start)
        copies = draw(rng, count)
        perturbed = copies.reshape(count * examples, *shape[1:])
        moved = _explained(
            explain,
            to_framework(perturbed, inputs),
            tile_targets(targets, count),
            tile_arguments(extras, examples, count),
            (count * examples, *shape[1:]),
            perturbed,
        ).reshape(count, *shape)
        changes.append(np.sqrt(((moved - phi[None]) ** 2).reshape(count, examples, -1).sum(2)))
    change = np.concatenate(changes)
    if relative:
        size = np.sqrt((phi**2).reshape(examples, -1).sum(axis=1))[None]
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(size > 0, change / size, np.where(change > 0, np.inf, 0.0))
    return Sensitivity(
        values=change.max(axis=0),
        changes=change,
        radius=float(radius) if np.issubdtype(x.dtype, np.floating) else float(tokens),
        relative=relative,
        neighbourhood=neighbourhood,
    )


Draw = Callable[[np.random.Generator, int], np.ndarray]
"""``draw(rng, count)`` → ``count`` perturbed copies of the inputs, shape (count, *x.shape)."""


def _neighbourhood(
    x: np.ndarray, radius: float, mask_id: Any, tokens: int, features: FeatureSpec
) -> tuple[str, Draw]:
    """The neighbourhood's name and its draw: the L∞ ball of real inputs, masked tokens of ids."""
    if np.issubdtype(x.dtype, np.floating):
        if mask_id is not None or features is not None or tokens != 1:
            raise ValueError("mask_id, tokens and features apply to token-id inputs only")
        if not radius > 0:
            raise ValueError(f"radius must be > 0, got {radius}")

        def uniform(rng: np.random.Generator, count: int) -> np.ndarray:
            delta = rng.uniform(-radius, radius, (count, *x.shape))
            return (x[None] + delta).astype(x.dtype)

        return f"uniform-linf(radius={radius:g})", uniform
    if mask_id is None:
        raise ValueError(
            "max_sensitivity of token ids masks random tokens: pass mask_id= (e.g. the "
            "[MASK] or pad id)"
        )
    token = check_token_id("mask_id", mask_id)
    count = check_count("tokens", tokens)
    flat_ids = resolve_features(features, tuple(x.shape), None).reshape(x.shape[0], -1)

    def masked(rng: np.random.Generator, copies: int) -> np.ndarray:
        return _masked_copies(rng, copies, x, flat_ids, count, token)

    return f"mask-tokens(mask_id={token}, tokens={count})", masked
