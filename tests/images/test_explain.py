"""The photo workflow on real photos through the real model: predictions, where the attribution
mass lies, completeness, batching, targets, baselines, summaries, and that the model is left as
it was.

The embedded EfficientNet-Lite0 costs about 0.1–0.25 s per forward + backward pass per image on
a CPU, so the expensive explanations are module-scoped fixtures shared by several tests, with
8 gradient evaluations unless a test is about the step count.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from intgrad import BACKEND_NAMES, BASELINE_NAMES, Attribution, integrated_gradients
from intgrad.images.decode import Box
from intgrad.images.explain import (
    GAUSSIAN_SIGMA,
    IMAGE_BACKENDS,
    IMAGE_BASELINES,
    ImageExplanation,
    Prediction,
    baseline_images,
    explain_image,
    explain_images,
    load_image_model,
    prepare_image,
    top_k_predictions,
)
from intgrad.images.labels import LabelError
from intgrad.images.models import LoadedModel, ModelLoadError, load_model
from intgrad.images.samples import load_sample
from intgrad.viz import SaturationDisplay, render_explanation

STEPS = 8
SIZE = (224, 224)
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = (967, 968, 504)  # espresso, cup, coffee mug
ESPRESSO = 967
# Batched vs one-by-one, relative to the largest |attribution| (measured 1.3e-7).
BATCH_TOLERANCE = 1e-5

# Boxes in the sample photos' own pixels: (top, bottom, left, right), bottom/right exclusive.
CHELSEA_SHAPE = (300, 451)
CHELSEA_EYES_AND_NOSE = (75, 275, 130, 350)
CHELSEA_BACKGROUND = (0, 300, 400, 451)  # the blurred room right of the cat's head
COFFEE_SHAPE = (400, 600)
COFFEE_CUP = (15, 300, 170, 425)  # cup, handle and spoon, without the saucer's rim
COFFEE_EDGE = (60, 90)  # rows and columns of table at each edge of the photo


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run the model on one thread: on a shared CPU, two OpenMP threads are up to 2x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return load_model()


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [load_sample("chelsea"), load_sample("coffee")]


@pytest.fixture(scope="module")
def batched(model: LoadedModel, photos: list[np.ndarray]) -> list[ImageExplanation]:
    """Both photos in one call, default target (each photo's top-1), black baseline."""
    return explain_images(photos, model=model, steps=STEPS)


@pytest.fixture(scope="module")
def one_by_one(model: LoadedModel, photos: list[np.ndarray]) -> list[ImageExplanation]:
    return [explain_image(photo, model=model, steps=STEPS) for photo in photos]


@pytest.fixture(scope="module")
def espresso_by_name(model: LoadedModel, photos: list[np.ndarray]) -> list[ImageExplanation]:
    return explain_images(photos, model=model, steps=STEPS, target="espresso")


@pytest.fixture(scope="module")
def padded_coffee() -> np.ndarray:
    return prepare_image(load_sample("coffee"), SIZE)[0][None]


# --- helpers ----------------------------------------------------------------------------------


def _in_model_pixels(
    region: tuple[int, int, int, int], photo_shape: tuple[int, int], box: Box
) -> tuple[slice, slice]:
    """Map a (top, bottom, left, right) region of the photo into the padded model input."""
    top, bottom, left, right = region
    rows, cols = box.height / photo_shape[0], box.width / photo_shape[1]
    return (
        slice(box.top + round(top * rows), box.top + round(bottom * rows)),
        slice(box.left + round(left * cols), box.left + round(right * cols)),
    )


def _photo_mask(explanation: ImageExplanation, region: tuple[slice, slice]) -> np.ndarray:
    """Boolean (height, width) mask of ``region``, within the photo's box."""
    mask = np.zeros(explanation.image.shape[:2], dtype=bool)
    mask[region] = True
    inside = np.zeros_like(mask)
    inside[explanation.box.slices] = True
    return mask & inside


def _mass_ratio(explanation: ImageExplanation, region: np.ndarray) -> float:
    """(share of Σ|IG| inside ``region``) / (share of the photo's area it covers)."""
    magnitude = np.abs(explanation.attributions.astype(np.float64)).sum(axis=-1)
    photo = explanation.box.slices
    mass = magnitude[region].sum() / magnitude[photo].sum()
    area = region.sum() / (explanation.box.height * explanation.box.width)
    return float(mass / area)


def _top_pixels_ratio(explanation: ImageExplanation, region: np.ndarray, top: float) -> float:
    """(share of the photo's ``top`` fraction of pixels by Σ|IG| inside ``region``) / area share."""
    magnitude = np.abs(explanation.attributions.astype(np.float64)).sum(axis=-1)
    in_photo = np.zeros(magnitude.shape, dtype=bool)
    in_photo[explanation.box.slices] = True
    threshold = np.quantile(magnitude[in_photo], 1.0 - top)
    best = (magnitude >= threshold) & in_photo
    area = region.sum() / in_photo.sum()
    return float((best & region).sum() / best.sum() / area)


def _total_variation(images: np.ndarray) -> float:
    """Mean absolute difference between horizontally and vertically adjacent pixels."""
    return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())


