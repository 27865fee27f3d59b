"""ROAD: exact linear imputation, noise, MoRF/LeRF, every batch counted, tables, errors."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad.metrics import ROAD_NEIGHBOURS, noisy_linear_imputation, road
from tests.metrics._models import Linear


def _ramp(height: int, width: int) -> np.ndarray:
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    plane = 0.3 * rows - 0.2 * columns + 1.0
    return plane[None, :, :, None] * np.array([1.0, 2.0, -1.0])  # (1, h, w, 3)


def test_neighbour_weights_sum_to_one() -> None:
    assert sum(w for _, _, w in ROAD_NEIGHBOURS) == pytest.approx(1.0, abs=1e-15)


def test_linear_imputation_reproduces_a_ramp_inside_a_removed_region() -> None:
    image = _ramp(16, 20)
    removed = np.zeros((1, 16, 20), dtype=bool)
    removed[0, 3:12, 4:15] = True  # 99 pixels, none on the border
    imputed = noisy_linear_imputation(image, removed, noise=0.0)
    # Measured: 2.1e-8 at the default CG tolerance 1e-8; 8.9e-15 at 1e-14.
    np.testing.assert_allclose(imputed, image, rtol=0, atol=1e-7)
    exact = noisy_linear_imputation(image, removed, noise=0.0, tolerance=1e-14)
    np.testing.assert_allclose(exact, image, rtol=0, atol=1e-11)
    assert (imputed[~removed] == image[~removed]).all()  # kept pixels are untouched


def test_imputation_of_scattered_pixels_is_their_neighbour_mean(rng: np.random.Generator) -> None:
    image = rng.random((1, 5, 5))
    removed = np.zeros((1, 5, 5), dtype=bool)
    removed[0, 2, 2] = True  # alone: its value is the weighted mean of its 8 neighbours
    imputed = noisy_linear_imputation(image, removed, channel_axis=None, noise=0.0)
    expected = sum(w * image[0, 2 + dy, 2 + dx] for dy, dx, w in ROAD_NEIGHBOURS)
    assert imputed[0, 2, 2] == pytest.approx(expected, abs=1e-12)


def test_noise_is_added_to_imputed_pixels_only_and_seeded() -> None:
    image = np.repeat(_ramp(12, 12), 50, axis=0)  # channels first below
    planes = np.moveaxis(image, -1, 1)
    removed = np.zeros((50, 12, 12), dtype=bool)
    removed[:, 4:8, 4:8] = True
    clean = noisy_linear_imputation(planes, removed, channel_axis=1, noise=0.0)
    noisy = noisy_linear_imputation(planes, removed, channel_axis=1, noise=0.05, seed=1)
    again = noisy_linear_imputation(planes, removed, channel_axis=1, noise=0.05, seed=1)
    np.testing.assert_array_equal(noisy, again)
    added = (noisy - clean).transpose(0, 2, 3, 1)[removed]
    assert (noisy - clean).transpose(0, 2, 3, 1)[~removed].max() == 0.0
    assert added.std() == pytest.approx(0.05, rel=0.05)  # 2400 draws: ±2.9 % at 2σ


def test_road_morf_and_lerf_on_a_linear_model(rng: np.random.Generator) -> None:
    images = rng.random((3, 8, 8, 3))
    w = rng.normal(size=(8, 8, 3))
    model = Linear(w)
    phi = w * images
    morf = road(model, images, phi, percentages=(0.25, 0.5), noise=0.0)
    lerf = road(model, images, phi, percentages=(0.25, 0.5), order="lerf", noise=0.0)
    assert morf.metric == "road-morf" and lerf.metric == "road-lerf"
    assert morf.perturbation == "noisy-linear(noise=0)"
    np.testing.assert_array_equal(morf.counts, [[16, 32]] * 3)
    np.testing.assert_array_equal(morf.fractions, [0.25, 0.5])
    # Each point is F of the imputed image, which the tests above pin down.
    pixels = phi.sum(axis=-1).reshape(3, -1)
    top = np.argsort(-pixels, axis=1, kind="stable")[:, :16]
    removed = np.zeros((3, 64), dtype=bool)
    np.put_along_axis(removed, top, True, axis=1)
    imputed = noisy_linear_imputation(images, removed.reshape(3, 8, 8), noise=0.0)
    np.testing.assert_allclose(morf.scores[:, 0], model(imputed), rtol=1e-12)
    assert (morf.scores[:, 0] < lerf.scores[:, 0]).all()


def test_every_batch_counts(rng: np.random.Generator) -> None:
    images = rng.random((6, 6, 6, 3))
    w = rng.normal(size=(6, 6, 3))
    model = Linear(w)
    phi = rng.normal(size=images.shape)
    curve = road(model, images, phi, percentages=(0.2, 0.6), noise=0.0, batch_size=2)
    assert model.calls == [2, 2, 2] * 2  # three batches per percentage, all scored
    alone = np.concatenate(
        [
            road(model, images[i : i + 1], phi[i : i + 1], percentages=(0.2, 0.6), noise=0.0).scores
            for i in range(6)
        ]
    )
    # Conjugate gradients stop when the slowest image of a solve converges (relative residual
    # 1e-8), so one image alone and six together agree to that: measured 1e-8 relative.
    np.testing.assert_allclose(curve.scores, alone, rtol=1e-6)
    np.testing.assert_allclose(curve.mean_scores, alone.mean(axis=0), rtol=1e-6)
    first_batch = alone[:2].mean(axis=0)
    assert np.abs(curve.mean_scores - first_batch).min() > 0.05  # measured 0.67 and 0.080


def test_road_is_seeded(rng: np.random.Generator) -> None:
    images = rng.random((2, 6, 6, 3))
    model = Linear(rng.normal(size=(6, 6, 3)))
    phi = rng.normal(size=images.shape)
    first = road(model, images, phi, seed=4)
    np.testing.assert_array_equal(first.scores, road(model, images, phi, seed=4).scores)
    assert not np.array_equal(first.scores, road(model, images, phi, seed=5).scores)


def test_road_on_tables_imputes_the_training_mean(rng: np.random.Generator) -> None:
    w = rng.normal(size=5)
    rows = rng.normal(size=(4, 5))
    train_mean = rng.normal(size=5)
    model = Linear(w)
    phi = w * (rows - train_mean)
    curve = road(model, rows, phi, percentages=(0.0, 0.4, 0.8), mean=train_mean)
    assert curve.perturbation == "training-mean"
    np.testing.assert_array_equal(curve.counts[0], [0, 2, 4])
    ranked = np.take_along_axis(phi, np.argsort(-phi, axis=1, kind="stable"), axis=1).cumsum(1)
    expected = model(rows)[:, None] - ranked[:, [1, 3]]
    np.testing.assert_allclose(curve.scores[:, 1:], expected, atol=1e-12)
    np.testing.assert_allclose(curve.scores[:, 0], model(rows), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"order": "top"}, ValueError, "order must be 'morf' or 'lerf'"),
        ({"percentages": (0.5, 1.0)}, ValueError, r"percentages must lie in \[0, 1\)"),
        ({"percentages": ()}, ValueError, "percentages must hold at least one fraction"),
        ({"percentages": ("half",)}, TypeError, "percentages must be a number"),
        ({"imputation": "zero"}, ValueError, "imputation must be one of linear, mean, token"),
        ({"mean": 0.0}, ValueError, "mean applies to imputation='mean' only"),
        ({"imputation": "mean"}, ValueError, "ROAD on tables imputes removed columns"),
        ({"features": None}, ValueError, "linear imputation removes whole pixels"),
    ],
)
def test_road_refuses(kwargs, error, message) -> None:
    images = np.random.default_rng(0).random((1, 4, 4, 3))
    if kwargs.get("features", 0) is None:
        kwargs = {"features": np.arange(48).reshape(4, 4, 3)}
    with pytest.raises(error, match=message):
        road(Linear(np.ones((4, 4, 3))), images, images, **kwargs)


def test_road_and_imputation_input_errors() -> None:
    with pytest.raises(ValueError, match="ROAD on token ids replaces removed tokens by a mask"):
        road(Linear(np.ones(3)), np.ones((1, 3), dtype=np.int64), np.ones((1, 3)))
    with pytest.raises(
        ValueError, match="ROAD on tables imputes removed columns with the training"
    ):
        road(Linear(np.ones(3)), np.ones((1, 3)), np.ones((1, 3)))
    image = np.ones((1, 4, 4, 3))
    with pytest.raises(ValueError, match="every pixel of an image is removed"):
        noisy_linear_imputation(image, np.ones((1, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"removed must have shape \(examples, height, width\)"):
        noisy_linear_imputation(image, np.ones((1, 4, 3), dtype=bool))
    with pytest.raises(ValueError, match="images must be 4-D with channel_axis"):
        noisy_linear_imputation(np.ones((1, 4, 4)), np.zeros((1, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match="images without channels must be"):
        noisy_linear_imputation(image, np.zeros((1, 4, 4), dtype=bool), channel_axis=None)
    with pytest.raises(ValueError, match="channel_axis cannot be the batch axis"):
        noisy_linear_imputation(image, np.zeros((1, 4, 4), dtype=bool), channel_axis=0)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        noisy_linear_imputation(image, np.zeros((1, 4, 4), dtype=bool), noise=-1.0)
