"""The TensorFlow Integrated Gradients tutorial's figures as matplotlib Display objects.

Each Display follows scikit-learn's plotting API: the constructor stores (and checks) the arrays
it will draw, ``plot(fig=None)`` draws them and keeps ``figure_`` and ``axes_``, and a
``from_arrays`` class method computes what is needed first. Figures are built from
:class:`matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so no display is
needed and no global figure state is created or leaked.

References:
    TensorFlow tutorial "Integrated gradients", https://www.tensorflow.org/tutorials/interpretability/integrated_gradients
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

try:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError as error:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        "intgrad.viz.figures needs matplotlib: pip install 'intgrad[images]' (or matplotlib)"
    ) from error

from intgrad.io import atomic_writer
from intgrad.viz.heatmaps import (
    DEFAULT_CMAP,
    DEFAULT_SIGNED_CMAP,
    _check_image,
    _check_mask,
    _finite_float,
    attribution_mask,
    overlay,
)

__all__ = [
    "AttributionDisplay",
    "InterpolationDisplay",
    "SaturationDisplay",
    "figure_bytes",
    "new_figure",
    "save_figure",
]

_PANEL_INCHES = 2.2


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure of ``figsize`` inches (width, height) on the Agg canvas, outside pyplot."""
    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float = 100.0) -> Path:
    """Save ``fig`` as a PNG at ``path`` atomically; it is (width x dpi) x (height x dpi) pixels.

    Args:
        fig: the figure to save.
        path: the file to create or replace; its directory must exist.
        dpi: dots per inch, positive.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if not dpi > 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    with atomic_writer(path) as temp, open(temp, "wb") as file:
        fig.savefig(file, format="png", dpi=dpi)
    return Path(path)


def figure_bytes(fig: Figure, *, dpi: float = 100.0) -> bytes:
    """``fig`` as the bytes of a PNG file of (width x dpi) x (height x dpi) pixels.

    Args:
        fig: the figure to render.
        dpi: dots per inch, positive.
    """
    if not dpi > 0:
        raise ValueError(f"dpi must be positive, got {dpi}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _image_axes(axes: Axes, title: str) -> None:
    axes.set_title(title)
    axes.axis("off")


class AttributionDisplay:
    """The tutorial's 2 x 2 figure: baseline, original image, attribution mask, overlay.

    Args:
        image: the explained image, shape (height, width, 3), float in [0, 1].
        baseline: the baseline, same shape and range as ``image``.
        mask: shape (height, width), in [0, 1] (or [-1, 1] when ``signed``), e.g. from
            :func:`intgrad.viz.heatmaps.attribution_mask`.
        overlay: shape (height, width, 3), float in [0, 1], e.g. from
            :func:`intgrad.viz.heatmaps.overlay`.
        signed: whether ``mask`` is signed; picks the colour range and default colour map.
        cmap: colour map for the mask panel; ``"inferno"`` (``"RdBu_r"`` if signed) by default.
        title: optional title above the whole figure.

    Attributes:
        figure_: the :class:`~matplotlib.figure.Figure`, after :meth:`plot`.
        axes_: array of shape (2, 2) of :class:`~matplotlib.axes.Axes`, after :meth:`plot`.
    """

    figure_: Figure
    axes_: NDArray[np.object_]

    def __init__(
        self,
        image: ArrayLike,
        baseline: ArrayLike,
        mask: ArrayLike,
        overlay: ArrayLike,
        *,
        signed: bool = False,
        cmap: str | None = None,
        title: str | None = None,
    ) -> None:
        self.image = _check_image("image", image)
        self.baseline = _check_image("baseline", baseline)
        self.mask = _check_mask(mask, signed=signed)
        self.overlay = _check_image("overlay", overlay)
        size = self.image.shape
        for name, array in (("baseline", self.baseline), ("overlay", self.overlay)):
            if array.shape != size:
                raise ValueError(f"{name} must have shape {size} like image, got {array.shape}")
        if self.mask.shape != size[:2]:
            raise ValueError(f"mask must have shape {size[:2]} like image, got {self.mask.shape}")
        self.signed = signed
        self.cmap = cmap if cmap is not None else (DEFAULT_SIGNED_CMAP if signed else DEFAULT_CMAP)
        self.title = title

    @classmethod
    def from_arrays(
        cls,
        image: ArrayLike,
        baseline: ArrayLike,
        attributions: ArrayLike,
        *,
        channel_axis: int | None = -1,
        cmap: str | None = None,
        alpha: float = 0.4,
        signed: bool = False,
        clip_percentile: float = 99.0,
        weight_by_mask: bool = False,
        title: str | None = None,
        fig: Figure | None = None,
    ) -> AttributionDisplay:
        """Compute the mask and overlay from attributions, then plot; returns the display.

        Args:
            image, baseline: shape (height, width, 3), float in [0, 1].
            attributions: shape (height, width, channels) with channels at ``channel_axis``,
                or (height, width).
            channel_axis, signed, clip_percentile: see
                :func:`intgrad.viz.heatmaps.attribution_mask`.
            cmap, alpha, weight_by_mask: see :func:`intgrad.viz.heatmaps.overlay`.
            title: optional figure title.
            fig: an empty figure to draw into; a new one when None.
        """
        mask = attribution_mask(
            attributions, channel_axis=channel_axis, signed=signed, clip_percentile=clip_percentile
        )
        blended = overlay(
            image, mask, alpha=alpha, cmap=cmap, signed=signed, weight_by_mask=weight_by_mask
        )
        display = cls(image, baseline, mask, blended, signed=signed, cmap=cmap, title=title)
        return display.plot(fig=fig)

    def plot(self, fig: Figure | None = None) -> AttributionDisplay:
        """Draw the four panels into ``fig`` (an empty figure; a new 8 x 8 inch one if None)."""
        figure = fig if fig is not None else new_figure((8.0, 8.0))
        axes = np.asarray(figure.subplots(2, 2, squeeze=False), dtype=object)
        axes[0, 0].imshow(self.baseline)
        _image_axes(axes[0, 0], "Baseline image")
        axes[0, 1].imshow(self.image)
        _image_axes(axes[0, 1], "Original image")
        low = -1.0 if self.signed else 0.0
        axes[1, 0].imshow(self.mask, cmap=self.cmap, vmin=low, vmax=1.0)
        _image_axes(axes[1, 0], "Attribution mask")
        axes[1, 1].imshow(self.overlay)
        _image_axes(axes[1, 1], "Overlay")
        if self.title is not None:
            figure.suptitle(self.title)
        self.figure_, self.axes_ = figure, axes
        return self


def _alpha_title(alpha: float) -> str:
    # One decimal like the tutorial ("alpha: 0.2"), more only when one would misstate alpha.
    short = f"{alpha:.1f}"
    return f"alpha: {short}" if abs(float(short) - alpha) < 1e-9 else f"alpha: {alpha:.3g}"


class InterpolationDisplay:
    """The tutorial's strip of images along the straight-line path, one panel per alpha.

    Args:
        images: shape (steps, height, width, 3), float in [0, 1], e.g. from
            :func:`intgrad.viz.heatmaps.interpolate_images`.
        alphas: shape (steps,), the interpolation coefficient of each image.

    Attributes:
        figure_: the :class:`~matplotlib.figure.Figure`, after :meth:`plot`.
        axes_: array of shape (steps,) of :class:`~matplotlib.axes.Axes`, after :meth:`plot`.
    """

    figure_: Figure
    axes_: NDArray[np.object_]

    def __init__(self, images: ArrayLike, alphas: ArrayLike) -> None:
        stack = _finite_float("images", images)
        coefficients = _finite_float("alphas", alphas)
        if stack.ndim != 4 or stack.shape[3] != 3 or stack.shape[0] == 0:
            raise ValueError(f"images must have shape (steps, height, width, 3), got {stack.shape}")
        if coefficients.shape != stack.shape[:1]:
            raise ValueError(
                f"alphas must have shape ({stack.shape[0]},) like images, got {coefficients.shape}"
            )
        for image in stack:
            _check_image("images", image)
        self.images = stack
        self.alphas = coefficients

    def plot(self, fig: Figure | None = None) -> InterpolationDisplay:
        """Draw one panel per image into ``fig`` (a new figure 2.2 inches per panel if None)."""
        steps = self.images.shape[0]
        figure = fig if fig is not None else new_figure((_PANEL_INCHES * steps, _PANEL_INCHES))
        axes = np.asarray(figure.subplots(1, steps, squeeze=False), dtype=object)[0]
        for ax, image, alpha in zip(axes, self.images, self.alphas, strict=True):
            ax.imshow(image)
            _image_axes(ax, _alpha_title(float(alpha)))
        self.figure_, self.axes_ = figure, axes
        return self


def _rescale_to_unit(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map ``values`` linearly so the minimum is 0 and the maximum 1 (all 0 if constant)."""
    span = float(values.max() - values.min())
    return (values - values.min()) / span if span > 0.0 else np.zeros_like(values)


