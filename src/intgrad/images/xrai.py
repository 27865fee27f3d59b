"""XRAI: pixel attributions gathered into image regions, regions ranked by attribution density.

Each image is over-segmented with Felzenszwalb & Huttenlocher's graph method at several scales
(the segments of every scale together, each dilated by a few pixels so that regions include
their edges); then regions are picked greedily, each time the one whose pixels not yet covered
have the highest mean attribution (the *gain*), until no region adds enough new pixels. Every
pixel takes the gain of the region that first covered it; pixels no region covered form a last
region valued at their own mean attribution. The attributions are Integrated Gradients of the
target probability from a black and a white baseline, averaged (the paper's choice), computed
for the whole batch in one call, or given by the caller.

Everything works on NumPy arrays, images channels-last (examples, height, width, 3) in [0, 1];
the segmentation follows PAIR's reference implementation (the image rescaled to [−1, 1] and
resized to 224×224 for segmenting, scales 50–1200, σ = 0.8, segments of at least 150 pixels,
dilation by a disk of radius 5, regions adding fewer than 50 new pixels skipped at 224×224), so
that the same attributions give the same regions. One difference from PAIR: attributions of
shape (..., channels) are *summed* over channels (PAIR takes the maximum).

References:
    Kapishnikov, Bolukbasi, Viégas & Terry (2019), "XRAI: Better Attributions Through
    Regions", ICCV, §3 (Algorithm 1).
    Felzenszwalb & Huttenlocher (2004), "Efficient Graph-Based Image Segmentation", IJCV.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from intgrad import Attribution, Explainer

if TYPE_CHECKING:
    from intgrad.images.explain import ImageModel

Target = int | str | Sequence[int | str] | None
"""A class index or name for every image, one per image, or ``None`` for the top class."""

__all__ = [
    "DILATION_RADIUS",
    "FELZENSZWALB_SCALES",
    "MIN_REGION_FRACTION",
    "SEGMENTATION_SIZE",
    "XRAIResult",
    "xrai",
    "xrai_rank",
    "xrai_segments",
]

FELZENSZWALB_SCALES: tuple[float, ...] = (50, 100, 150, 250, 500, 1200)
"""Felzenszwalb's scale parameters: larger scales give larger segments (PAIR's values)."""

FELZENSZWALB_SIGMA = 0.8
"""The Gaussian smoothing (in pixels of the segmented image) before segmenting."""

MIN_SEGMENT_PIXELS = 150
"""The smallest segment Felzenszwalb's method keeps, in pixels of the segmented image."""

SEGMENTATION_SIZE: tuple[int, int] = (224, 224)
"""(height, width) images are resized to for segmenting, so that the scales mean the same for
every image size; the segments are resized back."""

DILATION_RADIUS = 5
"""Each segment is dilated by a disk of this radius (pixels of the original image)."""

MIN_REGION_FRACTION = 50 / (224 * 224)
"""A region must add at least this share of the image's pixels to be picked (PAIR's 50 pixels
at 224×224)."""