# --- predictions ------------------------------------------------------------------------------


@pytest.mark.slow
def test_chelsea_is_a_cat_and_coffee_an_espresso(model: LoadedModel, batched) -> None:
    chelsea, coffee = (explanation.top_k for explanation in batched)
    assert chelsea[0].index in CAT_CLASSES
    assert coffee[0].index in COFFEE_CLASSES
    for best in (chelsea, coffee):
        assert len(best) == 3
        assert all(isinstance(p, Prediction) for p in best)
        assert [p.label for p in best] == [model.labels[p.index] for p in best]
        probabilities = [p.probability for p in best]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.0 < sum(probabilities) <= 1.0 + 1e-9


@pytest.mark.slow
def test_top_k_of_one_image_without_batch_axis(model: LoadedModel, padded_coffee, batched) -> None:
    (single,) = top_k_predictions(model, padded_coffee[0], k=2)
    expected = batched[1].top_k[:2]
    assert [p.index for p in single] == [p.index for p in expected]
    for got, want in zip(single, expected, strict=True):
        assert got.probability == pytest.approx(want.probability, rel=1e-6)


def test_top_k_below_one_is_refused(model: LoadedModel, padded_coffee) -> None:
    with pytest.raises(ValueError, match="top-k must be >= 1, got 0"):
        top_k_predictions(model, padded_coffee, k=0)


# --- where the attribution lies ---------------------------------------------------------------


@pytest.mark.slow
def test_chelsea_attribution_peaks_on_the_face_not_the_room(batched) -> None:
    chelsea = batched[0]
    face = _photo_mask(chelsea, _in_model_pixels(CHELSEA_EYES_AND_NOSE, CHELSEA_SHAPE, chelsea.box))
    room = _photo_mask(chelsea, _in_model_pixels(CHELSEA_BACKGROUND, CHELSEA_SHAPE, chelsea.box))
    # The cat fills the photo, so Σ|IG| in a face box is only ~1.2x its area share. The sharper
    # test: where the 5% strongest pixels are. Measured (8 / 16 / 64 Gauss–Legendre steps):
    # eyes and nose 1.56 / 1.79 / 1.74, the room 0.12 / 0.06 / 0.10; its mass ratio 0.55.
    assert _top_pixels_ratio(chelsea, face, top=0.05) > 1.3
    assert _top_pixels_ratio(chelsea, room, top=0.05) < 0.3
    assert _mass_ratio(chelsea, room) < 0.75


@pytest.mark.slow
def test_coffee_attribution_concentrates_on_the_cup(batched) -> None:
    coffee = batched[1]
    cup = _photo_mask(coffee, _in_model_pixels(COFFEE_CUP, COFFEE_SHAPE, coffee.box))
    rows, cols = COFFEE_EDGE
    inner = (rows, COFFEE_SHAPE[0] - rows, cols, COFFEE_SHAPE[1] - cols)
    in_photo = _photo_mask(coffee, coffee.box.slices)
    edges = in_photo & ~_photo_mask(coffee, _in_model_pixels(inner, COFFEE_SHAPE, coffee.box))
    # Measured (8 / 16 / 64 Gauss–Legendre steps): cup 1.69 / 1.63 / 1.64, edges 0.67 / 0.69 / 0.68.
    assert _mass_ratio(coffee, cup) > 1.4
    assert _mass_ratio(coffee, edges) < 0.85


@pytest.mark.slow
def test_padding_gets_exactly_zero_with_a_black_baseline(batched) -> None:
    for explanation in batched:
        box = explanation.box
        assert box.top > 0  # both photos are wider than tall: padded above and below
        outside = np.ones(explanation.image.shape[:2], dtype=bool)
        outside[box.slices] = False
        assert np.all(explanation.image[outside] == 0.0)
        assert np.all(explanation.attributions[outside] == 0.0)
        assert np.count_nonzero(explanation.attributions[box.slices]) > 0


