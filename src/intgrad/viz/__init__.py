"""Arrays to pictures: attribution masks, overlays, the tutorial's figures, text views and the
global views of dataset summaries (importance, beeswarm, dependence, cohorts, tokens, class maps).

The text views (:mod:`intgrad.viz.text`: HTML and terminal) need only NumPy and are imported
here directly. The image names need matplotlib (the ``images`` extra) and load on first use, so
``from intgrad.viz import text_html`` works without it. No machine-learning framework is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from intgrad.viz.text import save_text_html, text_html, text_html_fragment, text_terminal

if TYPE_CHECKING:
    from intgrad.viz.dataset import (
        BeeswarmDisplay,
        ClassMapsDisplay,
        CohortDisplay,
        DependenceDisplay,
        ImportanceDisplay,
        TokenImportanceDisplay,
    )
    from intgrad.viz.figures import (
        AttributionDisplay,
        InterpolationDisplay,
        SaturationDisplay,
        figure_bytes,
        new_figure,
        save_figure,
    )
    from intgrad.viz.heatmaps import attribution_mask, colorize, interpolate_images, overlay
    from intgrad.viz.interactions import InteractionsDisplay
    from intgrad.viz.metrics import CurveDisplay
    from intgrad.viz.render import ExplainedImage, png_bytes, render_explanation

__all__ = [
    "AttributionDisplay",
    "BeeswarmDisplay",
    "ClassMapsDisplay",
    "CohortDisplay",
    "CurveDisplay",
    "DependenceDisplay",
    "ExplainedImage",
    "ImportanceDisplay",
    "InteractionsDisplay",
    "InterpolationDisplay",
    "SaturationDisplay",
    "TokenImportanceDisplay",
    "attribution_mask",
    "colorize",
    "figure_bytes",
    "interpolate_images",
    "new_figure",
    "overlay",
    "png_bytes",
    "render_explanation",
    "save_figure",
    "save_text_html",
    "text_html",
    "text_html_fragment",
    "text_terminal",
]

# The matplotlib-based names, by the module that defines them.
_LAZY = {
    **dict.fromkeys(
        (
            "AttributionDisplay",
            "InterpolationDisplay",
            "SaturationDisplay",
            "figure_bytes",
            "new_figure",
            "save_figure",
        ),
        "intgrad.viz.figures",
    ),
    **dict.fromkeys(
        ("attribution_mask", "colorize", "interpolate_images", "overlay"), "intgrad.viz.heatmaps"
    ),
    **dict.fromkeys(("ExplainedImage", "png_bytes", "render_explanation"), "intgrad.viz.render"),
    # Global views of dataset summaries (matplotlib when drawn; pandas for per-example frames).
    **dict.fromkeys(
        (
            "BeeswarmDisplay",
            "ClassMapsDisplay",
            "CohortDisplay",
            "DependenceDisplay",
            "ImportanceDisplay",
            "TokenImportanceDisplay",
        ),
        "intgrad.viz.dataset",
    ),
    "CurveDisplay": "intgrad.viz.metrics",
    "InteractionsDisplay": "intgrad.viz.interactions",
}


def __getattr__(name: str) -> Any:
    """Import a matplotlib-based name's module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
