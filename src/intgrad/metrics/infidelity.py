"""Infidelity (Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, NeurIPS).

INFD(φ, F, x) = E_I[(Iᵀφ − (F(x) − F(x − I)))²]: how badly the attribution, read as a linear
model of the output, predicts what perturbations I do to F. Two kinds of I:

- ``"baseline"``: I = (x − x′) ⊙ m with a random subset m of features (each in with
  probability ``fraction``) moved to the baseline x′ — the paper's baseline-difference
  perturbations (its "square removal" with patch features). An attribution that satisfies
  completeness for every such subset, like the exact IG of a linear model, scores 0.
- ``"gaussian"``: I ~ N(0, ``scale``²) per input element.

Attributions multiplied by ``x − x′`` (IG's) are read per unit of ``x − x′``: Iᵀφ becomes
Σ_i I_i φ_i / (x_i − x′_i) (0 where x_i = x′_i), which for ``"baseline"`` is exactly Σ_i m_i
φ_i. With ``normalise`` the attribution is first scaled by the paper's optimal β =
E[Iᵀφ · ΔF] / E[(Iᵀφ)²], so the score does not depend on the attribution's scale.

Token ids are perturbed in id space: ``"baseline"`` replaces a random subset of the tokens
(each feature, e.g. each non-special token of :func:`~intgrad.metrics.token_features`, in
with probability ``fraction``) by the baseline ids, and Iᵀφ is the sum of the chosen tokens'
attributions — an embedding layer's summed over its width, read per unit of the embedding
difference as IG's are. Gaussian noise has no meaning for ids and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from intgrad._core.result import Attribution
from intgrad._core.session import Explainer
from intgrad.metrics._common import (
    Scorer,
    check_count,
    check_fraction,
    host,
    make_scorer,
    rows_per_block,
    text_explanations,
)
from intgrad.metrics.features import FeatureSpec, resolve_features

__all__ = ["INFIDELITY_PERTURBATIONS", "Infidelity", "infidelity"]

INFIDELITY_PERTURBATIONS: tuple[str, ...] = ("baseline", "gaussian")
"""Perturbations I of :func:`infidelity`."""


@dataclass(frozen=True)
class Infidelity:
    """Infidelity per example.

    Attributes:
        values: shape (examples,), float64, the mean over samples of (Iᵀφ − ΔF)² (with β φ
            in place of φ when normalised); lower is better, 0 is exact.
        standard_error: shape (examples,), float64, the standard error of that mean.
        beta: shape (examples,), float64, the scaling applied to φ (1 unless normalised).
        samples: perturbations per example.
        perturbation: e.g. ``"baseline(fraction=0.5)"`` or ``"gaussian(scale=0.1)"``.
        normalised: whether β was fitted.
    """

    values: np.ndarray
    standard_error: np.ndarray
    beta: np.ndarray
    samples: int
    perturbation: str
    normalised: bool


def _multiplies(multiply_by_inputs: bool | None, attributions: Any, model: Any) -> bool:
    if multiply_by_inputs is not None:
        if not isinstance(multiply_by_inputs, bool):
            raise TypeError(
                f"multiply_by_inputs must be a bool or None, got {multiply_by_inputs!r}"
            )
        return multiply_by_inputs
    if isinstance(attributions, Attribution) and attributions.algorithm == "gradient":
        return False
    return not (isinstance(model, Explainer) and not model.multiplies_by_inputs)


def _baselines(baselines: Any, x: np.ndarray) -> np.ndarray:
    value = host(baselines).astype(np.float64)
    try:
        return np.broadcast_to(value, x.shape)
    except ValueError:
        raise ValueError(
            f"baselines of shape {value.shape} do not broadcast to the inputs' shape {x.shape}"
        ) from None


def _baseline_ids(baselines: Any, attributions: Any, x: np.ndarray) -> np.ndarray:
    """The baseline ids of token-id inputs, shape ``x.shape``: given, or the explanations'."""
    if baselines is None:
        explanations = text_explanations(attributions)
        if explanations is None:
            raise ValueError(
                "infidelity on token ids needs baselines=: the baseline ids the attributions "
                "were made against (e.g. the pad id)"
            )
        return _placed_baseline_ids(explanations, x)  # placed as the attributions were
    value = host(baselines)
    if not np.all(np.mod(value, 1) == 0):
        raise ValueError("baselines of token ids must be integer ids")
    try:
        return np.broadcast_to(value.astype(x.dtype), x.shape)
    except ValueError:
        raise ValueError(
            f"baselines of shape {value.shape} do not broadcast to the inputs' shape {x.shape}"
        ) from None