# --- completeness -----------------------------------------------------------------------------


@pytest.mark.slow
def test_completeness_gap_is_small_with_64_steps_and_shrinks(model: LoadedModel, batched) -> None:
    fine = explain_image(load_sample("coffee"), model=model, steps=64).summary()
    coarse = batched[1].summary()
    gap = abs(fine["delta"]) / abs(fine["f_input"] - fine["f_baseline"])
    # Measured on coffee: 0.018 with 64 Gauss–Legendre steps, 0.29 with 8, 0.042 with 16 (a
    # ReLU6 network is only piecewise smooth, so convergence is slow past 16 steps).
    assert gap < 0.03
    assert gap == pytest.approx(fine["relative_delta"], rel=1e-12)
    assert gap < coarse["relative_delta"] / 4


# --- batching and targets ---------------------------------------------------------------------


@pytest.mark.slow
def test_batch_equals_one_by_one(batched, one_by_one) -> None:
    for together, alone in zip(batched, one_by_one, strict=True):
        scale = np.abs(alone.attributions).max()
        np.testing.assert_allclose(
            together.attributions, alone.attributions, rtol=0, atol=BATCH_TOLERANCE * scale
        )
        assert together.target == alone.target
        assert together.box == alone.box
        assert together.summary()["f_input"] == pytest.approx(alone.summary()["f_input"], rel=1e-5)
        assert together.summary()["delta"] == pytest.approx(
            alone.summary()["delta"], rel=1e-3, abs=1e-5
        )


@pytest.mark.slow
def test_default_target_is_each_images_top_1(batched) -> None:
    chelsea, coffee = batched
    assert chelsea.target == chelsea.top_k[0].index
    assert chelsea.target in CAT_CLASSES
    assert coffee.target == coffee.top_k[0].index == ESPRESSO
    assert coffee.target_label == "espresso"
    assert chelsea.result.target.tolist() == [chelsea.target]


@pytest.mark.slow
def test_target_by_name_applies_to_every_image(batched, espresso_by_name) -> None:
    assert [e.target for e in espresso_by_name] == [ESPRESSO, ESPRESSO]
    assert [e.target_label for e in espresso_by_name] == ["espresso", "espresso"]
    # top_k still reports what the model predicts, not the target.
    assert espresso_by_name[0].top_k == batched[0].top_k
    # Coffee's top-1 is espresso anyway, so its explanation is the default one.
    np.testing.assert_allclose(
        espresso_by_name[1].attributions, batched[1].attributions, rtol=0, atol=1e-9
    )
    assert not np.allclose(espresso_by_name[0].attributions, batched[0].attributions)


@pytest.mark.slow
def test_target_by_index_equals_target_by_name(model: LoadedModel, espresso_by_name) -> None:
    by_index = explain_image(load_sample("chelsea"), model=model, steps=STEPS, target=ESPRESSO)
    by_name = espresso_by_name[0]
    assert by_index.target == ESPRESSO
    scale = np.abs(by_name.attributions).max()
    np.testing.assert_allclose(
        by_index.attributions, by_name.attributions, rtol=0, atol=BATCH_TOLERANCE * scale
    )


@pytest.mark.parametrize("target", ["notaclass", 1000, -1])
def test_unknown_target_raises_label_error(model: LoadedModel, target) -> None:
    with pytest.raises(LabelError):
        explain_image(np.zeros((8, 8, 3), np.float32), model=model, steps=1, target=target)


# --- baselines --------------------------------------------------------------------------------


def test_image_baselines_are_the_cores_names_without_its_alias() -> None:
    assert IMAGE_BASELINES == ("black", "white", "uniform", "gaussian", "blur")
    assert tuple(name for name in BASELINE_NAMES if name != "zeros") == IMAGE_BASELINES


@pytest.mark.parametrize(("name", "value"), [("black", 0.0), ("white", 1.0)])
def test_constant_baselines(padded_coffee, name: str, value: float) -> None:
    baseline, description = baseline_images(name, padded_coffee)
    assert description == name
    assert baseline.shape == padded_coffee.shape
    assert baseline.dtype == np.float32
    assert np.all(baseline == value)


