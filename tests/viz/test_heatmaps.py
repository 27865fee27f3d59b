"""Masks, colour maps, overlays and path images on small hand-built arrays."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from intgrad.viz.heatmaps import attribution_mask, colorize, interpolate_images, overlay

H, W = 32, 48


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def image(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=(H, W, 3))


# --- attribution_mask -------------------------------------------------------------------------


def test_mask_sums_absolute_values_over_channels() -> None:
    attributions = np.array(
        [
            [[1.0, -2.0, 1.0], [0.0, 0.0, 0.0]],
            [[-0.5, -0.5, 0.0], [2.0, 1.0, 1.0]],
        ]
    )  # |a| summed over channels: [[4, 0], [1, 4]]
    mask = attribution_mask(attributions, clip_percentile=100.0)
    np.testing.assert_allclose(mask, [[1.0, 0.0], [0.25, 1.0]], rtol=0, atol=1e-15)


def test_percentile_clipping_ignores_a_single_outlier() -> None:
    # 400 pixels with magnitudes 1..399 and one outlier of 1e6, split over three channels.
    magnitudes = np.concatenate([np.arange(1.0, 400.0), [1e6]])
    rng = np.random.default_rng(1)
    magnitudes = magnitudes[rng.permutation(400)]
    attributions = np.repeat(magnitudes.reshape(20, 20, 1) / 3.0, 3, axis=2)
    attributions[..., 1] *= -1.0  # signs do not matter for the unsigned mask

    mask = attribution_mask(attributions, clip_percentile=99.0)

    # 99th percentile of 400 sorted values (linear): index 0.99 * 399 = 395.01, between the
    # 396th (value 396) and 397th (value 397) smallest: 396.01.
    scale = 396.01
    flat, values = mask.ravel(), magnitudes
    below = values <= 396.0
    np.testing.assert_allclose(flat[below], values[below] / scale, rtol=1e-12)
    np.testing.assert_array_equal(flat[~below], 1.0)
    assert np.count_nonzero(~below) == 4  # 397, 398, 399 and the outlier
    # The median pixel stays mid-grey instead of being flattened to ~2e-4 by the outlier.
    assert flat[values == 200.0][0] == pytest.approx(200.0 / 396.01, rel=1e-12)


def test_signed_mask_keeps_sign_and_range() -> None:
    attributions = np.zeros((2, 3, 3))
    attributions[0, 0] = (1.0, 1.0, 0.0)  # sum +2
    attributions[0, 1] = (-3.0, -1.0, 0.0)  # sum -4
    attributions[1, 2] = (4.0, -5.0, 0.0)  # sum -1 (channels cancel in part)
    mask = attribution_mask(attributions, signed=True, clip_percentile=100.0)
    expected = np.array([[0.5, -1.0, 0.0], [0.0, 0.0, -0.25]])
    np.testing.assert_allclose(mask, expected, rtol=0, atol=1e-15)


def test_signed_mask_clips_to_minus_one_and_one(rng: np.random.Generator) -> None:
    attributions = rng.normal(size=(H, W, 3))
    mask = attribution_mask(attributions, signed=True, clip_percentile=90.0)
    summed = attributions.sum(axis=-1)
    assert mask.min() == -1.0 and mask.max() == 1.0
    np.testing.assert_array_equal(np.sign(mask), np.sign(summed))
    # 10% of pixels are at or beyond the clip level.
    assert np.mean(np.abs(mask) == 1.0) == pytest.approx(0.10, abs=1.0 / (H * W))


@pytest.mark.parametrize("signed", [False, True])
def test_zero_attributions_give_zero_mask(signed: bool) -> None:
    mask = attribution_mask(np.zeros((H, W, 3)), signed=signed)
    assert mask.shape == (H, W)
    np.testing.assert_array_equal(mask, 0.0)


def test_sparse_attributions_fall_back_to_the_maximum() -> None:
    # One non-zero pixel in 1536: the 99th percentile is 0, the mask must not vanish.
    attributions = np.zeros((H, W, 3))
    attributions[3, 4] = (0.2, 0.0, 0.0)
    attributions[5, 6] = (0.1, 0.0, 0.0)
    mask = attribution_mask(attributions)
    assert mask[3, 4] == 1.0
    assert mask[5, 6] == pytest.approx(0.5, rel=1e-12)
    assert np.count_nonzero(mask) == 2


def test_channel_axis_zero_matches_channels_last(rng: np.random.Generator) -> None:
    attributions = rng.normal(size=(H, W, 3))
    channels_first = np.moveaxis(attributions, -1, 0)
    np.testing.assert_array_equal(
        attribution_mask(channels_first, channel_axis=0), attribution_mask(attributions)
    )


def test_two_dimensional_attributions_have_no_channel_axis() -> None:
    mask = attribution_mask(np.array([[-2.0, 1.0], [0.0, 4.0]]), clip_percentile=100.0)
    np.testing.assert_allclose(mask, [[0.5, 0.25], [0.0, 1.0]])


@pytest.mark.parametrize(
    ("kwargs", "shape", "message"),
    [
        ({"clip_percentile": 0.0}, (4, 4, 3), r"clip_percentile must be in \(0, 100\]"),
        ({"clip_percentile": 100.5}, (4, 4, 3), r"clip_percentile must be in \(0, 100\]"),
        ({"channel_axis": 3}, (4, 4, 3), "channel_axis"),
        ({"channel_axis": None}, (4, 4, 3), "channel_axis"),
        ({}, (4,), r"attributions must have shape \(height, width\)"),
        ({}, (2, 4, 4, 3), r"attributions must have shape \(height, width\)"),
    ],
)
def test_mask_errors(kwargs: dict[str, object], shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        attribution_mask(np.ones(shape), **kwargs)


def test_mask_rejects_nan() -> None:
    attributions = np.ones((4, 4, 3))
    attributions[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="attributions must contain only finite values"):
        attribution_mask(attributions)


# --- colorize and overlay ---------------------------------------------------------------------


def test_colorize_uses_the_colormap(rng: np.random.Generator) -> None:
    mask = rng.uniform(size=(H, W))
    colored = colorize(mask)
    assert colored.shape == (H, W, 3) and colored.dtype == np.float64
    assert colored.min() >= 0.0 and colored.max() <= 1.0
    inferno = matplotlib.colormaps["inferno"]
    np.testing.assert_allclose(colored[7, 9], inferno(mask[7, 9])[:3], atol=1e-12)
    np.testing.assert_allclose(colorize(np.zeros((1, 1)))[0, 0], inferno(0.0)[:3])


def test_signed_colorize_maps_zero_to_the_middle() -> None:
    colored = colorize(np.array([[-1.0, 0.0, 1.0]]), signed=True)
    diverging = matplotlib.colormaps["RdBu_r"]
    np.testing.assert_allclose(colored[0, 0], diverging(0.0)[:3])
    np.testing.assert_allclose(colored[0, 1], diverging(0.5)[:3])
    np.testing.assert_allclose(colored[0, 2], diverging(1.0)[:3])
    assert colored[0, 0, 2] > colored[0, 0, 0]  # negative is blue
    assert colored[0, 2, 0] > colored[0, 2, 2]  # positive is red


@pytest.mark.parametrize(
    ("mask", "kwargs", "message"),
    [
        (np.full((2, 2), -0.5), {}, r"mask must have values in \[0, 1\]"),
        (np.full((2, 2), 1.5), {"signed": True}, r"mask must have values in \[-1, 1\]"),
        (np.zeros((2, 2, 3)), {}, r"mask must have shape \(height, width\)"),
        (np.zeros((2, 2)), {"cmap": "no-such-map"}, "cmap 'no-such-map'"),
    ],
)
def test_colorize_errors(mask: np.ndarray, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        colorize(mask, **kwargs)


def test_overlay_shape_range_and_default_alpha(image: np.ndarray, rng: np.random.Generator) -> None:
    mask = rng.uniform(size=(H, W))
    blended = overlay(image, mask)
    assert blended.shape == (H, W, 3)
    assert blended.min() >= 0.0 and blended.max() <= 1.0
    np.testing.assert_allclose(blended, 0.6 * image + 0.4 * colorize(mask), atol=1e-12)


def test_overlay_alpha_end_points(image: np.ndarray, rng: np.random.Generator) -> None:
    mask = rng.uniform(size=(H, W))
    np.testing.assert_allclose(overlay(image, mask, alpha=0.0), image, atol=1e-15)
    np.testing.assert_allclose(overlay(image, mask, alpha=1.0), colorize(mask), atol=1e-15)


def test_overlay_weighted_by_mask_shows_the_photo_where_mask_is_zero(image: np.ndarray) -> None:
    mask = np.zeros((H, W))
    mask[:, W // 2 :] = 1.0
    blended = overlay(image, mask, alpha=1.0, weight_by_mask=True)
    np.testing.assert_allclose(blended[:, : W // 2], image[:, : W // 2], atol=1e-15)
    np.testing.assert_allclose(blended[:, W // 2 :], colorize(mask)[:, W // 2 :], atol=1e-15)
    half = overlay(image, np.full((H, W), 0.5), alpha=0.8, weight_by_mask=True)
    colored = colorize(np.full((H, W), 0.5))
    np.testing.assert_allclose(half, 0.6 * image + 0.4 * colored, atol=1e-12)


def test_overlay_signed_uses_magnitude_as_weight(image: np.ndarray) -> None:
    mask = np.full((H, W), -1.0)
    blended = overlay(image, mask, alpha=1.0, signed=True, weight_by_mask=True)
    np.testing.assert_allclose(blended, colorize(mask, signed=True), atol=1e-15)


@pytest.mark.parametrize(
    ("image_shape", "mask_shape", "kwargs", "message"),
    [
        ((H, W, 3), (H, W + 1), {}, r"mask must have shape \(height, width\) = \(32, 48\)"),
        ((H, W), (H, W), {}, r"image must have shape \(height, width, 3\)"),
        ((H, W, 3), (H, W), {"alpha": 1.5}, r"alpha must be in \[0, 1\]"),
        ((H, W, 3), (H, W), {"alpha": -0.1}, r"alpha must be in \[0, 1\]"),
    ],
)
def test_overlay_errors(
    image_shape: tuple[int, ...],
    mask_shape: tuple[int, ...],
    kwargs: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        overlay(np.zeros(image_shape), np.zeros(mask_shape), **kwargs)


def test_overlay_rejects_uint8_range_images() -> None:
    with pytest.raises(ValueError, match=r"image must have values in \[0, 1\], got \[0, 255\]"):
        overlay(np.eye(2)[..., None] * np.full((2, 2, 3), 255.0), np.zeros((2, 2)))


# --- interpolate_images -----------------------------------------------------------------------


def test_interpolate_end_points_and_midpoint(image: np.ndarray, rng: np.random.Generator) -> None:
    baseline = rng.uniform(size=(H, W, 3))
    alphas = np.array([0.0, 0.5, 1.0])
    path = interpolate_images(baseline, image, alphas)
    assert path.shape == (3, H, W, 3) and path.dtype == np.float64
    np.testing.assert_array_equal(path[0], baseline)
    np.testing.assert_array_equal(path[2], image)
    np.testing.assert_allclose(path[1], (baseline + image) / 2.0, rtol=0, atol=1e-15)


def test_interpolate_is_linear_in_alpha(image: np.ndarray) -> None:
    baseline = np.zeros_like(image, dtype=np.float32)
    alphas = np.linspace(0.0, 1.0, 6)
    path = interpolate_images(baseline, image.astype(np.float32), alphas)
    assert path.dtype == np.float32
    np.testing.assert_allclose(path, alphas[:, None, None, None] * image, rtol=1e-6, atol=1e-7)


def test_interpolate_errors(image: np.ndarray) -> None:
    with pytest.raises(
        ValueError, match=r"baseline must have the same shape as image \(32, 48, 3\)"
    ):
        interpolate_images(np.zeros((H, W)), image, [0.5])
    with pytest.raises(ValueError, match=r"alphas must have shape \(steps,\)"):
        interpolate_images(image, image, [[0.5]])