@dataclass(frozen=True)
class XRAIResult:
    """XRAI of a batch of images.

    Attributes:
        saliency: shape (examples, height, width), float64: each pixel's value is the gain
            (mean attribution of its newly covered pixels) of the region that first covered it.
        ranks: shape (examples, height, width), int64: the rank of each pixel's region, 1 the
            most important (regions ordered by gain; the uncovered rest, if any, last).
        regions: one boolean array (regions, height, width) per image: the pixels each region
            added, most important first; together they cover every pixel exactly once.
        gains: one float64 array (regions,) per image: the gain of each region, in order
            (non-increasing, except for the uncovered rest, which comes last whatever its value).
        attributions: shape (examples, height, width), float64, the pixel attributions the
            regions were ranked by (channels summed).
        ig: the Integrated Gradients result when XRAI computed the attributions, else ``None``.
        target: shape (examples,), int64, the explained class of each image when XRAI computed
            the attributions, else ``None``.
    """

    saliency: np.ndarray
    ranks: np.ndarray
    regions: tuple[np.ndarray, ...]
    gains: tuple[np.ndarray, ...]
    attributions: np.ndarray
    ig: Attribution | None = None
    target: np.ndarray | None = None

    def top(self, fraction: float) -> np.ndarray:
        """shape (examples, height, width), bool: the pixels of the most important regions,
        in rank order, while they cover at most ``fraction`` of the image (at least one)."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        masks = np.zeros(self.saliency.shape, dtype=bool)
        for index, regions in enumerate(self.regions):
            area = np.cumsum(regions.reshape(len(regions), -1).sum(axis=1)) / regions[0].size
            keep = max(1, int(np.searchsorted(area, fraction, side="right")))
            masks[index] = regions[:keep].any(axis=0)
        return masks


def _skimage(module: str) -> ModuleType:
    try:
        return importlib.import_module(f"skimage.{module}")
    except ImportError as error:
        raise ImportError(
            "XRAI segments images with scikit-image: pip install scikit-image "
            "(or pip install 'intgrad[images]')"
        ) from error


def _felzenszwalb_labels(
    image: np.ndarray, scales: Sequence[float], size: tuple[int, int] | None
) -> list[np.ndarray]:
    """One label image (height, width) per scale."""
    segmentation, transform = _skimage("segmentation"), _skimage("transform")
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) * 2.0 - 1.0 if high > low else np.zeros_like(image)
    if size is not None:
        scaled = transform.resize(
            scaled, size, order=3, mode="constant", preserve_range=True, anti_aliasing=True
        )
    labels = []
    for scale in scales:
        found = segmentation.felzenszwalb(
            scaled, scale=scale, sigma=FELZENSZWALB_SIGMA, min_size=MIN_SEGMENT_PIXELS
        )
        if size is not None:
            found = transform.resize(
                found,
                image.shape[:2],
                order=0,
                preserve_range=True,
                mode="constant",
                anti_aliasing=False,
            ).astype(np.int64)
        labels.append(np.asarray(found, dtype=np.int64))
    return labels


def _dilated_masks(labels: np.ndarray, radius: int) -> list[np.ndarray]:
    """Each label's mask dilated by a disk of ``radius``, label by label (empty ones dropped).

    Only each segment's bounding box, grown by ``radius``, is dilated: the same masks as
    dilating the whole image, in a fraction of the time.
    """
    from scipy import ndimage

    morphology = _skimage("morphology")
    footprint = morphology.disk(radius) if radius > 0 else None
    first = int(labels.min())
    boxes = ndimage.find_objects(labels - first + 1)
    height, width = labels.shape
    masks = []
    for offset, box in enumerate(boxes):
        if box is None:
            continue
        rows = slice(max(box[0].start - radius, 0), min(box[0].stop + radius, height))
        cols = slice(max(box[1].start - radius, 0), min(box[1].stop + radius, width))
        mask = np.zeros(labels.shape, dtype=bool)
        piece = labels[rows, cols] == first + offset
        mask[rows, cols] = piece if footprint is None else morphology.dilation(piece, footprint)
        masks.append(mask)
    return masks


def xrai_segments(
    image: np.ndarray,
    *,
    scales: Sequence[float] = FELZENSZWALB_SCALES,
    segmentation_size: tuple[int, int] | None = SEGMENTATION_SIZE,
    dilation_radius: int = DILATION_RADIUS,
) -> np.ndarray:
    """XRAI's candidate regions of one image: Felzenszwalb segments at every scale, dilated.

    Args:
        image: shape (height, width, channels), float; segmented in its own precision (as
            PAIR does), so a float32 image gives PAIR's segments of that float32 image.
        scales: Felzenszwalb's scale parameters, one segmentation each.
        segmentation_size: (height, width) to segment at (then resized back), or ``None`` to
            segment at the image's own size.
        dilation_radius: grow every segment by a disk of this many pixels (0: not at all).

    Returns:
        shape (regions, height, width), bool: the segments of the first scale in label order,
        then those of the next, and so on.
    """
    image = np.asarray(image)
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float64)
    if image.ndim != 3:
        raise ValueError(f"image must have shape (height, width, channels), got {image.shape}")
    if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
        raise ValueError(f"scales must be positive numbers, got {tuple(scales)!r}")
    if isinstance(dilation_radius, bool) or not isinstance(dilation_radius, (int, np.integer)):
        raise TypeError(f"dilation_radius must be an int, got {dilation_radius!r}")
    if dilation_radius < 0:
        raise ValueError(f"dilation_radius must be >= 0, got {dilation_radius}")
    masks = [
        mask
        for labels in _felzenszwalb_labels(image, scales, segmentation_size)
        for mask in _dilated_masks(labels, int(dilation_radius))
    ]
    return np.stack(masks)


def xrai_rank(
    attributions: np.ndarray, segments: np.ndarray, *, min_pixels: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy region selection of one image by attribution density (XRAI's Algorithm 1).

    Each round picks, among the segments adding at least ``min_pixels`` new pixels, the one
    whose new pixels have the highest mean attribution (the first such segment on ties);
    segments adding fewer are dropped for good. Only the segments a round's new pixels touch
    are re-scored, so a whole image costs about (segments × pixels), not its square.

    Args:
        attributions: shape (height, width), float, the pixel attributions.
        segments: shape (segments, height, width), bool, the candidate regions.
        min_pixels: the fewest new pixels a region must add, >= 1.

    Returns:
        ``(saliency, regions, gains)``: saliency (height, width) float64; the regions
        (regions, height, width) bool, each the pixels it added, ordered by gain (the
        uncovered rest last, if any); their gains (regions,) float64.
    """
    values = np.asarray(attributions, dtype=np.float64)
    masks = np.asarray(segments, dtype=bool)
    if values.ndim != 2 or masks.ndim != 3 or masks.shape[1:] != values.shape:
        raise ValueError(
            "segments must have shape (segments, height, width) matching attributions of shape "
            f"(height, width); got {masks.shape} and {values.shape}"
        )
    if min_pixels < 1:
        raise ValueError(f"min_pixels must be >= 1, got {min_pixels}")
    flat = values.reshape(-1)
    picked, picked_gains, covered = _greedy(flat, masks.reshape(len(masks), -1), min_pixels)
    order = np.argsort(-np.asarray(picked_gains, dtype=np.float64), kind="stable")
    pixels = [picked[i] for i in order]
    gains = [picked_gains[i] for i in order]
    if not covered.all():
        rest = np.flatnonzero(~covered)
        pixels.append(rest)
        gains.append(float(flat[rest].mean()))
    saliency = np.empty_like(flat)
    regions = np.zeros((len(pixels), flat.size), dtype=bool)
    for index, (members, gain) in enumerate(zip(pixels, gains, strict=True)):
        saliency[members] = gain
        regions[index, members] = True
    return (
        saliency.reshape(values.shape),
        regions.reshape((-1, *values.shape)),
        np.asarray(gains, dtype=np.float64),
    )