class SaturationDisplay:
    """The tutorial's two panels on gradient saturation along the path.

    Left: the model's probability for the target class against alpha. Right: the mean gradient
    over the input's pixels against alpha, rescaled to [0, 1] by its range. Points are sorted by
    alpha, so non-uniform or shuffled alphas are drawn correctly.

    Args:
        alphas: shape (points,), interpolation coefficients (any order, need not be uniform).
        outputs: shape (points,), the target class probability at each alpha.
        mean_gradients: shape (points,), the mean of the gradients over the input at each alpha.
        target_label: optional class name, shown in the left panel's labels.

    Attributes:
        alphas, outputs, mean_gradients: the inputs as float64, sorted by alpha.
        figure_: the :class:`~matplotlib.figure.Figure`, after :meth:`plot`.
        axes_: array of shape (2,) of :class:`~matplotlib.axes.Axes`, after :meth:`plot`.
    """

    figure_: Figure
    axes_: NDArray[np.object_]

    def __init__(
        self,
        alphas: ArrayLike,
        outputs: ArrayLike,
        mean_gradients: ArrayLike,
        *,
        target_label: str | None = None,
    ) -> None:
        coefficients = _finite_float("alphas", alphas)
        if coefficients.ndim != 1 or coefficients.size == 0:
            raise ValueError(f"alphas must have shape (points,), got {coefficients.shape}")
        order = np.argsort(coefficients, kind="stable")
        self.alphas = coefficients[order]
        self.outputs = self._series("outputs", outputs, coefficients.shape)[order]
        self.mean_gradients = self._series("mean_gradients", mean_gradients, coefficients.shape)[
            order
        ]
        self.target_label = target_label

    @staticmethod
    def _series(name: str, values: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.float64]:
        array = _finite_float(name, values)
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape} like alphas, got {array.shape}")
        return array

    def plot(self, fig: Figure | None = None) -> SaturationDisplay:
        """Draw both panels side by side into ``fig`` (a new 10 x 4 inch figure if None)."""
        figure = fig if fig is not None else new_figure((10.0, 4.0))
        axes = np.asarray(figure.subplots(1, 2, squeeze=False), dtype=object)[0]
        target = "target class" if self.target_label is None else repr(self.target_label)
        left, right = axes
        left.plot(self.alphas, self.outputs, marker=".")
        left.set_title(f"Probability of {target} over alpha")
        left.set_xlabel("alpha")
        left.set_ylabel(f"model p({target})")
        if self.outputs.min() >= 0.0 and self.outputs.max() <= 1.0:
            left.set_ylim(0.0, 1.0)
        right.plot(self.alphas, _rescale_to_unit(self.mean_gradients), marker=".")
        right.set_title("Mean pixel gradient over alpha")
        right.set_xlabel("alpha")
        right.set_ylabel("mean gradient (min-max rescaled to [0, 1])")
        right.set_ylim(-0.05, 1.05)
        for ax in axes:
            ax.set_xlim(min(0.0, self.alphas[0]), max(1.0, self.alphas[-1]))
        self.figure_, self.axes_ = figure, axes
        return self
