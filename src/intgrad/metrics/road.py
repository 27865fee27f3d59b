"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, ICML).

Removing pixels by a constant leaks the removal mask's shape to the model ("class information
leakage"), so ROAD imputes removed pixels by *noisy linear imputation* instead: each removed
pixel is the weighted average of its eight neighbours (direct ones weight 1/6, diagonal ones
1/12), all removed pixels at once — a sparse linear system solved here by conjugate gradients
over every example and channel together — plus Gaussian noise. MoRF removes the top k % of
features (by attribution), LeRF the bottom k %; a faithful attribution makes F fall fast under
MoRF and slowly under LeRF. Every example counts in every point of the curve: there is no
batch whose result stands for the others (Quantus#333 averaged only the first batch).

Tables have no neighbours: their removed columns take the training mean (``mean=``), without
noise. Token ids have no linear structure to impute in (the average of two ids is no token), so
ROAD on text works in id space: removed tokens become one stated mask id (``mask_id=``, e.g.
``[MASK]`` or the pad id), without noise — the imputation is then a constant, as in deletion,
and the debiasing of the paper does not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from intgrad.metrics._common import check_fraction, check_token_id, make_scorer, trapezoid
from intgrad.metrics.features import FeatureSpec, feature_ranks, features_at, resolve_features
from intgrad.metrics.perturbation import Curve, perturbation_reference

__all__ = [
    "DEFAULT_PERCENTAGES",
    "ROAD_IMPUTATIONS",
    "ROAD_NEIGHBOURS",
    "noisy_linear_imputation",
    "road",
]

ROAD_IMPUTATIONS: tuple[str, ...] = ("linear", "mean", "token")
"""What removed features become: noisy linear imputation (images), the training mean
(tables), one mask id (token ids)."""

DEFAULT_PERCENTAGES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
"""10 %, 20 %, ..., 90 % of the features, as in the paper's figures."""

ROAD_NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (-1, 0, 1 / 6),
    (1, 0, 1 / 6),
    (0, -1, 1 / 6),
    (0, 1, 1 / 6),
    (-1, -1, 1 / 12),
    (-1, 1, 1 / 12),
    (1, -1, 1 / 12),
    (1, 1, 1 / 12),
)
"""(row offset, column offset, weight) of a pixel's neighbours in the imputation."""


def _neighbour_sum(padded: np.ndarray, height: int, width: int) -> np.ndarray:
    """Σ_o w_o · value at pixel + o, for (systems, height + 2, width + 2) zero-padded values."""
    total = np.zeros((padded.shape[0], height, width))
    for dy, dx, weight in ROAD_NEIGHBOURS:
        total += weight * padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
    return total


def _pad(values: np.ndarray) -> np.ndarray:
    return np.pad(values, ((0, 0), (1, 1), (1, 1)))


def _solve(
    known: np.ndarray, unknown: np.ndarray, tolerance: float, max_iterations: int
) -> np.ndarray:
    """Removed pixels from their neighbours: CG on Σ_j w_ij (x_i − x_j) = 0 for removed i.

    Args:
        known: shape (systems, height, width), float64, zero at removed pixels.
        unknown: shape (systems, height, width), bool, the removed pixels.
        tolerance: stop when every system's residual is below this times its right side.
        max_iterations: the most CG iterations.
    """
    systems, height, width = known.shape
    degree = _neighbour_sum(_pad(np.ones((1, height, width))), height, width)
    rhs = np.where(unknown, _neighbour_sum(_pad(known), height, width), 0.0)
    diagonal = np.where(unknown, degree, 1.0)

    def apply(p: np.ndarray) -> np.ndarray:
        return np.where(unknown, degree * p - _neighbour_sum(_pad(p), height, width), 0.0)

    solution = np.zeros_like(rhs)
    residual = rhs.copy()
    z = residual / diagonal
    direction = z.copy()
    rz = (residual * z).sum(axis=(1, 2))
    limit = tolerance * np.sqrt((rhs**2).sum(axis=(1, 2)))
    for _ in range(max_iterations):
        if (np.sqrt((residual**2).sum(axis=(1, 2))) <= limit).all():
            break
        product = apply(direction)
        curvature = (direction * product).sum(axis=(1, 2))
        step = np.divide(rz, curvature, out=np.zeros(systems), where=curvature > 0)
        solution += step[:, None, None] * direction
        residual -= step[:, None, None] * product
        z = residual / diagonal
        rz_next = (residual * z).sum(axis=(1, 2))
        beta = np.divide(rz_next, rz, out=np.zeros(systems), where=rz > 0)
        direction = z + beta[:, None, None] * direction
        rz = rz_next
    return solution


