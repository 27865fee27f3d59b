"""XRAI: regions ranked by attribution density, checked by hand on tiny segmentations, against
PAIR's reference on a photo, batched against one by one, from given or computed attributions,
and once on a sample photo through the embedded EfficientNet-Lite0.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from intgrad import Attribution, integrated_gradients
from intgrad.images.models import LoadedModel
from intgrad.images.samples import load_sample
from intgrad.images.xrai import XRAIResult, xrai, xrai_rank, xrai_segments

SQUARE = (slice(20, 36), slice(24, 40))  # rows, columns of the salient square in a 64×64 image


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _texture(seed: int, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """A smooth colour gradient with mild noise and a bright square: (height, width, 3)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: size[0], : size[1]] / max(size)
    image = np.stack([0.2 + 0.3 * rows, 0.3 + 0.2 * cols, 0.4 - 0.2 * rows * cols], axis=-1)
    image = image + 0.02 * rng.standard_normal(image.shape)
    image[SQUARE] = [0.95, 0.9, 0.1]
    return np.clip(image, 0.0, 1.0)


def _square_attributions(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = 0.05 * rng.standard_normal((64, 64))
    values[SQUARE] += 1.0
    return values


class TinyNet(nn.Module):
    """A fixed random conv net on (batch, 3, 32, 32) in [0, 1], three classes."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(7)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    return LoadedModel(TinyNet().eval(), "tiny", (32, 32), ("red", "green", "blue"))


@pytest.fixture(scope="module")
def small_images() -> np.ndarray:
    return np.stack([_texture(seed, (32, 32)) for seed in (1, 2)])


# --- the greedy selection, by hand ------------------------------------------------------------

#   attributions      segments: A top-left 2×2, B bottom half, C right half, D everything
_HAND = np.array([[4, 4, 0, 0], [4, 4, 0, 0], [1, 1, 2, 2], [1, 1, 2, 2]], dtype=np.float64)


def _hand_segments() -> np.ndarray:
    masks = np.zeros((4, 4, 4), dtype=bool)
    masks[0, :2, :2] = True
    masks[1, 2:, :] = True
    masks[2, :, 2:] = True
    masks[3] = True
    return masks


def test_greedy_selection_by_hand() -> None:
    # Round 1 gains: A 4, B 1.5, C 1, D 1.75 → A. Round 2: B 1.5, C 1, D 12/12 = 1 → B.
    # Round 3: C and D add only the top-right zeros (gain 0 each): the first, C, wins.
    saliency, regions, gains = xrai_rank(_HAND, _hand_segments(), min_pixels=1)
    np.testing.assert_array_equal(gains, [4.0, 1.5, 0.0])
    np.testing.assert_array_equal(regions[0], _hand_segments()[0])
    np.testing.assert_array_equal(regions[1], _hand_segments()[1])
    top_right = np.zeros((4, 4), dtype=bool)
    top_right[:2, 2:] = True
    np.testing.assert_array_equal(regions[2], top_right)
    expected = np.array([[4, 4, 0, 0], [4, 4, 0, 0], [1.5] * 4, [1.5] * 4])
    np.testing.assert_array_equal(saliency, expected)


def test_regions_adding_too_few_pixels_are_skipped() -> None:
    # A adds 4 < 5 pixels: D (mean 28/16 = 1.75) is the best of the rest and covers everything.
    saliency, regions, gains = xrai_rank(_HAND, _hand_segments(), min_pixels=5)
    np.testing.assert_array_equal(gains, [1.75])
    assert regions.shape == (1, 4, 4) and regions.all()
    np.testing.assert_array_equal(saliency, np.full((4, 4), 1.75))


def test_pixels_no_region_covers_form_the_last_region() -> None:
    # Only A: the 12 other pixels (sum 12) come last, valued at their mean 1.
    saliency, regions, gains = xrai_rank(_HAND, _hand_segments()[:1], min_pixels=1)
    np.testing.assert_array_equal(gains, [4.0, 1.0])
    np.testing.assert_array_equal(regions[1], ~_hand_segments()[0])
    np.testing.assert_array_equal(saliency, np.where(_hand_segments()[0], 4.0, 1.0))


def test_the_last_region_comes_last_whatever_its_gain() -> None:
    attributions = np.where(_hand_segments()[0], -1.0, 3.0)
    _, _, gains = xrai_rank(attributions, _hand_segments()[:1], min_pixels=1)
    np.testing.assert_array_equal(gains, [-1.0, 3.0])


# --- on segmented images ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def square_result() -> XRAIResult:
    images = np.stack([_texture(3), _texture(4)])
    attributions = np.stack([_square_attributions(3), _square_attributions(4)])
    return xrai(None, images, attributions=attributions)


def test_the_top_regions_cover_the_salient_square(square_result: XRAIResult) -> None:
    square = np.zeros((64, 64), dtype=bool)
    square[SQUARE] = True
    for index in range(2):
        ranks, gains = square_result.ranks[index], square_result.gains[index]
        top = ranks == 1
        # Felzenszwalb's smoothing sets the square's edge apart, so its densest region is the
        # square's inside: measured 216 of its 256 pixels, gain 1.006 / 1.003 (the square's
        # density is 1, the background's ~0); the second region (gain 0.39) adds the edge and
        # 64 dilated pixels around it.
        assert top[square].mean() > 0.8
        assert (top & ~square).sum() == 0
        assert gains[0] > 0.9
        assert (ranks[square] <= 2).all()
        assert (
            square_result.saliency[index][square].min()
            > square_result.saliency[index][ranks > 2].max()
        )


def test_without_dilation_the_top_regions_are_the_square_exactly() -> None:
    result = xrai(
        None,
        _texture(3),
        attributions=_square_attributions(3),
        segmentation_size=None,
        dilation_radius=0,
    )
    square = np.zeros((64, 64), dtype=bool)
    square[SQUARE] = True
    # Measured: the square's inside (196 pixels, gain 1.005), then its edge (60, 1.005).
    np.testing.assert_array_equal(result.ranks[0] <= 2, square)
    assert result.gains[0][1] > 0.9 > 0.1 > result.gains[0][2]


def test_saliency_is_each_regions_gain_in_rank_order(square_result: XRAIResult) -> None:
    for index in range(2):
        regions, gains = square_result.regions[index], square_result.gains[index]
        np.testing.assert_array_equal(regions.sum(axis=0), 1)  # a partition of the pixels
        for rank, (region, gain) in enumerate(zip(regions, gains, strict=True), start=1):
            np.testing.assert_array_equal(square_result.saliency[index][region], gain)
            np.testing.assert_array_equal(square_result.ranks[index][region], rank)
            mean = square_result.attributions[index][region].mean()
            assert gain == pytest.approx(mean, rel=1e-12, abs=1e-15)
        picked = gains[:-1] if len(gains) > 1 else gains
        assert (np.diff(picked) <= 0).all()


def test_top_keeps_whole_regions_up_to_the_fraction(square_result: XRAIResult) -> None:
    mask = square_result.top(0.25)
    for index in range(2):
        area = square_result.regions[index].reshape(len(square_result.gains[index]), -1).sum(1)
        keep = max(1, int(np.searchsorted(np.cumsum(area) / 64**2, 0.25, side="right")))
        assert mask[index].sum() == area[:keep].sum() <= 0.25 * 64**2
        assert np.isin(square_result.ranks[index][mask[index]], np.arange(1, keep + 1)).all()
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got 0"):
        square_result.top(0)


def test_a_batch_gives_what_each_image_gives_alone(square_result: XRAIResult) -> None:
    for index, seed in enumerate((3, 4)):
        alone = xrai(None, _texture(seed), attributions=_square_attributions(seed))
        np.testing.assert_array_equal(alone.saliency[0], square_result.saliency[index])
        np.testing.assert_array_equal(alone.ranks[0], square_result.ranks[index])
        np.testing.assert_array_equal(alone.gains[0], square_result.gains[index])


def test_given_segments_replace_the_segmentation() -> None:
    images = np.full((1, 4, 4, 3), 0.5)
    result = xrai(
        None,
        images,
        attributions=_HAND[None],
        segments=[_hand_segments()],
        min_region_fraction=1 / 16,
    )
    np.testing.assert_array_equal(result.gains[0], [4.0, 1.5, 0.0])
    np.testing.assert_array_equal(result.ranks[0], [[1, 1, 3, 3], [1, 1, 3, 3], [2] * 4, [2] * 4])


# --- agreement with PAIR ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    transform = pytest.importorskip("skimage.transform")
    return np.asarray(transform.resize(load_sample("chelsea"), (96, 128), anti_aliasing=True))


def test_agrees_with_pair_on_a_photo(photo: np.ndarray) -> None:
    core = pytest.importorskip("saliency.core")
    pair_xrai = pytest.importorskip("saliency.core.xrai")
    rng = np.random.default_rng(11)
    rows, cols = np.mgrid[:96, :128]
    attributions = np.exp(-((rows - 40) ** 2 + (cols - 70) ** 2) / 300.0)
    attributions += 0.3 * rng.standard_normal((96, 128))
    # The same candidate regions as PAIR's (its Felzenszwalb segments, dilated) ...
    theirs_segments = [m for m in pair_xrai._get_segments_felzenszwalb(photo) if m.any()]
    ours_segments = xrai_segments(photo)
    assert len(ours_segments) == len(theirs_segments) == 340
    assert all((a == b).all() for a, b in zip(ours_segments, theirs_segments, strict=True))
    # ... and the same ranking. PAIR takes the channel maximum, so it gets three equal ones;
    # its minimum region is 50 pixels, which our fraction states for this size.
    ours = xrai(None, photo, attributions=attributions, min_region_fraction=50 / (96 * 128))
    theirs = core.XRAI().GetMaskWithDetails(
        photo,
        None,
        base_attribution=np.repeat(attributions[..., None], 3, axis=-1),
        extra_parameters=core.XRAIParameters(return_xrai_segments=True),
    )
    # Measured: identical saliency (max |difference| 0) and rank maps.
    np.testing.assert_allclose(ours.saliency[0], theirs.attribution_mask, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.ranks[0], theirs.segments)
    top_ours = ours.saliency[0] >= np.quantile(ours.saliency[0], 0.9)
    top_theirs = theirs.attribution_mask >= np.quantile(theirs.attribution_mask, 0.9)
    assert (top_ours & top_theirs).sum() / top_theirs.sum() == 1.0


# --- attributions computed by XRAI ------------------------------------------------------------


@pytest.fixture(scope="module")
def computed(tiny: LoadedModel, small_images: np.ndarray) -> XRAIResult:
    return xrai(tiny, small_images, steps=8, segmentation_size=(64, 64))


def test_integrated_gradients_from_black_and_white(
    tiny: LoadedModel, small_images: np.ndarray, computed: XRAIResult
) -> None:
    with torch.no_grad():
        logits = tiny.module(torch.from_numpy(small_images.transpose(0, 3, 1, 2)).float())
    np.testing.assert_array_equal(computed.target, logits.argmax(dim=1).numpy())
    assert isinstance(computed.ig, Attribution)
    assert computed.ig.baselines == ("black", "white")
    inputs = torch.from_numpy(small_images.transpose(0, 3, 1, 2).astype(np.float32))
    direct = integrated_gradients(
        tiny.module,
        inputs,
        baselines=[torch.zeros_like(inputs), torch.ones_like(inputs)],
        target=computed.target.tolist(),
        steps=8,
        output="probability",
    )
    expected = direct.attributions.double().sum(dim=1).numpy()
    np.testing.assert_allclose(computed.attributions, expected, rtol=1e-6, atol=1e-9)
    assert np.abs(computed.ig.delta).max() < 1e-5  # measured 1.2e-7 (probabilities)


def test_computed_batch_matches_each_image_alone(
    tiny: LoadedModel, small_images: np.ndarray, computed: XRAIResult
) -> None:
    for index in range(2):
        alone = xrai(tiny, small_images[index], steps=8, segmentation_size=(64, 64))
        # Measured: identical (the tiny model's rows do not interact); tolerance for BLAS.
        np.testing.assert_allclose(
            alone.attributions[0], computed.attributions[index], rtol=1e-5, atol=1e-9
        )
        np.testing.assert_array_equal(alone.ranks[0], computed.ranks[index])
        np.testing.assert_allclose(alone.saliency[0], computed.saliency[index], rtol=1e-5)


def test_an_attribution_object_is_read_channels_first(
    small_images: np.ndarray, computed: XRAIResult
) -> None:
    assert computed.ig is not None
    again = xrai(None, small_images, attributions=computed.ig, segmentation_size=(64, 64))
    np.testing.assert_array_equal(again.saliency, computed.saliency)
    assert again.ig is None and again.target is None


def test_targets_by_name_and_images_fitted_to_the_model(tiny: LoadedModel) -> None:
    photo = _texture(5, (40, 50))  # padded to the model's 32×32
    result = xrai(tiny, [photo], target="blue", steps=4, segmentation_size=(64, 64))
    assert result.saliency.shape == (1, 32, 32)
    np.testing.assert_array_equal(result.target, [2])
    both = xrai(tiny, [photo, photo], target=[0, "green"], steps=4, segmentation_size=(64, 64))
    np.testing.assert_array_equal(both.target, [0, 1])


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "options", "error", "message"),
    [
        (np.zeros((2, 8, 8)), {}, ValueError, r"images must have shape \(examples, height"),
        (np.zeros((2, 8, 8, 4)), {}, ValueError, r"images must have shape"),
        (np.zeros((1, 8, 8, 3), np.uint8), {}, TypeError, "images must be floats"),
        (np.full((1, 8, 8, 3), 2.0), {}, ValueError, r"finite floats in \[0, 1\]"),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": np.zeros((1, 8, 9))},
            ValueError,
            r"attributions must have shape \(1, 8, 8\)",
        ),
        (
            np.zeros((2, 8, 8, 3)),
            {"attributions": np.zeros((8, 8))},
            ValueError,
            r"attributions must have shape \(2, 8, 8\)",
        ),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": np.full((1, 8, 8), np.nan)},
            ValueError,
            "attributions contain NaN or inf",
        ),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": (np.zeros((1, 8, 8)),)},
            TypeError,
            "not a tuple of inputs",
        ),
        (np.zeros((1, 8, 8, 3)), {}, ValueError, "xrai needs a model to compute attributions"),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": np.zeros((1, 8, 8)), "segments": []},
            ValueError,
            r"one array of regions per image \(1\), got 0",
        ),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": np.zeros((1, 8, 8)), "segments": [np.ones((2, 4, 4), bool)]},
            ValueError,
            r"segments must have shape \(segments, height, width\)",
        ),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": np.zeros((1, 8, 8)), "min_region_fraction": 0.0},
            ValueError,
            r"min_region_fraction must be in \(0, 1\]",
        ),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": np.zeros((1, 8, 8)), "scales": ()},
            ValueError,
            "scales must be positive numbers",
        ),
        (
            np.zeros((1, 8, 8, 3)),
            {"attributions": np.zeros((1, 8, 8)), "dilation_radius": -1},
            ValueError,
            "dilation_radius must be >= 0",
        ),
        (
            [np.zeros((8, 8, 3))],
            {"attributions": np.zeros((1, 8, 8))},
            TypeError,
            "together with a model",
        ),
    ],
)
def test_bad_arguments_are_refused(images, options, error, message) -> None:
    with pytest.raises(error, match=message):
        xrai(None, images, **options)


def test_a_target_list_must_match_the_images(tiny: LoadedModel, small_images) -> None:
    with pytest.raises(ValueError, match=r"one entry per image \(2\), got 3"):
        xrai(tiny, small_images, target=[0, 1, 2])


def test_min_pixels_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="min_pixels must be >= 1, got 0"):
        xrai_rank(_HAND, _hand_segments(), min_pixels=0)


# --- the real model ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sample_photo_through_the_embedded_model() -> None:
    from intgrad.images.decode import preprocess_box
    from intgrad.images.models import load_model

    model = load_model()
    image, box = preprocess_box(load_sample("chelsea"), model.input_size)
    result = xrai(model, image, steps=4)
    assert 281 <= int(result.target[0]) <= 285  # a cat class
    assert result.ig is not None and np.isfinite(result.ig.delta).all()
    gains = result.gains[0]
    assert (np.diff(gains[:-1]) <= 0).all()
    # The padding above and below the photo carries no cat: the most salient tenth of the
    # image lies in the photo itself (measured: all of it).
    photo = np.zeros(model.input_size, dtype=bool)
    photo[box.top : box.top + box.height, box.left : box.left + box.width] = True
    top = result.top(0.1)[0]
    assert (top & photo).sum() / top.sum() > 0.9