def _placed_baseline_ids(explanations: list[Any], x: np.ndarray) -> np.ndarray:
    """Each explanation's baseline ids where its token ids sit in ``x`` (else x's own)."""
    reference = x.copy()
    for row, explanation in enumerate(explanations):
        ids, count = np.asarray(explanation.token_ids), np.asarray(explanation.token_ids).size
        start = 0 if np.array_equal(x[row, :count], ids) else x.shape[1] - count
        reference[row, start : start + count] = explanation.baseline_ids
    return reference


def _subsets(
    rng: np.random.Generator, count: int, flat_ids: np.ndarray, fraction: float
) -> np.ndarray:
    """Shape (count, examples, elements), bool: random feature subsets, each in w.p. fraction."""
    drawn = rng.random((count, flat_ids.shape[0], int(flat_ids.max()) + 1)) < fraction
    ids = np.broadcast_to(np.maximum(flat_ids, 0), (count, *flat_ids.shape))
    return np.take_along_axis(drawn, ids, axis=2) & (flat_ids >= 0)


def _draw(
    rng: np.random.Generator,
    count: int,
    perturbation: str,
    x: np.ndarray,
    difference: np.ndarray,
    flat_ids: np.ndarray,
    fraction: float,
    scale: float,
    multiplied: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` perturbations I of every example (``x`` in the inputs' dtype), shape
    (count, *x.shape), float64, and I as read against the attributions (I / (x − x′) for
    multiplied ones)."""
    if perturbation == "baseline":
        chosen = _subsets(rng, count, flat_ids, fraction)
        moved = chosen.reshape(count, *x.shape).astype(np.float64)
        perturbations = moved * difference
        return perturbations, moved if multiplied else perturbations
    noise = scale * rng.standard_normal((count, *x.shape))
    # I as the model sees it: x − I rounded to the inputs' dtype (float32, say).
    x64 = x.astype(np.float64)
    perturbations = x64[None] - (x64[None] - noise).astype(x.dtype)
    if not multiplied:
        return perturbations, perturbations
    read = np.divide(
        perturbations, difference, out=np.zeros_like(perturbations), where=difference != 0
    )
    return perturbations, read


def _real_samples(
    scorer: Scorer,
    x: np.ndarray,
    phi: np.ndarray,
    baselines: Any,
    flat_ids: np.ndarray,
    f_input: np.ndarray,
    rng: np.random.Generator,
    samples: int,
    perturbation: str,
    fraction: float,
    scale: float,
    multiplied: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Iᵀφ and F(x) − F(x − I) of real inputs, each shape (samples, examples)."""
    x64 = x.astype(np.float64)
    difference = x64 - _baselines(0.0 if baselines is None else baselines, x)
    predicted, actual = [], []
    per_block = rows_per_block(samples, x.shape[0], int(np.prod(x.shape[1:])))
    for start in range(0, samples, per_block):
        count = min(per_block, samples - start)
        perturbations, read = _draw(
            rng, count, perturbation, x, difference, flat_ids, fraction, scale, multiplied
        )
        predicted.append((read * phi).reshape(count, x.shape[0], -1).sum(axis=2))
        actual.append(f_input[None] - scorer(x64[None] - perturbations))
    return np.concatenate(predicted), np.concatenate(actual)


def _check_token_reading(perturbation: str, multiplied: bool) -> None:
    if perturbation != "baseline":
        raise TypeError(
            "infidelity of token ids moves tokens to the baseline ids (perturbation="
            f"'baseline'); {perturbation!r} noise needs real-valued inputs"
        )
    if not multiplied:
        raise ValueError(
            "infidelity of token ids reads per-token attributions that add up to F(x) − F(x′) "
            "(IG's at the embedding layer); gradient attributions have no id-space reading"
        )


def _token_samples(
    scorer: Scorer,
    x: np.ndarray,
    phi: np.ndarray,
    reference: np.ndarray,
    flat_ids: np.ndarray,
    f_input: np.ndarray,
    rng: np.random.Generator,
    samples: int,
    fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Σ φ over the moved tokens and F(x) − F(x with them at the baseline ids), each shape
    (samples, examples)."""
    predicted, actual = [], []
    flat_x, flat_reference = x.reshape(flat_ids.shape), reference.reshape(flat_ids.shape)
    per_block = rows_per_block(samples, x.shape[0], flat_ids.shape[1])
    for start in range(0, samples, per_block):
        count = min(per_block, samples - start)
        chosen = _subsets(rng, count, flat_ids, fraction)
        predicted.append((chosen * phi.reshape(flat_ids.shape)).sum(axis=2))
        moved = np.where(chosen, flat_reference, flat_x).reshape(count, *x.shape)
        actual.append(f_input[None] - scorer(moved))
    return np.concatenate(predicted), np.concatenate(actual)


def infidelity(
    model: Any,
    inputs: Any,
    attributions: Any,
    *,
    perturbation: Literal["baseline", "gaussian"] = "baseline",
    samples: int = 64,
    baselines: Any = None,
    fraction: float = 0.5,
    scale: float = 0.1,
    features: FeatureSpec = None,
    channel_axis: int | None = -1,
    normalise: bool = False,
    multiply_by_inputs: bool | None = None,
    target: object = None,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
    seed: int | None = 0,
) -> Infidelity:
    """Infidelity of attributions: E_I[(Iᵀφ − (F(x) − F(x − I)))²], per example.

    The samples of all examples are scored in blocks, each one batched model call.

    Args:
        model: a model or an :class:`~intgrad.Explainer`.
        inputs: shape (examples, ...), real-valued, or token ids (texts, tokens), integers
            (an Explainer with the embedding ``layer`` lets them in); a tensor or a NumPy
            array.
        attributions: an :class:`~intgrad.Attribution`, an array or a tensor of the inputs'
            shape (an embedding layer's (texts, tokens, width) is summed over the width), or
            one :class:`~intgrad.text.TextExplanation` per text.
        perturbation: ``"baseline"`` (random subsets of features moved to ``baselines``) or
            ``"gaussian"`` (I ~ N(0, scale²); real inputs only).
        samples: perturbations per example.
        baselines: x′, broadcastable to the inputs: the attributions' baseline (default
            ``None``: 0, IG's black, for real inputs; the explanations' baseline ids for text
            explanations; token ids need it given otherwise, e.g. the pad id); used by
            ``"baseline"`` and to read multiplied attributions.
        fraction: with ``"baseline"``, the probability of each feature to be moved.
        scale: with ``"gaussian"``, the noise's standard deviation.
        features: with ``"baseline"``, which elements move together (``"pixels"``, patches
            for the paper's square removal, column groups); default as in
            :func:`~intgrad.metrics.deletion`: pixels for 4-D inputs, else each element;
            :func:`~intgrad.metrics.token_features` keeps special tokens and padding.
        channel_axis: the channels' axis of images, for ``features="pixels"``.
        normalise: scale φ by the paper's optimal β first.
        multiply_by_inputs: whether φ is multiplied by ``x − x′`` (IG) or a gradient-like
            sensitivity; default: False for ``Explainer.gradients`` results or an Explainer
            with ``multiply_by_inputs=False``, else True.
        target, additional_forward_args, batch_size: as in :func:`~intgrad.metrics.deletion`.
        seed: the seed of the perturbations (drawn block by block, in order).

    Returns:
        An :class:`Infidelity`.

    References:
        Yeh, Hsieh, Suggala, Inouye & Ravikumar (2019), "On the (In)fidelity and Sensitivity
        of Explanations", NeurIPS, arXiv:1901.09392.
    """
    if perturbation not in INFIDELITY_PERTURBATIONS:
        raise ValueError(
            f"perturbation must be one of {', '.join(INFIDELITY_PERTURBATIONS)}, "
            f"got {perturbation!r}"
        )
    samples = check_count("samples", samples)
    fraction = check_fraction("fraction", fraction)
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    multiplied = _multiplies(multiply_by_inputs, attributions, model)
    scorer, x, phi = make_scorer(
        model, inputs, attributions, target, additional_forward_args, batch_size
    )
    ids = resolve_features(features, tuple(x.shape), channel_axis)
    flat_ids = ids.reshape(x.shape[0], -1)
    rng = np.random.default_rng(seed)
    if np.issubdtype(x.dtype, np.floating):
        a, b = _real_samples(
            scorer,
            x,
            phi,
            baselines,
            flat_ids,
            scorer(x[None])[0],
            rng,
            samples,
            perturbation,
            fraction,
            scale,
            multiplied,
        )
    else:
        _check_token_reading(perturbation, multiplied)
        reference = _baseline_ids(baselines, attributions, x)
        f_input = scorer(x[None])[0]
        a, b = _token_samples(scorer, x, phi, reference, flat_ids, f_input, rng, samples, fraction)
    beta = np.ones(x.shape[0])
    if normalise:
        power = (a * a).sum(axis=0)
        beta = np.divide((a * b).sum(axis=0), power, out=np.zeros_like(power), where=power > 0)
    errors = (beta[None] * a - b) ** 2
    spread = errors.std(axis=0, ddof=1) / np.sqrt(samples) if samples > 1 else np.zeros(x.shape[0])
    described = (
        f"baseline(fraction={fraction:g})"
        if perturbation == "baseline"
        else f"gaussian(scale={scale:g})"
    )
    return Infidelity(
        values=errors.mean(axis=0),
        standard_error=spread,
        beta=beta,
        samples=samples,
        perturbation=described,
        normalised=bool(normalise),
    )