def test_uniform_baseline_is_seeded_noise_in_unit_interval(padded_coffee) -> None:
    first, description = baseline_images("uniform", padded_coffee, seed=0)
    again, _ = baseline_images("uniform", padded_coffee, seed=0)
    other, other_description = baseline_images("uniform", padded_coffee, seed=1)
    assert description == "uniform(seed=0)"
    assert other_description == "uniform(seed=1)"
    assert first.shape == padded_coffee.shape
    assert first.dtype == np.float32
    assert first.min() >= 0.0
    assert first.max() < 1.0
    # 150 528 draws: the mean of U(0, 1) is 0.5 with standard error 0.0007.
    assert first.mean() == pytest.approx(0.5, abs=0.005)
    np.testing.assert_array_equal(first, again)
    assert np.mean(first == other) < 1e-3


def test_gaussian_baseline_is_the_image_plus_clipped_noise(padded_coffee) -> None:
    baseline, description = baseline_images("gaussian", padded_coffee, seed=3)
    again, _ = baseline_images("gaussian", padded_coffee, seed=3)
    assert description == f"gaussian(sigma={GAUSSIAN_SIGMA:g}, seed=3)"
    assert baseline.dtype == np.float32
    assert baseline.min() >= 0.0
    assert baseline.max() <= 1.0
    np.testing.assert_array_equal(baseline, again)
    noise = (baseline - padded_coffee).astype(np.float64)
    # Where clipping cannot have acted, the noise is N(0, sigma): check its spread to 5%.
    free = (padded_coffee > 0.4) & (padded_coffee < 0.6)
    assert free.sum() > 10_000
    assert noise[free].std() == pytest.approx(GAUSSIAN_SIGMA, rel=0.05)
    assert abs(noise[free].mean()) < 0.01
    # Everywhere (padding clipped at 0 included) it stays close to the photo.
    assert np.abs(noise).mean() < GAUSSIAN_SIGMA


def test_blur_baseline_is_smoother_than_the_image(padded_coffee) -> None:
    baseline, description = baseline_images("blur", padded_coffee)
    assert description == "blur(sigma=5)"
    assert baseline.shape == padded_coffee.shape
    assert baseline.dtype == np.float32
    assert baseline.min() >= 0.0
    assert baseline.max() <= 1.0 + 1e-6
    # A 5-pixel Gaussian keeps the mean colour and removes most of the pixel-to-pixel change:
    # measured total variation ratio 0.29 (the photo's edge against the padding stays, blurred).
    assert baseline.mean() == pytest.approx(padded_coffee.mean(), rel=0.01)
    assert _total_variation(baseline) < 0.4 * _total_variation(padded_coffee)


@pytest.mark.parametrize(("resize", "padded"), [("pad", True), ("crop", False)])
def test_image_file_baseline(tmp_path: Path, padded_coffee, resize: str, padded: bool) -> None:
    colour = (51, 102, 204)
    path = tmp_path / "reference.png"
    Image.new("RGB", (60, 40), colour).save(path)
    images = np.concatenate([padded_coffee, padded_coffee])
    baseline, description = baseline_images(str(path), images, resize=resize)
    assert description == "reference.png"
    assert baseline.shape == images.shape
    np.testing.assert_array_equal(baseline[0], baseline[1])
    box = prepare_image(str(path), SIZE, resize)[1]
    expected = np.array(colour, dtype=np.float32) / 255
    np.testing.assert_allclose(
        baseline[0][box.slices], np.broadcast_to(expected, (box.height, box.width, 3)), atol=1e-6
    )
    outside = np.ones(SIZE, dtype=bool)
    outside[box.slices] = False
    assert outside.any() == padded
    assert np.all(baseline[0][outside] == 0.0)


@pytest.mark.parametrize("name", ["purple", "zeros", "", "/no/such/file.png"])
def test_unknown_baseline_raises_value_error(padded_coffee, name: str) -> None:
    with pytest.raises(ValueError, match="baseline must be one of black, white"):
        baseline_images(name, padded_coffee)


def test_explain_refuses_an_unknown_baseline(model: LoadedModel) -> None:
    with pytest.raises(ValueError, match="baseline must be one of"):
        explain_image(np.zeros((8, 8, 3), np.float32), model=model, steps=1, baseline="purple")


# --- backends ---------------------------------------------------------------------------------


def test_image_backends_are_the_cores_with_an_image_model() -> None:
    assert IMAGE_BACKENDS == ("torch", "tensorflow")
    assert tuple(name for name in BACKEND_NAMES if name != "jax") == IMAGE_BACKENDS


def test_a_backend_without_image_models_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^backend must be one of torch, tensorflow; got 'jax'$"):
        load_image_model(backend="jax")


