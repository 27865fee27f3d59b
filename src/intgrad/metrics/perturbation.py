"""Deletion and insertion curves (Petsiuk, Das & Saenko 2018, RISE).

Features are ranked by attribution, highest first. *Deletion* replaces the top k of them by a
perturbation and scores the model as k grows from none to all: a faithful attribution makes F
fall fast (a low area under the curve). *Insertion* starts from the fully perturbed input and
puts the top k features back: F should rise fast (a high area). Each step is one batched
model call for all examples; the area is the trapezoid rule over the fraction of features.

The perturbation is stated in the result: ``"black"`` (0), a number (any constant, e.g. a
``[MASK]`` token id), ``"blur"`` (a Gaussian-blurred copy, RISE's insertion start), ``"mean"``
(each example's per-channel mean, or a given mean) or a reference array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from intgrad._core.baselines import gaussian_blur
from intgrad.metrics._common import (
    Scorer,
    check_count,
    host,
    make_scorer,
    trapezoid,
)
from intgrad.metrics.features import FeatureSpec, feature_ranks, features_at, resolve_features

__all__ = ["PERTURBATIONS", "Curve", "deletion", "insertion", "perturbation_reference"]

PERTURBATIONS: tuple[str, ...] = ("black", "blur", "mean")
"""Perturbations named by a string; a number or an array is also accepted."""

Perturbation = Literal["black", "blur", "mean"] | float | int | np.ndarray


@dataclass(frozen=True)
class Curve:
    """A perturbation curve per example: deletion, insertion or ROAD.

    Attributes:
        metric: ``"deletion"``, ``"insertion"``, ``"road-morf"`` or ``"road-lerf"``.
        fractions: shape (points,), float64, the fraction of each example's features
            perturbed at each point (deletion/insertion: 0, 1/steps, ..., 1).
        scores: shape (examples, points), float64, the model's selected output F there.
        auc: shape (examples,), float64, the area under each curve (trapezoid rule over
            ``fractions``).
        counts: shape (examples, points), int64, the features perturbed at each point.
        features: shape (examples,), int64, each example's number of features.
        perturbation: what removed features became, e.g. ``"black(0)"``, ``"blur(sigma=5)"``,
            ``"noisy-linear(noise=0.01)"``.
        random_scores: shape (examples, points), the same curve averaged over
            ``random_orders`` uniformly random feature orders (the chance level), or ``None``.
        random_orders: how many random orders ``random_scores`` averages.
    """

    metric: str
    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray
    counts: np.ndarray
    features: np.ndarray
    perturbation: str
    random_scores: np.ndarray | None = None
    random_orders: int = 0

    @property
    def mean_scores(self) -> np.ndarray:
        """Shape (points,): the curve averaged over all examples."""
        return np.asarray(self.scores.mean(axis=0))

    @property
    def mean_auc(self) -> float:
        """The area under the curve averaged over all examples."""
        return float(self.auc.mean())

    @property
    def random_auc(self) -> np.ndarray | None:
        """Shape (examples,): the area under the chance curve, or ``None``."""
        if self.random_scores is None:
            return None
        return trapezoid(self.random_scores, self.fractions)


def _spatial_axes(ndim: int, channel_axis: int | None) -> tuple[int, ...]:
    axes = list(range(1, ndim))
    if channel_axis is not None:
        if not -ndim < channel_axis < ndim or channel_axis % ndim == 0:
            raise ValueError(
                f"channel_axis {channel_axis} is not a non-batch axis of {ndim}-D inputs"
            )
        axes.remove(channel_axis % ndim)
    return tuple(axes)


def perturbation_reference(
    perturbation: Perturbation,
    inputs: np.ndarray,
    *,
    channel_axis: int | None = -1,
    blur_sigma: float = 5.0,
    mean: Any = None,
) -> tuple[np.ndarray, str]:
    """What each input element becomes when its feature is removed, and that rule's name.

    Args:
        perturbation: ``"black"`` (0), ``"blur"``, ``"mean"``, a number or an array
            broadcastable to ``inputs``.
        inputs: shape (examples, ...).
        channel_axis: the channels' axis of batched images (``"blur"`` blurs the others,
            ``"mean"`` averages per channel); ``None`` for inputs without channels.
        blur_sigma: the Gaussian's standard deviation in pixels (RISE: 5).
        mean: with ``"mean"``, a given mean broadcastable to one example (e.g. the training
            mean of table columns) instead of each example's own.

    Returns:
        ``(reference, description)``: the reference of the inputs' shape and dtype.
    """
    if mean is not None and not (isinstance(perturbation, str) and perturbation == "mean"):
        raise ValueError("mean applies to perturbation='mean' only")
    if isinstance(perturbation, str):
        return _named_reference(perturbation, inputs, channel_axis, blur_sigma, mean)
    if isinstance(perturbation, bool):
        raise TypeError("perturbation must be a name, a number or an array, got a bool")
    if isinstance(perturbation, (int, float, np.integer, np.floating)):
        real = np.issubdtype(inputs.dtype, np.floating)
        if not real and not float(perturbation).is_integer():
            raise ValueError(f"token ids can only become an integer id, got {perturbation!r}")
        return np.full_like(inputs, perturbation), f"constant({perturbation:g})"
    reference = host(perturbation)
    try:
        broadcast = np.broadcast_to(reference, inputs.shape)
    except ValueError:
        raise ValueError(
            f"a reference of shape {reference.shape} does not broadcast to the inputs' shape "
            f"{inputs.shape}"
        ) from None
    return broadcast.astype(inputs.dtype), f"reference{tuple(reference.shape)}"


def _named_reference(
    name: str, inputs: np.ndarray, channel_axis: int | None, blur_sigma: float, mean: Any
) -> tuple[np.ndarray, str]:
    """The references named "black", "blur" and "mean"."""
    if name not in PERTURBATIONS:
        raise ValueError(
            f"perturbation must be one of {', '.join(PERTURBATIONS)}, a number or an array; "
            f"got {name!r}"
        )
    if name == "black":
        return np.zeros_like(inputs), "black(0)"
    if not np.issubdtype(inputs.dtype, np.floating):
        raise TypeError(
            f"perturbation {name!r} needs real-valued inputs; for token ids give the mask or "
            "pad id as a number"
        )
    if name == "blur":
        axes = _spatial_axes(inputs.ndim, channel_axis)
        if not axes:
            raise ValueError(
                "blur needs inputs with spatial axes (images); for tables use 'black', 'mean' "
                "or a reference"
            )
        blurred = gaussian_blur(inputs, blur_sigma, axes).astype(inputs.dtype)
        return blurred, f"blur(sigma={blur_sigma:g})"
    if mean is not None:
        given = host(mean).astype(np.float64)
        try:
            filled = np.broadcast_to(given, inputs.shape[1:])
        except ValueError:
            raise ValueError(
                f"mean of shape {given.shape} does not broadcast to one example's shape "
                f"{inputs.shape[1:]}"
            ) from None
        return np.broadcast_to(filled, inputs.shape).astype(inputs.dtype), "mean(given)"
    axes = _spatial_axes(inputs.ndim, channel_axis if inputs.ndim > 2 else None)
    means = inputs.astype(np.float64).mean(axis=axes, keepdims=True)
    return np.broadcast_to(means, inputs.shape).astype(inputs.dtype), "mean(per example)"


def _curve_scores(
    scorer: Scorer,
    inputs: np.ndarray,
    reference: np.ndarray,
    ranks: np.ndarray,
    counts: np.ndarray,
    inserting: bool,
) -> np.ndarray:
    """Shape (examples, points): F at each point; one batched model call per point."""
    flat_x = inputs.reshape(inputs.shape[0], -1)
    flat_ref = reference.reshape(flat_x.shape)
    movable = ranks < flat_x.shape[1]
    scores = np.zeros(counts.shape)
    for point in range(counts.shape[1]):
        chosen = ranks < counts[:, point : point + 1]
        perturbed = movable & ~chosen if inserting else chosen
        values = np.where(perturbed, flat_ref, flat_x).reshape(inputs.shape)
        scores[:, point] = scorer(values[None])[0]
    return scores


def _run(
    metric: str,
    model: Any,
    inputs: Any,
    attributions: Any,
    *,
    steps: int,
    perturbation: Perturbation,
    features: FeatureSpec,
    channel_axis: int | None,
    blur_sigma: float,
    mean: Any,
    absolute: bool,
    random_orders: int,
    target: object,
    additional_forward_args: Any,
    batch_size: int | None,
    seed: int | None,
) -> Curve:
    steps = check_count("steps", steps)
    random_orders = check_count("random_orders", random_orders, least=0)
    scorer, x, values = make_scorer(
        model, inputs, attributions, target, additional_forward_args, batch_size
    )
    ids = resolve_features(features, tuple(x.shape), channel_axis)
    reference, described = perturbation_reference(
        perturbation, x, channel_axis=channel_axis, blur_sigma=blur_sigma, mean=mean
    )
    ranks, features_per_example = feature_ranks(values, ids, absolute=absolute)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = features_at(fractions, features_per_example)
    inserting = metric == "insertion"
    scores = _curve_scores(scorer, x, reference, ranks, counts, inserting)
    chance = None
    if random_orders:
        rng = np.random.default_rng(seed)
        curves = []
        for _ in range(random_orders):
            draws = rng.random((x.shape[0], int(ids.max()) + 1))
            random_ranks = feature_ranks(values, ids, scores=draws)[0]
            curves.append(_curve_scores(scorer, x, reference, random_ranks, counts, inserting))
        chance = np.mean(curves, axis=0)
    return Curve(
        metric=metric,
        fractions=fractions,
        scores=scores,
        auc=trapezoid(scores, fractions),
        counts=counts,
        features=features_per_example,
        perturbation=described,
        random_scores=chance,
        random_orders=random_orders,
    )


def deletion(
    model: Any,
    inputs: Any,
    attributions: Any,
    *,
    steps: int = 10,
    perturbation: Perturbation = "black",
    features: FeatureSpec = None,
    channel_axis: int | None = -1,
    blur_sigma: float = 5.0,
    mean: Any = None,
    absolute: bool = False,
    random_orders: int = 0,
    target: object = None,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
    seed: int | None = 0,
) -> Curve:
    """The deletion curve: F as the most-attributed features are removed, ``steps`` at a time.

    At point j (0 ≤ j ≤ ``steps``) each example has its top round(j / steps × n) features
    (of its n) replaced by the perturbation; point 0 is the input, the last the fully
    perturbed input. A low area means the attribution found what the model needs.

    Args:
        model: a model or an :class:`~intgrad.Explainer` (pass one to choose the backend,
            the ``output`` transform or a ``layer``; a ``layer`` lets integer token ids in).
        inputs: shape (examples, ...), a tensor of the model's framework or a NumPy array.
        attributions: an :class:`~intgrad.Attribution`, an array or a tensor of the inputs'
            shape (an embedding layer's (examples, tokens, width) is summed over the width).
        steps: the curve has ``steps + 1`` points.
        perturbation: ``"black"`` (0, default), ``"blur"``, ``"mean"``, a number (e.g. a
            mask token id) or a reference array broadcastable to the inputs.
        features: ``"pixels"`` (channels together; attributions summed over them, as is
            usual for images), ``"elements"`` (each input element) or a feature map (see
            :mod:`intgrad.metrics.features`: patches, column groups, tokens); default
            ``None``: pixels for 4-D inputs, elements otherwise.
        channel_axis: the channels' axis of batched images (default last), or ``None``.
        blur_sigma: the standard deviation of ``"blur"``, in pixels.
        mean: the given mean of ``"mean"``, broadcastable to one example.
        absolute: rank features by |attribution| instead of the signed value.
        random_orders: also average the curve over this many seeded random feature orders
            (the chance level; ``Curve.random_scores``).
        target: the output to score, as in :func:`intgrad.integrated_gradients`; default:
            the Attribution's own target.
        additional_forward_args: extra model arguments (e.g. ``(attention_mask,)``).
        batch_size: the most rows per model call.
        seed: the seed of the random orders.

    Returns:
        A :class:`Curve` with ``metric="deletion"``.

    Raises:
        ValueError, TypeError: attributions not of the inputs' shape, an unknown
            perturbation, blur or mean of token ids, a bad feature map or count.

    References:
        Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for Explanation of
        Black-box Models", BMVC, arXiv:1806.07421.
    """
    return _run(
        "deletion",
        model,
        inputs,
        attributions,
        steps=steps,
        perturbation=perturbation,
        features=features,
        channel_axis=channel_axis,
        blur_sigma=blur_sigma,
        mean=mean,
        absolute=absolute,
        random_orders=random_orders,
        target=target,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
        seed=seed,
    )


def insertion(
    model: Any,
    inputs: Any,
    attributions: Any,
    *,
    steps: int = 10,
    perturbation: Perturbation = "black",
    features: FeatureSpec = None,
    channel_axis: int | None = -1,
    blur_sigma: float = 5.0,
    mean: Any = None,
    absolute: bool = False,
    random_orders: int = 0,
    target: object = None,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
    seed: int | None = 0,
) -> Curve:
    """The insertion curve: F as the most-attributed features are put back into a perturbed
    input, ``steps`` at a time.

    Point 0 is the fully perturbed input (elements of no feature keep their values), the last
    the input itself. A high area means the attribution found what the model needs.
    Arguments as :func:`deletion`; RISE starts insertion from a blurred copy
    (``perturbation="blur"``), the default here is the same black (0) as deletion's.

    Returns:
        A :class:`Curve` with ``metric="insertion"``.

    References:
        Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for Explanation of
        Black-box Models", BMVC, arXiv:1806.07421.
    """
    return _run(
        "insertion",
        model,
        inputs,
        attributions,
        steps=steps,
        perturbation=perturbation,
        features=features,
        channel_axis=channel_axis,
        blur_sigma=blur_sigma,
        mean=mean,
        absolute=absolute,
        random_orders=random_orders,
        target=target,
        additional_forward_args=additional_forward_args,
        batch_size=batch_size,
        seed=seed,
    )
