"""One explanation to all of its pictures, as PNG files in memory, for a command or a web app.

The pictures are those the TensorFlow Integrated Gradients tutorial shows: the attribution mask
and its overlay on the photo, the 2 x 2 figure, the saturation plots along the path and the strip
of images along the path. They are drawn from arrays only, so any object with the attributes of
:class:`ExplainedImage` can be rendered, whatever framework computed it.

References:
    TensorFlow tutorial "Integrated gradients", https://www.tensorflow.org/tutorials/interpretability/integrated_gradients
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import ArrayLike

from intgrad.viz.figures import (
    AttributionDisplay,
    InterpolationDisplay,
    SaturationDisplay,
    figure_bytes,
)
from intgrad.viz.heatmaps import (
    _check_image,
    attribution_mask,
    colorize,
    interpolate_images,
    overlay,
)

if TYPE_CHECKING:
    from intgrad import PathRecord

__all__ = ["ExplainedImage", "png_bytes", "render_explanation"]


class ExplainedImage(Protocol):
    """What :func:`render_explanation` reads; :class:`intgrad.images.ImageExplanation` is one.

    Attributes:
        image: shape (height, width, 3), float in [0, 1], the explained input.
        baseline: the baseline x′, same shape and range as ``image``.
        attributions: shape (height, width, channels), channels last, any finite values.
        target: the explained class index; ``target_label`` its display name.
        path: the model's output and mean gradient at each evaluated point, arrays of shape
            (1, points) with finite values, or ``None`` when the path was not recorded.
    """

    @property
    def image(self) -> np.ndarray: ...

    @property
    def baseline(self) -> np.ndarray: ...

    @property
    def attributions(self) -> np.ndarray: ...

    @property
    def target(self) -> int: ...

    @property
    def target_label(self) -> str: ...

    @property
    def path(self) -> PathRecord | None: ...


def png_bytes(image: ArrayLike) -> bytes:
    """An RGB image as the bytes of an 8-bit PNG file, each value rounded to the nearest level.

    Args:
        image: shape (height, width, 3), float in [0, 1].
    """
    from PIL import Image  # matplotlib's own dependency

    pixels = np.rint(_check_image("image", image) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def render_explanation(
    explanation: ExplainedImage,
    *,
    signed: bool = False,
    cmap: str | None = None,
    overlay_alpha: float = 0.6,
    interpolation_steps: int = 6,
    dpi: float = 100.0,
) -> dict[str, bytes]:
    """Every picture of one explanation as the bytes of a PNG file, by file name.

    Args:
        explanation: e.g. from :func:`intgrad.images.explain_image`; see :class:`ExplainedImage`.
        signed: show the signed attributions in diverging colours instead of their magnitudes
            (see :func:`intgrad.viz.heatmaps.attribution_mask`).
        cmap: colour map of the mask; ``"inferno"`` (``"RdBu_r"`` when ``signed``) by default.
        overlay_alpha: opacity of the coloured mask over the photo, in [0, 1] (the tutorial's
            figure is 0.6).
        interpolation_steps: images in the strip along the path, >= 2, at alphas evenly spaced
            from 0 (the baseline) to 1 (the image).
        dpi: resolution of the three figures, dots per inch.

    Returns:
        In this order: ``"mask.png"`` and ``"overlay.png"``, at the image's size;
        ``"figure.png"``, the 2 x 2 figure (8 x 8 inches); ``"path.png"``, the saturation plots
        (10 x 4 inches), only when ``explanation.path`` is not None; ``"interpolation.png"``,
        the strip (2.2 x 2.2 inches per image).
    """
    if interpolation_steps < 2:
        raise ValueError(f"interpolation_steps must be >= 2, got {interpolation_steps}")
    mask = attribution_mask(explanation.attributions, signed=signed)
    blended = overlay(explanation.image, mask, alpha=overlay_alpha, cmap=cmap, signed=signed)
    figure = AttributionDisplay(
        explanation.image,
        explanation.baseline,
        mask,
        blended,
        signed=signed,
        cmap=cmap,
        title=f"{explanation.target_label} ({explanation.target})",
    ).plot()
    pictures = {
        "mask.png": png_bytes(colorize(mask, cmap, signed=signed)),
        "overlay.png": png_bytes(blended),
        "figure.png": figure_bytes(figure.figure_, dpi=dpi),
    }
    path = explanation.path
    if path is not None:
        saturation = _saturation(path, explanation.target_label)
        pictures["path.png"] = figure_bytes(saturation.figure_, dpi=dpi)
    alphas = np.linspace(0.0, 1.0, interpolation_steps)
    strip = InterpolationDisplay(
        interpolate_images(explanation.baseline, explanation.image, alphas), alphas
    ).plot()
    pictures["interpolation.png"] = figure_bytes(strip.figure_, dpi=dpi)
    return pictures


def _saturation(path: PathRecord, target_label: str) -> SaturationDisplay:
    if path.alphas.ndim != 2 or path.alphas.shape[0] != 1:
        raise ValueError(
            f"path must hold one example, arrays of shape (1, points), got {path.alphas.shape}"
        )
    return SaturationDisplay(
        path.alphas[0], path.outputs[0], path.mean_gradients[0], target_label=target_label
    ).plot()