def test_tensorflow_has_only_the_embedded_model() -> None:
    with pytest.raises(ModelLoadError, match="only 'efficientnet-lite0' is available"):
        load_image_model("torchvision:googlenet", backend="tensorflow")


# --- summary ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_summary_is_json_ready_and_adds_up(batched) -> None:
    summary = batched[1].summary()
    types = {
        "model": str,
        "target": int,
        "target_label": str,
        "top_k": list,
        "f_input": float,
        "f_baseline": float,
        "attribution_sum": float,
        "delta": float,
        "relative_delta": float,
        "steps": int,
        "method": str,
        "attribution": str,
        "baseline": str,
        "seconds": float,
    }
    assert set(summary) == set(types)
    assert summary["attribution"] == "integrated_gradients"
    for key, kind in types.items():
        assert type(summary[key]) is kind, key
    assert summary["model"] == "efficientnet-lite0"
    assert summary["steps"] == STEPS
    assert summary["method"] == "gausslegendre"
    assert summary["baseline"] == "black"
    assert summary["seconds"] > 0.0
    assert [set(p) for p in summary["top_k"]] == [{"index", "label", "probability"}] * 3
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["attribution_sum"] == pytest.approx(
        summary["f_input"] - summary["f_baseline"] + summary["delta"], rel=1e-9, abs=1e-12
    )
    assert summary["attribution_sum"] == pytest.approx(
        float(batched[1].attributions.astype(np.float64).sum()), rel=1e-5
    )


@pytest.mark.slow
def test_path_record_belongs_to_the_image(batched) -> None:
    for explanation in batched:
        path = explanation.path
        assert path is not None
        assert path.alphas.shape == path.outputs.shape == path.mean_gradients.shape == (1, STEPS)
        # The probability of the target rises from the black image to the photo.
        order = np.argsort(path.alphas[0])
        assert path.outputs[0][order][-1] > path.outputs[0][order][0]


# --- the model is left alone ------------------------------------------------------------------


