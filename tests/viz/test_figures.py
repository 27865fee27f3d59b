"""Display objects: panel layout, titles, line data, and saved PNG files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from intgrad.viz.figures import (
    AttributionDisplay,
    InterpolationDisplay,
    SaturationDisplay,
    new_figure,
    save_figure,
)
from intgrad.viz.heatmaps import attribution_mask, interpolate_images, overlay

H, W = 32, 48
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(H, W, 3))
    baseline = np.zeros((H, W, 3))
    attributions = rng.normal(size=(H, W, 3))
    return image, baseline, attributions


def _titles(axes: np.ndarray) -> list[str]:
    return [ax.get_title() for ax in axes.ravel()]


def test_attribution_display_from_arrays(arrays: tuple[np.ndarray, ...]) -> None:
    image, baseline, attributions = arrays
    display = AttributionDisplay.from_arrays(image, baseline, attributions, title="cat")
    assert isinstance(display.figure_, Figure)
    assert display.axes_.shape == (2, 2)
    assert len(display.figure_.axes) == 4
    assert _titles(display.axes_) == [
        "Baseline image",
        "Original image",
        "Attribution mask",
        "Overlay",
    ]
    assert display.figure_.get_suptitle() == "cat"
    np.testing.assert_allclose(display.figure_.get_size_inches(), (8.0, 8.0))
    np.testing.assert_allclose(display.mask, attribution_mask(attributions))
    np.testing.assert_allclose(display.overlay, overlay(image, display.mask, alpha=0.4))
    mask_image = display.axes_[1, 0].get_images()[0]
    assert mask_image.get_cmap().name == "inferno"
    assert mask_image.get_clim() == (0.0, 1.0)
    np.testing.assert_array_equal(display.axes_[0, 0].get_images()[0].get_array(), baseline)


def test_attribution_display_signed_channels_first(arrays: tuple[np.ndarray, ...]) -> None:
    image, baseline, attributions = arrays
    display = AttributionDisplay.from_arrays(
        image, baseline, np.moveaxis(attributions, -1, 0), channel_axis=0, signed=True
    )
    assert display.mask.min() == -1.0 and display.mask.max() == 1.0
    mask_image = display.axes_[1, 0].get_images()[0]
    assert mask_image.get_cmap().name == "RdBu_r"
    assert mask_image.get_clim() == (-1.0, 1.0)


def test_attribution_display_draws_into_a_given_figure(arrays: tuple[np.ndarray, ...]) -> None:
    image, baseline, _ = arrays
    figure = new_figure((4.0, 4.0))
    display = AttributionDisplay(image, baseline, np.zeros((H, W)), image).plot(fig=figure)
    assert display.figure_ is figure
    assert len(figure.axes) == 4


def test_attribution_display_checks_shapes(arrays: tuple[np.ndarray, ...]) -> None:
    image, baseline, _ = arrays
    with pytest.raises(ValueError, match=r"mask must have shape \(32, 48\) like image"):
        AttributionDisplay(image, baseline, np.zeros((H, W + 1)), image)
    with pytest.raises(ValueError, match=r"baseline must have shape \(32, 48, 3\) like image"):
        AttributionDisplay(image, baseline[:-1], np.zeros((H, W)), image)


def test_interpolation_display_titles(arrays: tuple[np.ndarray, ...]) -> None:
    image, baseline, _ = arrays
    alphas = np.linspace(0.0, 1.0, 6)
    display = InterpolationDisplay(interpolate_images(baseline, image, alphas), alphas).plot()
    assert display.axes_.shape == (6,)
    assert _titles(display.axes_) == [
        "alpha: 0.0",
        "alpha: 0.2",
        "alpha: 0.4",
        "alpha: 0.6",
        "alpha: 0.8",
        "alpha: 1.0",
    ]
    np.testing.assert_allclose(display.figure_.get_size_inches(), (6 * 2.2, 2.2))
    np.testing.assert_allclose(display.axes_[3].get_images()[0].get_array(), 0.6 * image)


def test_interpolation_display_keeps_precision_in_titles(arrays: tuple[np.ndarray, ...]) -> None:
    image, baseline, _ = arrays
    alphas = np.array([0.25, 0.5])
    display = InterpolationDisplay(interpolate_images(baseline, image, alphas), alphas).plot()
    assert _titles(display.axes_) == ["alpha: 0.25", "alpha: 0.5"]


def test_interpolation_display_checks_shapes(arrays: tuple[np.ndarray, ...]) -> None:
    image, _, _ = arrays
    with pytest.raises(ValueError, match=r"alphas must have shape \(2,\) like images"):
        InterpolationDisplay(np.stack([image, image]), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"images must have shape \(steps, height, width, 3\)"):
        InterpolationDisplay(image, [0.0])


def test_saturation_display_sorts_alphas() -> None:
    alphas = np.array([1.0, 0.0, 0.3, 0.1, 0.6])
    outputs = np.array([0.9, 0.0, 0.7, 0.2, 0.85])
    gradients = np.array([0.5, 4.5, 1.0, 3.0, 0.5])
    display = SaturationDisplay(alphas, outputs, gradients, target_label="tabby").plot()
    assert display.axes_.shape == (2,)
    left, right = display.axes_
    (probability,) = left.get_lines()
    (gradient,) = right.get_lines()
    np.testing.assert_array_equal(probability.get_xdata(), [0.0, 0.1, 0.3, 0.6, 1.0])
    np.testing.assert_array_equal(probability.get_ydata(), [0.0, 0.2, 0.7, 0.85, 0.9])
    np.testing.assert_array_equal(gradient.get_xdata(), [0.0, 0.1, 0.3, 0.6, 1.0])
    # (g - 0.5) / (4.5 - 0.5) in alpha order
    np.testing.assert_allclose(gradient.get_ydata(), [1.0, 0.625, 0.125, 0.0, 0.0])
    assert left.get_ylabel() == "model p('tabby')"
    assert "rescaled to [0, 1]" in right.get_ylabel()
    assert left.get_ylim() == (0.0, 1.0)
    assert left.get_xlabel() == right.get_xlabel() == "alpha"
    np.testing.assert_allclose(display.figure_.get_size_inches(), (10.0, 4.0))


def test_saturation_display_constant_gradients_are_zero() -> None:
    display = SaturationDisplay([0.0, 0.5, 1.0], [0.1, 0.5, 0.9], [2.0, 2.0, 2.0]).plot()
    np.testing.assert_array_equal(display.axes_[1].get_lines()[0].get_ydata(), [0.0, 0.0, 0.0])
    assert display.axes_[0].get_ylabel() == "model p(target class)"


def test_saturation_display_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"outputs must have shape \(3,\) like alphas"):
        SaturationDisplay([0.0, 0.5, 1.0], [0.1, 0.5], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"mean_gradients must have shape \(3,\) like alphas"):
        SaturationDisplay([0.0, 0.5, 1.0], [0.1, 0.5, 0.9], [1.0])


@pytest.mark.parametrize(("figsize", "dpi"), [((3.0, 2.0), 50.0), ((2.5, 1.5), 40.0)])
def test_save_figure_writes_png_of_the_expected_size(
    tmp_path: Path, figsize: tuple[float, float], dpi: float
) -> None:
    figure = new_figure(figsize)
    figure.subplots().plot([0.0, 1.0], [1.0, 0.0])
    target = save_figure(figure, tmp_path / "plot.png", dpi=dpi)
    assert target == tmp_path / "plot.png"
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(target) as picture:
        assert picture.format == "PNG"
        assert picture.size == (round(figsize[0] * dpi), round(figsize[1] * dpi))
    assert os.listdir(tmp_path) == ["plot.png"]


def test_save_attribution_display(tmp_path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    display = AttributionDisplay.from_arrays(*arrays)
    save_figure(display.figure_, tmp_path / "ig.png", dpi=20)
    with Image.open(tmp_path / "ig.png") as picture:
        assert picture.size == (160, 160)


def test_save_figure_errors(tmp_path: Path) -> None:
    figure = new_figure((1.0, 1.0))
    with pytest.raises(ValueError, match="dpi must be positive"):
        save_figure(figure, tmp_path / "x.png", dpi=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_figure(figure, tmp_path / "missing" / "x.png")
    assert os.listdir(tmp_path) == []


def test_figures_never_import_pyplot(tmp_path: Path) -> None:
    # In a fresh interpreter, since other tests may import pyplot into this one.
    script = f"""
import sys
import numpy as np
from intgrad.viz.figures import AttributionDisplay, SaturationDisplay, save_figure
image = np.full((4, 6, 3), 0.5)
display = AttributionDisplay.from_arrays(image, 0 * image, image - 0.25)
save_figure(display.figure_, {str(tmp_path / "a.png")!r}, dpi=10)
SaturationDisplay([0.0, 1.0], [0.1, 0.9], [1.0, 0.0]).plot()
print(sorted(name for name in sys.modules if name.startswith("matplotlib.pyplot")))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_SIGNATURE
