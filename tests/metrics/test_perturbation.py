"""Deletion and insertion: exact curves of a linear model, orders, perturbations, feature maps."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad import Explainer, integrated_gradients
from intgrad.metrics import (
    column_features,
    deletion,
    feature_ranks,
    insertion,
    perturbation_reference,
    pixel_features,
    token_features,
)
from intgrad.metrics.features import features_at, resolve_features
from tests.metrics._models import Linear

EXACT = 1e-12  # float64 sums of at most 24 terms


@pytest.fixture
def linear(rng: np.random.Generator) -> tuple[Linear, np.ndarray, np.ndarray]:
    w = rng.normal(size=8)
    x = rng.normal(size=(4, 8))
    return Linear(w, b=0.5), x, w * x  # w ⊙ x: the exact IG from black


def test_deletion_of_a_linear_model_removes_exactly_w_times_x(linear) -> None:
    model, x, phi = linear
    curve = deletion(model, x, phi, steps=8)
    order = np.argsort(-phi, axis=1, kind="stable")
    removed = np.take_along_axis(phi, order, axis=1).cumsum(axis=1)
    f_x = phi.sum(axis=1) + 0.5
    expected = np.concatenate([f_x[:, None], f_x[:, None] - removed], axis=1)
    np.testing.assert_allclose(curve.scores, expected, rtol=0, atol=EXACT)
    np.testing.assert_allclose(curve.fractions, np.arange(9) / 8)
    np.testing.assert_array_equal(curve.counts, np.tile(np.arange(9), (4, 1)))
    np.testing.assert_array_equal(curve.features, [8, 8, 8, 8])
    assert curve.scores[:, -1] == pytest.approx([0.5] * 4, abs=EXACT)  # all removed: F = b
    widths = np.diff(curve.fractions)
    trapezoid = ((expected[:, 1:] + expected[:, :-1]) / 2 * widths).sum(axis=1)
    np.testing.assert_allclose(curve.auc, trapezoid, rtol=1e-14)
    assert curve.metric == "deletion" and curve.perturbation == "black(0)"
    assert curve.mean_auc == pytest.approx(float(trapezoid.mean()), rel=1e-14)
    np.testing.assert_allclose(curve.mean_scores, expected.mean(axis=0), atol=EXACT)


def test_insertion_is_the_mirror_curve(linear) -> None:
    model, x, phi = linear
    curve = insertion(model, x, phi, steps=8)
    added = np.take_along_axis(phi, np.argsort(-phi, axis=1, kind="stable"), axis=1).cumsum(1)
    expected = 0.5 + np.concatenate([np.zeros((4, 1)), added], axis=1)
    np.testing.assert_allclose(curve.scores, expected, rtol=0, atol=EXACT)
    f_x = phi.sum(axis=1) + 0.5
    # Deletion and insertion with the same order add up to F(x) + F(reference) at every point.
    removed = deletion(model, x, phi, steps=8).scores
    total = np.broadcast_to((f_x + 0.5)[:, None], removed.shape)
    np.testing.assert_allclose(removed + curve.scores, total, atol=EXACT)


def test_steps_coarser_than_features_round_half_up(linear) -> None:
    model, x, phi = linear
    curve = deletion(model, x, phi, steps=3)  # 8 features: round(8/3)=3, round(16/3)=5
    np.testing.assert_array_equal(curve.counts[0], [0, 3, 5, 8])
    np.testing.assert_array_equal(features_at(np.array([0.25, 0.5]), np.array([3])), [[1, 2]])


def test_a_perfect_attribution_beats_a_random_one(rng: np.random.Generator) -> None:
    w = rng.normal(size=24)
    x = rng.normal(size=(5, 24))
    model = Linear(w)
    perfect = deletion(model, x, w * x, steps=24, random_orders=4, seed=3)
    noise = deletion(model, x, rng.normal(size=x.shape), steps=24)
    # Removing the k largest w_i x_i is the lowest any k-subset can reach, at every point.
    assert (perfect.scores <= noise.scores + EXACT).all()
    assert (perfect.auc < noise.auc).all()
    assert (perfect.auc < perfect.random_auc).all()
    assert perfect.random_orders == 4 and perfect.random_scores.shape == (5, 25)
    gained = insertion(model, x, w * x, steps=24)
    lost = insertion(model, x, -(w * x), steps=24)
    assert (gained.auc > lost.auc).all()


def test_random_orders_are_seeded(linear) -> None:
    model, x, phi = linear
    first = deletion(model, x, phi, random_orders=2, seed=7)
    again = deletion(model, x, phi, random_orders=2, seed=7)
    other = deletion(model, x, phi, random_orders=2, seed=8)
    np.testing.assert_array_equal(first.random_scores, again.random_scores)
    assert not np.allclose(first.random_scores, other.random_scores)
    assert first.random_auc is not None and deletion(model, x, phi).random_auc is None


def test_absolute_ranks_by_magnitude(rng: np.random.Generator) -> None:
    w = np.array([1.0, 1.0, 1.0])
    x = np.array([[-3.0, 1.0, 2.0]])
    curve = deletion(Linear(w), x, w * x, steps=3, absolute=True)
    np.testing.assert_allclose(curve.scores[0], [0.0, 3.0, 1.0, 0.0])


def test_one_model_call_per_point_in_batch_size_chunks(linear) -> None:
    model, x, phi = linear
    deletion(model, x, phi, steps=4, batch_size=3)
    # 5 points × 4 examples, at most 3 rows per call: the Explainer balances them as 2 + 2.
    assert model.calls == [2, 2] * 5


def test_the_attribution_target_is_used(rng: np.random.Generator) -> None:
    from tests.metrics._models import TanhMLP, mlp_layers

    model = TanhMLP(mlp_layers(rng))
    x = rng.normal(size=(3, 6))
    attribution = integrated_gradients(model, x, target=[2, 0, 1], steps=16)
    own = deletion(model, x, attribution, steps=3)
    given = deletion(model, x, attribution.attributions, steps=3, target=[2, 0, 1])
    np.testing.assert_array_equal(own.scores, given.scores)
    np.testing.assert_allclose(own.scores[:, 0], attribution.f_input, rtol=1e-12)
    explainer = Explainer(model, output="probability")
    probabilities = deletion(explainer, x, attribution, steps=3).scores
    assert ((probabilities > 0) & (probabilities < 1)).all()


# --- perturbations ----------------------------------------------------------------------------


def test_perturbation_references(rng: np.random.Generator) -> None:
    images = rng.random((2, 6, 7, 3))
    blurred, name = perturbation_reference("blur", images, blur_sigma=1.0)
    assert name == "blur(sigma=1)" and blurred.shape == images.shape
    flat = np.full((1, 6, 7, 3), 0.25)
    assert np.allclose(perturbation_reference("blur", flat)[0], 0.25)  # constant stays constant
    # Blurring mixes pixels, never channels.
    assert np.allclose(blurred.mean(axis=(1, 2)), images.mean(axis=(1, 2)), atol=0.05)
    means, name = perturbation_reference("mean", images)
    assert name == "mean(per example)"
    np.testing.assert_allclose(means[:, 0, 0], images.mean(axis=(1, 2)), rtol=1e-12)
    given, name = perturbation_reference("mean", images[:, :, :, 0], mean=0.3, channel_axis=None)
    assert name == "mean(given)" and np.all(given == 0.3)
    constant, name = perturbation_reference(103, np.ones((2, 4), dtype=np.int64))
    assert name == "constant(103)" and constant.dtype == np.int64 and np.all(constant == 103)
    reference, name = perturbation_reference(np.arange(3.0), images)
    assert name == "reference(3,)" and np.all(reference[1, 2, 3] == [0.0, 1.0, 2.0])
    rows = rng.random((3, 4))
    row_means, _ = perturbation_reference("mean", rows)
    np.testing.assert_allclose(row_means[:, 0], rows.mean(axis=1))


def test_deletion_with_blur_pixels_and_patches(rng: np.random.Generator) -> None:
    images = rng.random((2, 8, 8, 3))
    w = rng.normal(size=(8, 8, 3))
    model = Linear(w)
    phi = w * images
    curve = deletion(model, images, phi, features="pixels", perturbation="blur", steps=4)
    assert curve.features.tolist() == [64, 64] and curve.perturbation == "blur(sigma=5)"
    blurred, _ = perturbation_reference("blur", images)
    assert curve.scores[:, -1] == pytest.approx(model(blurred), abs=EXACT)
    patches = pixel_features((8, 8, 3), patch_size=4)
    coarse = deletion(model, images, phi, features=patches, steps=4)
    np.testing.assert_array_equal(coarse.counts[0], [0, 1, 2, 3, 4])
    # The first patch removed is the one with the largest summed attribution.
    sums = np.array(
        [[phi[e, r : r + 4, c : c + 4].sum() for r in (0, 4) for c in (0, 4)] for e in (0, 1)]
    )
    expected = model(images) - sums.max(axis=1)
    np.testing.assert_allclose(coarse.scores[:, 1], expected, atol=EXACT)


def test_images_default_to_pixel_features(rng: np.random.Generator) -> None:
    images = rng.random((2, 4, 5, 3))
    model = Linear(np.ones((4, 5, 3)))
    assert deletion(model, images, images).features.tolist() == [20, 20]
    assert deletion(model, images, images, features="elements").features.tolist() == [60, 60]
    first = np.moveaxis(images, -1, 1)
    by_channel = deletion(Linear(np.ones((3, 4, 5))), first, first, channel_axis=1)
    assert by_channel.features.tolist() == [20, 20]
    np.testing.assert_allclose(by_channel.scores, deletion(model, images, images).scores)
    rows = rng.random((2, 7))
    assert deletion(Linear(np.ones(7)), rows, rows).features.tolist() == [7, 7]


def test_pixel_features_and_column_and_token_maps() -> None:
    ids = pixel_features((3, 4, 5), channel_axis=0, patch_size=2)
    assert ids.shape == (3, 4, 5) and (ids[0] == ids[2]).all()
    np.testing.assert_array_equal(
        ids[0, :, :], [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [3, 3, 4, 4, 5], [3, 3, 4, 4, 5]]
    )
    np.testing.assert_array_equal(pixel_features((2, 3), channel_axis=None), [[0, 1, 2], [3, 4, 5]])
    columns = column_features(6, {"age": [0], "job": [1, 2, 3]})
    np.testing.assert_array_equal(columns, [0, 1, 1, 1, 2, 3])
    tokens = token_features(
        np.array([[101, 7, 8, 102, 0], [101, 9, 102, 0, 0]]),
        np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]),
        special_ids=(101, 102),
    )
    np.testing.assert_array_equal(tokens, [[-1, 1, 2, -1, -1], [-1, 1, -1, -1, -1]])


def test_column_groups_move_together(rng: np.random.Generator) -> None:
    w = rng.normal(size=5)
    x = rng.normal(size=(3, 5))
    ids = column_features(5, [[1, 2, 3]])
    phi = w * x
    curve = deletion(Linear(w), x, phi, features=ids, steps=3, perturbation="mean", mean=0.0)
    np.testing.assert_array_equal(curve.features, [3, 3, 3])
    group = np.stack([phi[:, 1:4].sum(1), phi[:, 0], phi[:, 4]], axis=1)
    first = np.sort(group, axis=1)[:, -1]
    np.testing.assert_allclose(curve.scores[:, 1], phi.sum(1) - first, atol=EXACT)


def test_feature_ranks_skip_untouchable_elements() -> None:
    values = np.array([[0.1, 5.0, 0.3, 9.0]])
    ranks, counts = feature_ranks(values, np.array([[0, -1, 1, -1]]))
    np.testing.assert_array_equal(ranks, [[1, 4, 0, 4]])
    assert counts.tolist() == [2]
    ranks, _ = feature_ranks(values, np.array([[0, 1, 2, 3]]), descending=False)
    np.testing.assert_array_equal(ranks, [[0, 2, 1, 3]])


def test_embedding_attributions_are_summed_over_the_width(rng: np.random.Generator) -> None:
    w = rng.normal(size=4)
    x = rng.normal(size=(2, 4))
    phi = w * x
    spread = np.repeat(phi[..., None] / 3.0, 3, axis=-1)  # (examples, tokens, width)
    np.testing.assert_allclose(
        deletion(Linear(w), x, spread, steps=4).scores,
        deletion(Linear(w), x, phi, steps=4).scores,
        atol=EXACT,
    )


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": 0}, ValueError, "steps must be >= 1, got 0"),
        ({"steps": 2.5}, TypeError, "steps must be an int"),
        ({"random_orders": -1}, ValueError, "random_orders must be >= 0"),
        ({"perturbation": "white"}, ValueError, "perturbation must be one of black, blur, mean"),
        ({"perturbation": True}, TypeError, "got a bool"),
        ({"perturbation": np.ones(3)}, ValueError, "does not broadcast to the inputs' shape"),
        ({"perturbation": "blur"}, ValueError, "blur needs inputs with spatial axes"),
        ({"perturbation": "black", "mean": 1.0}, ValueError, "mean applies to perturbation='mean'"),
        ({"perturbation": "mean", "mean": np.ones(3)}, ValueError, "does not broadcast to one"),
        ({"perturbation": np.ones(4), "mean": 1.0}, ValueError, "mean applies to perturbation"),
        ({"features": "tokens"}, ValueError, "features must be None, 'elements', 'pixels' or a"),
        ({"features": np.ones(4)}, TypeError, "a feature map must hold integers"),
        ({"features": np.zeros(3, dtype=int)}, ValueError, "must have one example's shape"),
        ({"features": np.full(4, -2)}, ValueError, "feature ids must be >= 0, or -1"),
        ({"features": np.full(4, -1)}, ValueError, "every example needs at least one feature"),
        ({"features": "pixels"}, ValueError, "pixel features need two spatial axes"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"target": 1.5}, TypeError, "target entries must be integers"),
    ],
)
def test_deletion_refuses(kwargs, error, message) -> None:
    x = np.ones((2, 4))
    with pytest.raises(error, match=message):
        deletion(Linear(np.ones(4)), x, x, **kwargs)


def test_shape_and_structure_errors() -> None:
    model, x = Linear(np.ones(4)), np.ones((2, 4))
    with pytest.raises(ValueError, match=r"attributions of shape \(2, 3\) do not match"):
        deletion(model, x, np.ones((2, 3)))
    with pytest.raises(ValueError, match="metrics take attributions of one input tensor"):
        deletion(model, x, (x, x))
    with pytest.raises(ValueError, match="metrics take inputs of one input tensor"):
        insertion(model, (x, x), x)
    with pytest.raises(ValueError, match="inputs must have shape"):
        deletion(model, np.ones(4), np.ones(4))
    ids = np.ones((2, 4), dtype=np.int64)
    with pytest.raises(TypeError, match="perturbation 'blur' needs real-valued inputs"):
        perturbation_reference("blur", ids)
    with pytest.raises(ValueError, match="token ids can only become an integer id"):
        perturbation_reference(0.5, ids)
    with pytest.raises(ValueError, match="channel_axis 0 is not a non-batch axis"):
        perturbation_reference("blur", np.ones((1, 4, 4, 3)), channel_axis=0)
    with pytest.raises(ValueError, match="patch_size must be >= 1"):
        pixel_features((4, 4, 3), patch_size=0)
    with pytest.raises(TypeError, match="patch_size must be an int"):
        pixel_features((4, 4, 3), patch_size=1.5)
    with pytest.raises(ValueError, match="channel_axis 3 is out of range"):
        pixel_features((4, 4, 3), channel_axis=3)
    with pytest.raises(ValueError, match=r"group 0 has columns outside 0\.\.3"):
        column_features(4, [[2, 4]])
    with pytest.raises(ValueError, match="group 1 shares columns"):
        column_features(4, [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="input_ids must have shape"):
        token_features(np.ones(3, dtype=np.int64))
    with pytest.raises(ValueError, match="does not match ids"):
        token_features(np.ones((2, 3), dtype=np.int64), np.ones((2, 2)))
    assert resolve_features(None, (2, 3, 2), None).shape == (2, 3, 2)