@pytest.mark.slow
def test_model_is_not_modified() -> None:
    fresh = load_model()
    parameters = list(fresh.module.parameters())
    # A mix of trainable and frozen parameters, as after fine-tuning a head.
    for parameter in parameters[: len(parameters) // 2]:
        parameter.requires_grad_(False)
    flags = [p.requires_grad for p in parameters]
    modes = [m.training for m in fresh.module.modules()]
    state = {k: v.clone() for k, v in fresh.module.state_dict().items()}
    explain_image(load_sample("coffee"), model=fresh, steps=2)
    assert [p.requires_grad for p in parameters] == flags
    assert [m.training for m in fresh.module.modules()] == modes
    assert not any(modes)
    assert all(p.grad is None for p in parameters)
    for key, value in fresh.module.state_dict().items():
        assert torch.equal(value, state[key]), key


# --- steps="auto" on several images: each its own steps, error and path -----------------------


class BrightnessClassifier(nn.Module):
    """Three classes scored by the mean pixel value m: logits (0, z, −z), z = 2m + 12 relu(m − c).

    From a black baseline, a dim image's path (m < c all along) is smooth, so ``steps="auto"``
    stops at its three-level minimum; a bright image's path crosses the corner of the ReLU,
    which takes more levels (for 20 of 20 seeds of the bright image, measured).
    """

    corner = 0.45

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        m = images.mean(dim=(1, 2, 3))
        z = 2.0 * m + 12.0 * torch.relu(m - self.corner)
        return torch.stack([torch.zeros_like(m), z, -z], dim=1)


@pytest.fixture(scope="module")
def brightness() -> LoadedModel:
    return LoadedModel(BrightnessClassifier().eval(), "brightness", (8, 8), ("dark", "bright", "x"))


@pytest.fixture(scope="module")
def dim_and_bright() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    dim = rng.uniform(0.0, 0.4, size=(8, 8, 3)).astype(np.float32)
    bright = rng.uniform(0.5, 1.0, size=(8, 8, 3)).astype(np.float32)
    return [dim, bright]


@pytest.fixture(scope="module")
def adaptive_pair(brightness: LoadedModel, dim_and_bright) -> list[ImageExplanation]:
    return explain_images(dim_and_bright, model=brightness, steps="auto", target="bright")


@pytest.fixture(scope="module")
def adaptive_batch(brightness: LoadedModel, adaptive_pair) -> Attribution:
    """The one call ``explain_images`` makes for both images, before it is split per image."""
    pixels = np.stack([explanation.image for explanation in adaptive_pair])
    inputs = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
    return integrated_gradients(
        brightness.module,
        inputs,
        baselines=torch.zeros_like(inputs),
        target=[1, 1],
        steps="auto",
        output="probability",
        return_path=True,
    )


def test_auto_steps_are_each_images_own(adaptive_pair, adaptive_batch: Attribution) -> None:
    own = [explanation.result.steps for explanation in adaptive_pair]
    assert own == adaptive_batch.steps_per_example.tolist()
    # The dim image stops at the least, three levels (25); the bright one needs more (97).
    assert own[0] == 25 < own[1]
    assert adaptive_batch.steps == own[1]
    assert [explanation.summary()["steps"] for explanation in adaptive_pair] == own
    for index, explanation in enumerate(adaptive_pair):
        result = explanation.result
        assert result.method == "auto"
        assert result.steps_per_example.tolist() == [own[index]]
        np.testing.assert_array_equal(
            result.estimated_error, adaptive_batch.estimated_error[index : index + 1]
        )
        # Both stopped because they met the default tolerances: 0.01 and 3 x 0.01 in L2.
        assert result.relative_delta[0] <= 0.01
        assert result.estimated_error[0] <= 0.03
    errors = [explanation.result.estimated_error[0] for explanation in adaptive_pair]
    assert errors[0] != errors[1]


def test_auto_path_of_each_image_drops_the_batch_padding(
    adaptive_pair, adaptive_batch: Attribution
) -> None:
    batch_path = adaptive_batch.path
    most = adaptive_batch.steps
    # The batch pads the dim image's row of 25 points with NaN up to the bright image's.
    assert batch_path.alphas.shape == (2, most)
    assert np.isnan(batch_path.alphas[0]).sum() == most - 25
    assert not np.isnan(batch_path.alphas[1]).any()
    for index, explanation in enumerate(adaptive_pair):
        points, path = explanation.result.steps, explanation.path
        assert path.alphas.shape == path.outputs.shape == path.mean_gradients.shape == (1, points)
        for own, batch in (
            (path.alphas, batch_path.alphas),
            (path.outputs, batch_path.outputs),
            (path.mean_gradients, batch_path.mean_gradients),
        ):
            assert np.all(np.isfinite(own))
            np.testing.assert_array_equal(own[0], batch[index, :points])
        assert np.all(np.diff(path.alphas[0]) > 0)
        assert path.alphas[0, 0] >= 0.0 and path.alphas[0, -1] <= 1.0
        # p(bright) rises with the brightness along the path from black.
        assert path.outputs[0, -1] > path.outputs[0, 0]


def test_auto_path_figure_renders_for_each_image(
    adaptive_pair, adaptive_batch: Attribution
) -> None:
    padded = adaptive_batch.path
    with pytest.raises(ValueError, match="finite"):
        SaturationDisplay(padded.alphas[0], padded.outputs[0], padded.mean_gradients[0])
    for explanation in adaptive_pair:
        png = render_explanation(explanation)["path.png"]
        with Image.open(io.BytesIO(png)) as picture:
            assert picture.format == "PNG"
            assert picture.size == (1000, 400)
        path = explanation.path
        display = SaturationDisplay(path.alphas[0], path.outputs[0], path.mean_gradients[0])
        (line,) = display.plot().axes_[0].get_lines()
        np.testing.assert_array_equal(line.get_xdata(), path.alphas[0])


def test_auto_steps_alone_equal_steps_together(
    brightness: LoadedModel, dim_and_bright, adaptive_pair
) -> None:
    for image, together in zip(dim_and_bright, adaptive_pair, strict=True):
        alone = explain_image(image, model=brightness, steps="auto", target="bright")
        assert alone.result.steps == together.result.steps
        np.testing.assert_allclose(alone.path.alphas, together.path.alphas, rtol=0, atol=1e-12)
        scale = np.abs(alone.attributions).max()
        np.testing.assert_allclose(
            together.attributions, alone.attributions, rtol=0, atol=BATCH_TOLERANCE * scale
        )


def test_fixed_steps_are_the_same_for_every_image(brightness: LoadedModel, dim_and_bright) -> None:
    explanations = explain_images(dim_and_bright, model=brightness, steps=5, target="bright")
    for explanation in explanations:
        assert explanation.result.steps == 5
        assert explanation.result.steps_per_example.tolist() == [5]
        assert explanation.result.estimated_error is None
        assert explanation.path.alphas.shape == (1, 5)