def _greedy(
    flat: np.ndarray, masks: np.ndarray, min_pixels: int
) -> tuple[list[np.ndarray], list[float], np.ndarray]:
    """The picked regions (new pixel indices), their gains, and the pixels covered."""
    from scipy import sparse

    members = [np.flatnonzero(m) for m in masks]
    counts = np.array([m.size for m in members], dtype=np.int64)
    # Which segments hold each pixel: a (segments × pixels) sparse matrix, sliced by column.
    holder = sparse.csc_array(
        (
            np.ones(int(counts.sum()), dtype=bool),
            (
                np.repeat(np.arange(len(members)), counts),
                np.concatenate(members) if members else np.zeros(0, np.int64),
            ),
        ),
        shape=(len(members), flat.size),
    )
    gains = np.array([flat[m].mean() if m.size else -np.inf for m in members], dtype=np.float64)
    alive = np.ones(len(members), dtype=bool)
    covered = np.zeros(flat.size, dtype=bool)
    picked: list[np.ndarray] = []
    picked_gains: list[float] = []
    while True:
        alive &= counts >= min_pixels
        if not alive.any():
            break
        best = int(np.argmax(np.where(alive, gains, -np.inf)))
        new = members[best]
        picked.append(new)
        picked_gains.append(float(gains[best]))
        covered[new] = True
        alive[best] = False
        touched = np.unique(holder[:, new].indices)
        for k in touched[alive[touched]]:
            # A fresh mean over the segment's uncovered pixels in raster order, as PAIR's.
            left = members[k][~covered[members[k]]]
            members[k], counts[k] = left, left.size
            gains[k] = flat[left].mean() if left.size else -np.inf
    return picked, picked_gains, covered


def _host(values: Any) -> np.ndarray:
    """A framework tensor or array as float64 NumPy (torch tensors are detached first)."""
    detach = getattr(values, "detach", None)
    if callable(detach):
        values = detach().cpu()
    return np.asarray(values, dtype=np.float64)


def _check_images(images: np.ndarray) -> np.ndarray:
    batch = np.asarray(images)
    batch = batch[None] if batch.ndim == 3 else batch
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.shape[0] == 0:
        raise ValueError(
            f"images must have shape (examples, height, width, 3) or (height, width, 3), got "
            f"{np.shape(images)}"
        )
    if not np.issubdtype(batch.dtype, np.floating):
        raise TypeError(f"images must be floats in [0, 1], got dtype {batch.dtype}")
    if not np.isfinite(batch).all() or batch.min() < 0.0 or batch.max() > 1.0:
        raise ValueError("images must be finite floats in [0, 1]")
    return batch


