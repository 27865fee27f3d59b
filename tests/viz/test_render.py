"""render_explanation: which pictures, their sizes and pixels, the options, and every error."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from intgrad import PathRecord
from intgrad.viz import (
    attribution_mask,
    colorize,
    figure_bytes,
    new_figure,
    overlay,
    png_bytes,
    render_explanation,
)

H, W = 24, 40
PATH_POINTS = 9
# The figures' sizes in inches: 8 x 8, 10 x 4 and 6 panels of 2.2 x 2.2.
FIGURE_INCHES = {
    "figure.png": (8.0, 8.0),
    "path.png": (10.0, 4.0),
    "interpolation.png": (6 * 2.2, 2.2),
}


@dataclasses.dataclass(frozen=True)
class Explained:
    """The least an explanation needs to be rendered: arrays, a target and maybe a path."""

    image: np.ndarray
    baseline: np.ndarray
    attributions: np.ndarray
    target: int
    target_label: str
    path: PathRecord | None


@pytest.fixture
def explained() -> Explained:
    rng = np.random.default_rng(11)
    alphas = np.sort(rng.uniform(size=PATH_POINTS))[None]
    return Explained(
        image=rng.uniform(size=(H, W, 3)),
        baseline=np.zeros((H, W, 3)),
        attributions=rng.normal(size=(H, W, 3)),
        target=7,
        target_label="kite",
        path=PathRecord(alphas, np.sqrt(alphas), 1.0 - alphas),
    )


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGB"
        return np.asarray(image)


def _size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


def _levels(image: np.ndarray) -> np.ndarray:
    return np.rint(image * 255).astype(np.uint8)


def test_every_picture_in_order(explained: Explained) -> None:
    pictures = render_explanation(explained)
    assert list(pictures) == [
        "mask.png",
        "overlay.png",
        "figure.png",
        "path.png",
        "interpolation.png",
    ]
    assert _size(pictures["mask.png"]) == _size(pictures["overlay.png"]) == (W, H)
    for name, (width, height) in FIGURE_INCHES.items():
        assert _size(pictures[name]) == (round(width * 100), round(height * 100))


def test_dpi_scales_the_figures_only(explained: Explained) -> None:
    pictures = render_explanation(explained, dpi=50)
    assert _size(pictures["mask.png"]) == (W, H)
    for name, (width, height) in FIGURE_INCHES.items():
        assert _size(pictures[name]) == (round(width * 50), round(height * 50))


def test_mask_and_overlay_pixels(explained: Explained) -> None:
    pictures = render_explanation(explained)
    mask = attribution_mask(explained.attributions)
    np.testing.assert_array_equal(_pixels(pictures["mask.png"]), _levels(colorize(mask)))
    blended = overlay(explained.image, mask, alpha=0.6)
    np.testing.assert_array_equal(_pixels(pictures["overlay.png"]), _levels(blended))


def test_signed_colour_map_and_opacity_are_used(explained: Explained) -> None:
    pictures = render_explanation(explained, signed=True, cmap="viridis", overlay_alpha=0.0)
    mask = attribution_mask(explained.attributions, signed=True)
    expected = colorize(mask, "viridis", signed=True)
    np.testing.assert_array_equal(_pixels(pictures["mask.png"]), _levels(expected))
    # Opacity 0: the overlay is the photo itself.
    np.testing.assert_array_equal(_pixels(pictures["overlay.png"]), _levels(explained.image))
    assert pictures["mask.png"] != render_explanation(explained)["mask.png"]


def test_interpolation_steps_set_the_strip_width(explained: Explained) -> None:
    pictures = render_explanation(explained, interpolation_steps=3)
    assert _size(pictures["interpolation.png"]) == (round(3 * 2.2 * 100), 220)


def test_no_path_no_path_picture(explained: Explained) -> None:
    pictures = render_explanation(dataclasses.replace(explained, path=None))
    assert list(pictures) == ["mask.png", "overlay.png", "figure.png", "interpolation.png"]


def test_the_same_explanation_renders_the_same_bytes(explained: Explained) -> None:
    assert render_explanation(explained) == render_explanation(explained)


@pytest.mark.parametrize("steps", [1, 0, -3])
def test_too_few_interpolation_steps_are_refused(explained: Explained, steps: int) -> None:
    with pytest.raises(ValueError, match=f"interpolation_steps must be >= 2, got {steps}"):
        render_explanation(explained, interpolation_steps=steps)


def test_a_path_of_several_examples_is_refused(explained: Explained) -> None:
    alphas = np.tile(explained.path.alphas, (2, 1))
    batched = dataclasses.replace(explained, path=PathRecord(alphas, alphas, alphas))
    with pytest.raises(ValueError, match=r"one example.*got \(2, 9\)"):
        render_explanation(batched)


def test_a_path_padded_with_nan_is_refused(explained: Explained) -> None:
    alphas = explained.path.alphas.copy()
    alphas[0, -2:] = np.nan
    padded = dataclasses.replace(explained, path=PathRecord(alphas, alphas, alphas))
    with pytest.raises(ValueError, match="alphas must contain only finite values"):
        render_explanation(padded)


def test_an_image_out_of_range_is_refused(explained: Explained) -> None:
    with pytest.raises(ValueError, match=r"image must have values in \[0, 1\]"):
        render_explanation(dataclasses.replace(explained, image=explained.image + 1.0))


def test_png_bytes_rounds_to_the_nearest_level() -> None:
    image = np.zeros((1, 4, 3))
    image[0, :, 0] = [0.0, 0.5 / 255, 1.49 / 255, 1.0]
    np.testing.assert_array_equal(_pixels(png_bytes(image))[0, :, 0], [0, 0, 1, 255])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4)), r"shape \(height, width, 3\)"),
        (np.full((4, 4, 3), 1.5), r"values in \[0, 1\]"),
        (np.full((4, 4, 3), np.nan), "finite"),
    ],
)
def test_png_bytes_refuses_what_is_not_an_rgb_image(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        png_bytes(image)


def test_figure_bytes_is_a_png_of_dpi_times_inches() -> None:
    figure = new_figure((3.0, 2.0))
    assert _size(figure_bytes(figure, dpi=40)) == (120, 80)
    with pytest.raises(ValueError, match="dpi must be positive, got 0"):
        figure_bytes(figure, dpi=0)


def test_rendering_imports_no_framework_and_no_pyplot() -> None:
    # In a fresh interpreter, since other tests import the frameworks into this one.
    script = """
import sys
import numpy as np
from intgrad import PathRecord
from intgrad.viz import render_explanation

class Explained:
    image = np.full((4, 6, 3), 0.5)
    baseline = 0 * image
    attributions = image - 0.25
    target, target_label = 1, "one"
    path = PathRecord(np.array([[0.0, 1.0]]), np.array([[0.1, 0.9]]), np.array([[1.0, 0.0]]))

assert len(render_explanation(Explained(), dpi=10)) == 5
heavy = ("torch", "tensorflow", "jax", "keras", "matplotlib.pyplot")
print(sorted(name for name in sys.modules if name.split(".")[0] in heavy or name in heavy))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