def noisy_linear_imputation(
    images: np.ndarray,
    removed: np.ndarray,
    *,
    channel_axis: int | None = -1,
    noise: float = 0.01,
    seed: int | np.random.Generator | None = 0,
    tolerance: float = 1e-8,
) -> np.ndarray:
    """Impute removed pixels from their neighbours, plus Gaussian noise (ROAD).

    Each removed pixel becomes the weighted mean of its in-image neighbours (direct 1/6,
    diagonal 1/12; see :data:`ROAD_NEIGHBOURS`), solved for all removed pixels jointly, per
    channel. A linear ramp is reproduced exactly inside a removed region that does not touch
    the border (with ``noise=0``). At least one pixel of each image must remain.

    Args:
        images: shape (examples, height, width, channels), (examples, channels, height,
            width) with ``channel_axis=1``, or (examples, height, width) with ``None``.
        removed: shape (examples, height, width), bool: the pixels to impute.
        channel_axis: the channels' axis of ``images``, or ``None``.
        noise: the standard deviation of the noise added to imputed values, in the images'
            units (the paper's 0.01 is for inputs normalised to unit scale).
        seed: a seed or generator of the noise.
        tolerance: the conjugate gradients' relative residual at which the solve stops.

    Returns:
        The imputed images, float64, the shape of ``images``; kept pixels are unchanged.
    """
    values = np.asarray(images, dtype=np.float64)
    if channel_axis is None:
        if values.ndim != 3:
            raise ValueError(
                f"images without channels must be (examples, h, w); got {values.shape}"
            )
        planes = values[:, None]
    else:
        if values.ndim != 4:
            raise ValueError(f"images must be 4-D with channel_axis; got shape {values.shape}")
        axis = channel_axis % 4
        if axis == 0:
            raise ValueError("channel_axis cannot be the batch axis")
        planes = np.moveaxis(values, axis, 1)
    examples, _, height, width = planes.shape
    mask = np.asarray(removed, dtype=bool)
    if mask.shape != (examples, height, width):
        raise ValueError(
            f"removed must have shape (examples, height, width) = {(examples, height, width)}; "
            f"got {mask.shape}"
        )
    if mask.reshape(examples, -1).all(axis=1).any():
        raise ValueError("every pixel of an image is removed: nothing is left to impute from")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    unknown = np.broadcast_to(mask[:, None], planes.shape).reshape(-1, height, width)
    flat = planes.reshape(-1, height, width)
    known = np.where(unknown, 0.0, flat)
    filled = _solve(
        known, unknown, tolerance, max_iterations=int(unknown.sum(axis=(1, 2)).max()) + 100
    )
    if noise > 0:
        rng = np.random.default_rng(seed)
        filled = filled + noise * rng.standard_normal(filled.shape)
    imputed = np.where(unknown, filled, flat).reshape(planes.shape)
    if channel_axis is None:
        return imputed[:, 0]
    return np.moveaxis(imputed, 1, channel_axis % 4)


def _pixel_mask(chosen: np.ndarray, shape: tuple[int, ...], channel_axis: int | None) -> np.ndarray:
    """The removed pixels (examples, h, w) of an element mask; whole pixels only."""
    elements = chosen.reshape(shape)
    if channel_axis is None:
        return elements
    moved = np.moveaxis(elements, channel_axis % len(shape), 1)
    if not (moved == moved[:, :1]).all():
        raise ValueError(
            "linear imputation removes whole pixels: use features='pixels' or a feature map "
            "that is the same over the channels"
        )
    return moved[:, 0]


def _imputation(
    imputation: str | None, x: np.ndarray, mean: Any, noise: float, mask_id: Any
) -> tuple[np.ndarray | None, str]:
    """The reference removed features take (``None`` for linear imputation), and its name."""
    integer = not np.issubdtype(x.dtype, np.floating)
    chosen = imputation or ("token" if integer else "linear" if x.ndim >= 3 else "mean")
    if chosen not in ROAD_IMPUTATIONS:
        raise ValueError(
            f"imputation must be one of {', '.join(ROAD_IMPUTATIONS)}, got {imputation!r}"
        )
    if mean is not None and chosen != "mean":
        raise ValueError("mean applies to imputation='mean' only")
    if mask_id is not None and chosen != "token":
        raise ValueError("mask_id applies to imputation='token' only")
    if chosen == "token":
        return _token_reference(x, mask_id, integer)
    if integer:
        raise TypeError(
            f"imputation {chosen!r} needs real-valued inputs; for token ids use "
            "imputation='token' with mask_id="
        )
    if chosen == "linear":
        return None, f"noisy-linear(noise={noise:g})"
    if mean is None:
        raise ValueError(
            "ROAD on tables imputes removed columns with the training mean: pass mean="
        )
    reference, _ = perturbation_reference("mean", x, mean=mean)
    return reference, "training-mean"


def _token_reference(x: np.ndarray, mask_id: Any, integer: bool) -> tuple[np.ndarray, str]:
    """Every removed token becomes ``mask_id``."""
    if not integer:
        raise TypeError(f"imputation='token' replaces token ids; got {x.dtype} inputs")
    if mask_id is None:
        raise ValueError(
            "ROAD on token ids replaces removed tokens by a mask id: pass mask_id= (e.g. the "
            "[MASK] or pad id)"
        )
    token = check_token_id("mask_id", mask_id)
    return np.full_like(x, token), f"token({token})"