def _pixel_attributions(given: object, shape: tuple[int, ...]) -> np.ndarray:
    """Given attributions as (examples, height, width): channels (first or last) summed."""
    if isinstance(given, Attribution):
        given = given.attributions
    if isinstance(given, tuple):
        raise TypeError("attributions must be one array per batch, not a tuple of inputs")
    values = _host(given)
    examples, height, width = shape
    if values.ndim in (2, 3) and values.shape[:2] == (height, width) and examples == 1:
        values = values[None]
    if values.ndim == 4 and values.shape[1:3] == (height, width):
        values = values.sum(axis=-1)
    elif values.ndim == 4 and values.shape[2:] == (height, width):
        values = values.sum(axis=1)
    if values.shape != shape:
        raise ValueError(
            f"attributions must have shape {shape}, {(*shape, 'channels')} or "
            f"{(examples, 'channels', height, width)} to match the images; got {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("attributions contain NaN or inf")
    return values


def _targets(loaded: ImageModel, target: Target, pixels: np.ndarray) -> list[int]:
    from intgrad.images.explain import top_k_predictions
    from intgrad.images.labels import resolve_label

    if target is None:
        return [best[0].index for best in top_k_predictions(loaded, pixels, 1)]
    if isinstance(target, (int, str)):
        return [resolve_label(target, loaded.labels)] * len(pixels)
    if isinstance(target, (list, tuple)):
        if len(target) != len(pixels):
            raise ValueError(
                f"target list must have one entry per image ({len(pixels)}), got {len(target)}"
            )
        return [resolve_label(t, loaded.labels) for t in target]
    raise TypeError(
        f"target must be a class index or name, a list of them, or None; got {target!r}"
    )


def _integrated_gradients(
    model: ImageModel | str,
    pixels: np.ndarray,
    target: Target,
    call: dict[str, Any],
) -> tuple[np.ndarray, Attribution, np.ndarray]:
    """IG of the target probability from black and white baselines, averaged, one call."""
    from intgrad import integrated_gradients
    from intgrad.images.explain import _as_model, _model_input, _model_output

    loaded = _as_model(model)
    targets = _targets(loaded, target, pixels)
    result = integrated_gradients(
        loaded.module,
        _model_input(loaded, pixels.astype(np.float32)),
        baselines=["black", "white"],
        target=targets,
        output="probability",
        **call,
    )
    per_pixel = _model_output(loaded, result.attributions).astype(np.float64).sum(axis=-1)
    return per_pixel, result, np.asarray(targets, dtype=np.int64)


def _explainer_targets(target: Target, examples: int) -> list[int]:
    """One class index per image: an Explainer has no labels and no top class to default to."""

    def is_index(value: object) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return [int(target)] * examples
    if isinstance(target, (list, tuple)) and all(is_index(t) for t in target):
        if len(target) != examples:
            raise ValueError(
                f"target list must have one entry per image ({examples}), got {len(target)}"
            )
        return [int(t) for t in target]
    raise TypeError(
        "with an Explainer, target must be a class index or one per image (it has no labels "
        f"and no top class to default to); got {target!r}"
    )


def _explainer_integrated_gradients(
    explainer: Explainer, pixels: np.ndarray, target: Target, call: dict[str, Any]
) -> tuple[np.ndarray, Attribution, np.ndarray]:
    """IG of the Explainer's output from black and white baselines, averaged, one call; the
    model takes the channels-last images as they are."""
    targets = _explainer_targets(target, len(pixels))
    result = explainer.attribute(pixels, baselines=["black", "white"], target=targets, **call)
    if isinstance(result.attributions, tuple):
        raise TypeError("xrai explains a model of one input, the images")
    per_pixel = _host(result.attributions).sum(axis=-1)
    return per_pixel, result, np.asarray(targets, dtype=np.int64)


def _fitted_images(images: object, model: ImageModel | str | Explainer | None) -> np.ndarray:
    """An array as it is; a list of arrays or paths fitted to the model's input size."""
    if isinstance(images, np.ndarray):
        return images
    if not isinstance(images, (list, tuple)) or model is None or isinstance(model, Explainer):
        raise TypeError(
            "images must be a NumPy array (examples, height, width, 3), or a list of arrays or "
            "image files together with a model whose input size they are fitted to"
        )
    from intgrad.images.explain import _as_model, prepare_image

    size = _as_model(model).input_size
    return np.stack([prepare_image(image, size)[0] for image in images])


def xrai(
    model: ImageModel | str | Explainer | None,
    images: np.ndarray | Sequence[np.ndarray | str | os.PathLike[str]],
    *,
    target: Target = None,
    attributions: object = None,
    steps: int = 50,
    batch_size: int | None = None,
    scales: Sequence[float] = FELZENSZWALB_SCALES,
    min_region_fraction: float = MIN_REGION_FRACTION,
    segmentation_size: tuple[int, int] | None = SEGMENTATION_SIZE,
    dilation_radius: int = DILATION_RADIUS,
    segments: Sequence[np.ndarray] | None = None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> XRAIResult:
    """XRAI regions and saliency of a batch of images.

    Args:
        model: an image classifier (:data:`~intgrad.images.ImageModel`, or a model spec such
            as ``"efficientnet-lite0"``) whose target probability is attributed; or an
            :class:`~intgrad.Explainer` of a model of any framework (JAX included) taking the
            channels-last images as given, whose ``output`` is attributed (``"probability"``
            for the paper's choice) and which needs ``target`` as class indices; may be
            ``None`` when ``attributions`` are given.
        images: shape (examples, height, width, 3) or (height, width, 3), floats in [0, 1]
            at the model's input size; or a list of arrays or image files, fitted to the
            model's input size (padded, as :func:`~intgrad.images.explain_images`).
        target: the class to explain: an index or name, one per image, or ``None`` for each
            image's most probable class (used only when computing attributions).
        attributions: the pixel attributions to rank regions by, instead of computing them:
            an :class:`~intgrad.Attribution` or an array of shape (examples, height, width),
            (examples, height, width, channels) or (examples, channels, height, width);
            channels are summed.
        steps, batch_size, seed, progress: of the Integrated Gradients call (see
            :func:`intgrad.integrated_gradients`), from the black and the white image.
        scales: Felzenszwalb's scale parameters (one segmentation each).
        min_region_fraction: a region must add at least this share of the image's pixels
            (rounded, at least one pixel); the default is PAIR's 50 pixels at 224×224.
        segmentation_size: (height, width) to segment at, or ``None`` for the image's size.
        dilation_radius: grow every segment by a disk of this many pixels.
        segments: candidate regions per image, instead of segmenting: one boolean array
            (regions, height, width) per image.

    Returns:
        An :class:`XRAIResult`.

    References:
        Kapishnikov, Bolukbasi, Viégas & Terry (2019), "XRAI: Better Attributions Through
        Regions", ICCV.
    """
    pixels = _check_images(_fitted_images(images, model))
    examples, height, width = pixels.shape[:3]
    if not 0.0 < min_region_fraction <= 1.0:
        raise ValueError(f"min_region_fraction must be in (0, 1], got {min_region_fraction!r}")
    if segments is not None and len(segments) != examples:
        raise ValueError(
            f"segments must give one array of regions per image ({examples}), got {len(segments)}"
        )
    ig = chosen = None
    if attributions is not None:
        per_pixel = _pixel_attributions(attributions, (examples, height, width))
    elif model is None:
        raise ValueError("xrai needs a model to compute attributions, or attributions")
    else:
        call = {"steps": steps, "batch_size": batch_size, "seed": seed, "progress": progress}
        if isinstance(model, Explainer):
            per_pixel, ig, chosen = _explainer_integrated_gradients(model, pixels, target, call)
        else:
            per_pixel, ig, chosen = _integrated_gradients(model, pixels, target, call)
    min_pixels = max(1, round(min_region_fraction * height * width))
    ranked = []
    for index in range(examples):
        candidates = (
            xrai_segments(
                pixels[index],
                scales=scales,
                segmentation_size=segmentation_size,
                dilation_radius=dilation_radius,
            )
            if segments is None
            else np.asarray(segments[index], dtype=bool)
        )
        ranked.append(xrai_rank(per_pixel[index], candidates, min_pixels=min_pixels))
    return XRAIResult(
        saliency=np.stack([saliency for saliency, _, _ in ranked]),
        ranks=np.stack([_rank_map(regions) for _, regions, _ in ranked]),
        regions=tuple(regions for _, regions, _ in ranked),
        gains=tuple(gains for _, _, gains in ranked),
        attributions=per_pixel,
        ig=ig,
        target=chosen,
    )


def _rank_map(regions: np.ndarray) -> np.ndarray:
    """(regions, height, width) bool, disjoint → (height, width) int64, 1 for the first."""
    return np.argmax(regions, axis=0).astype(np.int64) + 1
