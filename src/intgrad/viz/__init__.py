"""Arrays to pictures: attribution masks, overlays and the tutorial's figures (NumPy/matplotlib).

Needs matplotlib (the ``images`` extra); no machine-learning framework is imported.
"""

from intgrad.viz.figures import (
    AttributionDisplay,
    InterpolationDisplay,
    SaturationDisplay,
    figure_bytes,
    new_figure,
    save_figure,
)
from intgrad.viz.heatmaps import attribution_mask, colorize, interpolate_images, overlay
from intgrad.viz.render import ExplainedImage, png_bytes, render_explanation

__all__ = [
    "AttributionDisplay",
    "ExplainedImage",
    "InterpolationDisplay",
    "SaturationDisplay",
    "attribution_mask",
    "colorize",
    "figure_bytes",
    "interpolate_images",
    "new_figure",
    "overlay",
    "png_bytes",
    "render_explanation",
    "save_figure",
]
