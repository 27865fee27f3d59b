"""Attributions to pictures, on NumPy arrays only: masks, colour maps, overlays, path images.

Images are channels-last, shape (height, width, 3), floating point in [0, 1]. The mask follows the
TensorFlow Integrated Gradients tutorial (sum of ``|attributions|`` over the colour channels) and
is then clipped at a high percentile, as PAIR saliency and Captum do, so that a few extreme
pixels do not turn the rest of the mask black.

References:
    Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML.
    TensorFlow tutorial "Integrated gradients", https://www.tensorflow.org/tutorials/interpretability/integrated_gradients
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from matplotlib.colors import Colormap

__all__ = ["attribution_mask", "colorize", "interpolate_images", "overlay"]

DEFAULT_CMAP = "inferno"
DEFAULT_SIGNED_CMAP = "RdBu_r"


def _finite_float(name: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return array


def _check_image(name: str, image: ArrayLike) -> NDArray[np.float64]:
    """Return ``image`` as float64 after checking shape (height, width, 3) and range [0, 1]."""
    array = _finite_float(name, image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{name} must have shape (height, width, 3), got {array.shape}")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"{name} must have values in [0, 1], got [{array.min():.4g}, {array.max():.4g}]"
        )
    return array


def _check_mask(mask: ArrayLike, *, signed: bool) -> NDArray[np.float64]:
    """Return ``mask`` as float64 after checking shape (height, width) and its value range."""
    array = _finite_float("mask", mask)
    if array.ndim != 2:
        raise ValueError(f"mask must have shape (height, width), got {array.shape}")
    low = -1.0 if signed else 0.0
    if array.size and (array.min() < low or array.max() > 1.0):
        raise ValueError(
            f"mask must have values in [{low:g}, 1] (signed={signed}), "
            f"got [{array.min():.4g}, {array.max():.4g}]; normalise it with attribution_mask"
        )
    return array


def _check_percentile(clip_percentile: float) -> None:
    if not 0.0 < clip_percentile <= 100.0:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")


def _reduce_channels(
    attributions: NDArray[np.float64], channel_axis: int | None, *, signed: bool
) -> NDArray[np.float64]:
    """Sum over the channel axis: ``|a|`` for unsigned masks, ``a`` itself for signed ones."""
    values = attributions if signed else np.abs(attributions)
    if values.ndim == 2:
        return values
    if values.ndim != 3:
        raise ValueError(
            "attributions must have shape (height, width) or (height, width, channels) "
            f"with the channel axis anywhere, got {values.shape}"
        )
    if channel_axis is None or not -3 <= channel_axis <= 2:
        raise ValueError(
            f"channel_axis must be an axis of 3-D attributions (-3 to 2), got {channel_axis}"
        )
    return values.sum(axis=channel_axis)


def _scale(magnitudes: NDArray[np.float64], clip_percentile: float) -> float:
    """The value mapped to 1: the percentile of the magnitudes, or their maximum if that is 0."""
    if magnitudes.size == 0:
        return 0.0
    scale = float(np.percentile(magnitudes, clip_percentile))
    # Very sparse attributions (fewer non-zero pixels than 100 - percentile per cent) would
    # otherwise clip everything; fall back to the maximum so they stay visible.
    return scale if scale > 0.0 else float(magnitudes.max())


def attribution_mask(
    attributions: ArrayLike,
    *,
    channel_axis: int | None = -1,
    signed: bool = False,
    clip_percentile: float = 99.0,
) -> NDArray[np.float64]:
    """Reduce attributions to a per-pixel mask normalised to [0, 1] (or [-1, 1] when signed).

    Unsigned (the tutorial's mask): ``m = Σ_c |a_c|``, divided by its ``clip_percentile``-th
    percentile and clipped to [0, 1]. Signed: ``m = Σ_c a_c``, divided by the percentile of
    ``|m|`` and clipped to [-1, 1], so the sign of each pixel's total contribution is kept. Pixels
    below the percentile keep their ratios to one another; those above it all become ±1. All-zero
    attributions give an all-zero mask.

    Args:
        attributions: shape (height, width, channels) with the channel axis at ``channel_axis``,
            or (height, width) with no channel axis; any finite real values.
        channel_axis: which axis of 3-D attributions holds the colour channels; ignored for
            2-D attributions.
        signed: keep the sign (diverging mask in [-1, 1]) instead of magnitudes in [0, 1].
        clip_percentile: percentile in (0, 100] of the pixel magnitudes that maps to 1; 100
            means plain division by the maximum.

    Returns:
        Mask of shape (height, width), float64, in [0, 1] (or [-1, 1] when ``signed``).

    Raises:
        ValueError: on a shape that is neither 2-D nor 3-D, an invalid ``channel_axis``, a
            percentile outside (0, 100], or NaN/inf values.
    """
    _check_percentile(clip_percentile)
    values = _finite_float("attributions", attributions)
    summed = _reduce_channels(values, channel_axis, signed=signed)
    scale = _scale(np.abs(summed), clip_percentile)
    if scale == 0.0:
        return np.zeros_like(summed)
    low = -1.0 if signed else 0.0
    return np.clip(summed / scale, low, 1.0)


def colorize(
    mask: ArrayLike, cmap: str | None = None, *, signed: bool = False
) -> NDArray[np.float64]:
    """Colour a normalised mask with a matplotlib colour map (no pyplot, no figure).

    Args:
        mask: shape (height, width), values in [0, 1], or in [-1, 1] when ``signed`` (then -1,
            0 and 1 map to the bottom, middle and top of the colour map).
        cmap: name of a registered matplotlib colour map; defaults to ``"inferno"``, or to the
            diverging ``"RdBu_r"`` when ``signed`` (negative blue, zero white, positive red).
        signed: whether ``mask`` is a signed mask in [-1, 1].

    Returns:
        RGB image of shape (height, width, 3), float64 in [0, 1].

    Raises:
        ValueError: on a wrong shape, values out of range, or an unknown colour map name.
        ImportError: if matplotlib is not installed.
    """
    values = _check_mask(mask, signed=signed)
    name = cmap if cmap is not None else (DEFAULT_SIGNED_CMAP if signed else DEFAULT_CMAP)
    colormap = _colormap(name)
    unit = (values + 1.0) / 2.0 if signed else values
    rgba = np.asarray(colormap(unit), dtype=np.float64)
    return rgba[..., :3]


def _colormap(name: str) -> Colormap:
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "colorize needs matplotlib: pip install 'intgrad[images]' (or matplotlib)"
        ) from error
    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"cmap {name!r} is not a registered matplotlib colour map") from None


def overlay(
    image: ArrayLike,
    mask: ArrayLike,
    *,
    alpha: float = 0.4,
    cmap: str | None = None,
    signed: bool = False,
    weight_by_mask: bool = False,
) -> NDArray[np.float64]:
    """Blend the coloured mask over the photo: ``(1 - w) * image + w * colorize(mask)``.

    With ``weight_by_mask=False`` the weight is ``w = alpha`` everywhere, so ``alpha=0`` gives the
    photo and ``alpha=1`` the coloured mask. With ``weight_by_mask=True`` it is
    ``w = alpha * |mask|`` per pixel, so pixels with little attribution show the photo. (The
    TensorFlow tutorial draws the photo at opacity 0.4 over the mask, i.e. ``alpha=0.6`` here.)

    Args:
        image: shape (height, width, 3), float in [0, 1].
        mask: shape (height, width), in [0, 1] (or [-1, 1] when ``signed``), e.g. from
            :func:`attribution_mask`.
        alpha: opacity of the coloured mask, in [0, 1].
        cmap: colour map name; see :func:`colorize` for the defaults.
        signed: whether ``mask`` is a signed mask in [-1, 1].
        weight_by_mask: scale the opacity of each pixel by ``|mask|``.

    Returns:
        RGB image of shape (height, width, 3), float64 in [0, 1].

    Raises:
        ValueError: if the shapes do not match, a value is out of range, or ``alpha`` is not in
            [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    photo = _check_image("image", image)
    values = _check_mask(mask, signed=signed)
    if values.shape != photo.shape[:2]:
        raise ValueError(
            f"mask must have shape (height, width) = {photo.shape[:2]} to match image, "
            f"got {values.shape}"
        )
    colored = colorize(values, cmap, signed=signed)
    weight = alpha * np.abs(values)[..., np.newaxis] if weight_by_mask else alpha
    return np.clip((1.0 - weight) * photo + weight * colored, 0.0, 1.0)


def interpolate_images(
    baseline: ArrayLike, image: ArrayLike, alphas: ArrayLike
) -> NDArray[np.floating]:
    """Points on the straight line from ``baseline`` to ``image``, one per alpha.

    Each point is ``(1 - alpha) * baseline + alpha * image``, so the end points are exact:
    ``alpha = 0`` returns ``baseline`` and ``alpha = 1`` returns ``image`` bit for bit.

    Args:
        baseline: array of any shape, typically (height, width, 3).
        image: array of the same shape as ``baseline``.
        alphas: shape (steps,), finite interpolation coefficients (usually in [0, 1]).

    Returns:
        Shape (steps, *image.shape): float32 if both inputs are float32 or integer, else float64.

    Raises:
        ValueError: if the shapes of ``baseline`` and ``image`` differ or ``alphas`` is not 1-D.
    """
    start = np.asarray(baseline)
    end = np.asarray(image)
    if start.shape != end.shape:
        raise ValueError(
            f"baseline must have the same shape as image {end.shape}, got {start.shape}"
        )
    dtype = np.result_type(start.dtype, end.dtype, np.float32)
    coefficients = np.asarray(_finite_float("alphas", alphas), dtype=dtype)
    if coefficients.ndim != 1:
        raise ValueError(f"alphas must have shape (steps,), got {coefficients.shape}")
    weights = coefficients.reshape((-1,) + (1,) * end.ndim)
    return (1 - weights) * start.astype(dtype) + weights * end.astype(dtype)
