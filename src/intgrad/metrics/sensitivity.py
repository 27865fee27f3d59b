"""Max-sensitivity (Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, NeurIPS).

SENS_MAX(φ, F, x, r) = max over ‖δ‖∞ ≤ r of ‖φ(x + δ) − φ(x)‖: how much the explanation moves
under perturbations too small to matter, estimated by its maximum over ``samples`` draws of δ
uniform in the L∞ ball. Here it is relative, divided by ‖φ(x)‖ (norms over all of an example's
elements), so it does not depend on the attribution's scale; ``relative=False`` gives the
paper's absolute form.
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
    check_real,
    host,
    resolve_targets,
    rows_per_block,
    tile_arguments,
    tile_targets,
    to_framework,
)

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
        radius: the L∞ radius of the perturbations.
        relative: whether changes are divided by ‖φ(x)‖.
    """

    values: np.ndarray
    changes: np.ndarray
    radius: float
    relative: bool


def _explained(
    explain: Explain, inputs: Any, target: object, extras: tuple[Any, ...], shape: tuple[int, ...]
) -> np.ndarray:
    result = explain(inputs, target=target, additional_forward_args=extras or None)
    return attribution_values(result, shape)


def max_sensitivity(
    explain: Explain,
    inputs: Any,
    attributions: Any = None,
    *,
    radius: float = 0.02,
    samples: int = 10,
    relative: bool = True,
    target: object = None,
    additional_forward_args: Any = None,
    samples_per_call: int | None = None,
    seed: int | None = 0,
) -> Sensitivity:
    """The largest change of an explanation under uniform L∞ perturbations of radius r.

    δ is drawn as ``rng.uniform(-radius, radius, (count, *inputs.shape))`` from
    ``numpy.random.default_rng(seed)``, block after block; the perturbed copies of all
    examples in a block are explained by one call of ``explain`` (stacked sample-major:
    row ``s · examples + e`` is sample s of example e, with targets and per-example extra
    arguments repeated to match).

    Args:
        explain: ``explain(inputs, *, target, additional_forward_args)`` returning an
            :class:`~intgrad.Attribution`, an array or a tensor of the inputs' shape, e.g.
            ``lambda x, **kw: explainer.attribute(x, steps=32, **kw)``.
        inputs: shape (examples, ...), real-valued; a tensor or a NumPy array.
        attributions: φ(x), as an Attribution, array or tensor; default: ``explain(inputs)``.
        radius: r, the L∞ radius (> 0).
        samples: perturbations per example.
        relative: divide by ‖φ(x)‖₂.
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
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    samples = check_count("samples", samples)
    x = host(inputs)
    check_real("max_sensitivity", x)
    if x.ndim < 2:
        raise ValueError(f"inputs must have shape (examples, features...); got {x.shape}")
    shape, examples = tuple(x.shape), x.shape[0]
    targets = resolve_targets(target, attributions, examples)
    extras = as_argument_tuple(additional_forward_args)
    if attributions is None:
        phi = _explained(explain, inputs, tile_targets(targets, 1), extras, shape)
    else:
        phi = attribution_values(attributions, shape)
    per_block = rows_per_block(samples, examples, int(np.prod(shape[1:])))
    if samples_per_call is not None:
        per_block = min(per_block, check_count("samples_per_call", samples_per_call))
    rng = np.random.default_rng(seed)
    changes = []
    for start in range(0, samples, per_block):
        count = min(per_block, samples - start)
        delta = rng.uniform(-radius, radius, (count, *shape))
        perturbed = (x[None] + delta).astype(x.dtype).reshape(count * examples, *shape[1:])
        moved = _explained(
            explain,
            to_framework(perturbed, inputs),
            tile_targets(targets, count),
            tile_arguments(extras, examples, count),
            (count * examples, *shape[1:]),
        ).reshape(count, *shape)
        changes.append(np.sqrt(((moved - phi[None]) ** 2).reshape(count, examples, -1).sum(2)))
    change = np.concatenate(changes)
    if relative:
        size = np.sqrt((phi**2).reshape(examples, -1).sum(axis=1))[None]
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(size > 0, change / size, np.where(change > 0, np.inf, 0.0))
    return Sensitivity(
        values=change.max(axis=0), changes=change, radius=float(radius), relative=relative
    )