def road(
    model: Any,
    inputs: Any,
    attributions: Any,
    *,
    percentages: Sequence[float] = DEFAULT_PERCENTAGES,
    order: Literal["morf", "lerf"] = "morf",
    imputation: Literal["linear", "mean", "token"] | None = None,
    mean: Any = None,
    mask_id: int | None = None,
    noise: float = 0.01,
    features: FeatureSpec = None,
    channel_axis: int | None = -1,
    absolute: bool = False,
    target: object = None,
    additional_forward_args: Any = None,
    batch_size: int | None = None,
    seed: int | None = 0,
) -> Curve:
    """ROAD: F after removing the top (MoRF) or bottom (LeRF) k % of features, imputed.

    For each percentage p, each example's round(p × n) most (MoRF) or least (LeRF) attributed
    features are imputed — by noisy linear imputation for images, by the training mean for
    tables, by one mask id for token ids — and all examples are scored in one batched model
    call (chunked by ``batch_size``; every chunk counts).

    Args:
        model: a model or an :class:`~intgrad.Explainer`.
        inputs: images (examples, height, width, channels) (or channels first with
            ``channel_axis=1``, or (examples, height, width) with ``None``), table rows
            (examples, columns) or token ids (texts, tokens), integers (an Explainer with the
            embedding ``layer`` lets them in); a tensor or a NumPy array.
        attributions: an :class:`~intgrad.Attribution`, an array or a tensor of the inputs'
            shape (an embedding layer's (texts, tokens, width) is summed over the width), or
            one :class:`~intgrad.text.TextExplanation` per text.
        percentages: the fractions removed, each in [0, 1) for linear imputation (at least
            one pixel must remain), in [0, 1] for the mean and the mask id.
        order: ``"morf"`` (most relevant first) or ``"lerf"`` (least relevant first).
        imputation: ``"linear"`` (images; default for real inputs of 3 or more axes),
            ``"mean"`` (tables; default for 2-D real inputs; needs ``mean``) or ``"token"``
            (token ids; the default for integer inputs; needs ``mask_id``).
        mean: the training mean of table columns, broadcastable to one example.
        mask_id: the id removed tokens become (e.g. ``[MASK]``, or the pad id of a pad
            baseline).
        noise: the noise of the linear imputation (standard deviation, in input units).
        features: as in :func:`~intgrad.metrics.deletion` (default: pixels for 4-D images,
            each pixel of 3-D ones, each column of tables), or a feature map (patches, column
            groups; :func:`~intgrad.metrics.token_features` to keep special tokens and
            padding); the linear imputation removes whole pixels.
        channel_axis: the channels' axis of batched images, or ``None``.
        absolute: rank by |attribution| instead of the signed value.
        target, additional_forward_args, batch_size: as in :func:`deletion`.
        seed: the seed of the imputation noise (one draw per percentage, for all examples).

    Returns:
        A :class:`~intgrad.metrics.Curve` (``metric`` ``"road-morf"`` or ``"road-lerf"``)
        over ``percentages``, its scores per example.

    References:
        Rong, Leemann, Borisov, Kasneci & Kasneci (2022), "A Consistent and Efficient
        Evaluation Strategy for Attribution Methods", ICML, arXiv:2202.00449.
    """
    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    scorer, x, values = make_scorer(
        model, inputs, attributions, target, additional_forward_args, batch_size
    )
    reference, described = _imputation(imputation, x, mean, noise, mask_id)
    points = np.asarray(
        [check_fraction("percentages", p, closed_high=reference is not None) for p in percentages],
        dtype=float,
    )
    if points.size == 0:
        raise ValueError("percentages must hold at least one fraction")
    ids = resolve_features(features, tuple(x.shape), channel_axis)
    ranks, counts_per_example = feature_ranks(
        values, ids, absolute=absolute, descending=order == "morf"
    )
    counts = features_at(points, counts_per_example)
    rng = np.random.default_rng(seed)
    flat_x = x.reshape(x.shape[0], -1)
    scores = np.zeros(counts.shape)
    for point in range(points.size):
        chosen = ranks < counts[:, point : point + 1]
        if reference is None:
            removed = _pixel_mask(chosen, tuple(x.shape), channel_axis)
            perturbed = noisy_linear_imputation(
                x, removed, channel_axis=channel_axis, noise=noise, seed=rng
            )
        else:
            perturbed = np.where(chosen, reference.reshape(flat_x.shape), flat_x)
        scores[:, point] = scorer(perturbed.reshape(x.shape)[None])[0]
    return Curve(
        metric=f"road-{order}",
        fractions=points,
        scores=scores,
        auc=trapezoid(scores, points),
        counts=counts,
        features=counts_per_example,
        perturbation=described,
    )
