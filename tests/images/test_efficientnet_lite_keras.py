"""The Keras EfficientNet-Lite0 against the PyTorch one it is converted from, on real photos."""

from __future__ import annotations

import copy
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

import intgrad  # noqa: E402
from intgrad.images.efficientnet_lite import (  # noqa: E402
    ImageNetClassifier,
    load_efficientnet_lite0,
)
from intgrad.images.efficientnet_lite_keras import (  # noqa: E402
    KerasClassifier,
    keras_efficientnet_lite0,
    load_keras_efficientnet_lite0,
)

pytestmark = pytest.mark.slow

EGYPTIAN_CAT, ESPRESSO = 285, 967  # the top-1 classes of both models
# Measured: 6.9e-6 on the photos, 6.7e-6 at 61x83; float32 summation order differs.
LOGIT_ATOL = 1e-4
# Float32 gradients of either framework are a few 1e-3 from float64 ones (ReLU6 kinks flip with
# rounding), so attributions agree less closely than logits, and how closely the two float32
# runs agree with each other depends on the CPU's kernels: 4.1e-4 on the machine this test was
# written on, 2.5e-3 on another. Measured against a float64 run of the torch model on the cat:
# 3.1e-3 (Keras) and 3.8e-3 (torch float32) relative L2.
IG_RTOL = 6e-3
# Parameters (4,652,008) plus batch-norm moving statistics (42,016) of the PyTorch module.
WEIGHT_COUNT = 4_694_024


def _photo(pixels: np.ndarray) -> np.ndarray:
    """Resize an RGB uint8 photo to 224x224 (Pillow bilinear) as (224, 224, 3) in [0, 1]."""
    resized = Image.fromarray(pixels).resize((224, 224), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 255.0


def _nchw(images: np.ndarray):
    return torch.from_numpy(images).permute(0, 3, 1, 2)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Run PyTorch on one thread here: two OpenMP threads on a busy two-core machine spin-wait
    for seconds per call (measured: 4.9 s against 0.07 s for one image's forward and backward).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    """Chelsea the cat and a cup of coffee, (1, 224, 224, 3) in [0, 1]."""
    return np.stack([_photo(data.chelsea()), _photo(data.coffee())])


@pytest.fixture(scope="module")
def torch_model() -> ImageNetClassifier:
    return load_efficientnet_lite0()


@pytest.fixture(scope="module")
def keras_model(torch_model: ImageNetClassifier):
    return keras_efficientnet_lite0(torch_model)


def _torch_logits(model: ImageNetClassifier, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(_nchw(images)).numpy()


def test_logits_match_torch_on_photos(torch_model, keras_model, photos: np.ndarray) -> None:
    expected = _torch_logits(torch_model, photos)
    logits = keras_model(tf.constant(photos)).numpy()
    assert logits.shape == (2, 1000)
    assert np.abs(logits - expected).max() <= LOGIT_ATOL
    assert logits.argmax(axis=1).tolist() == expected.argmax(axis=1).tolist()
    assert logits.argmax(axis=1).tolist() == [EGYPTIAN_CAT, ESPRESSO]


def test_same_padding_matches_at_odd_sizes(torch_model, keras_model) -> None:
    # 61x83 makes every stride-2 layer pad unevenly, on both axes, differently from 224x224.
    images = np.random.default_rng(7).random((1, 61, 83, 3), dtype=np.float32)
    logits = keras_model(tf.constant(images)).numpy()
    assert logits.shape == (1, 1000)
    assert np.abs(logits - _torch_logits(torch_model, images)).max() <= LOGIT_ATOL


def test_weights_are_all_converted(keras_model) -> None:
    assert keras_model.count_params() == WEIGHT_COUNT
    assert keras_model.input_shape == (None, None, None, 3)
    assert keras_model.output_shape == (None, 1000)
    assert not keras_model.trainable_weights


def test_calls_leave_weights_unchanged(keras_model, photos: np.ndarray) -> None:
    before = [weight.copy() for weight in keras_model.get_weights()]
    images = tf.constant(photos[:1])
    first = keras_model(images).numpy()
    # Frozen batch norm keeps its moving statistics even in training mode (dropout does act).
    keras_model(images, training=True)
    after = keras_model.get_weights()
    assert len(after) == len(before)
    assert all(np.array_equal(old, new) for old, new in zip(before, after, strict=True))
    np.testing.assert_array_equal(keras_model(images).numpy(), first)


def test_integrated_gradients_agree_with_torch(torch_model, keras_model, photos) -> None:
    images = photos[:1]  # the cat: the larger of the two photos' gaps
    top1 = _torch_logits(torch_model, images).argmax(axis=1)
    options = dict(target=top1, steps=8, output="probability", method="riemann_trapezoid")
    from_keras = intgrad.integrated_gradients(keras_model, tf.constant(images), **options)
    from_torch = intgrad.integrated_gradients(torch_model, _nchw(images), **options)
    exact = intgrad.integrated_gradients(
        copy.deepcopy(torch_model).double(), _nchw(images).double(), **options
    )
    reference = exact.attributions.permute(0, 2, 3, 1).numpy()[0]
    keras_attributions = from_keras.attributions.numpy()
    torch_attributions = from_torch.attributions.detach().permute(0, 2, 3, 1).numpy()
    assert keras_attributions.shape == (1, 224, 224, 3)
    for attributions in (keras_attributions[0], torch_attributions[0]):
        gap = np.linalg.norm(attributions - reference)
        assert gap <= IG_RTOL * np.linalg.norm(reference)
    np.testing.assert_allclose(from_keras.f_input, from_torch.f_input, atol=1e-5)
    np.testing.assert_allclose(from_keras.delta, from_torch.delta, atol=1e-3)


def test_loaded_classifier_describes_the_model() -> None:
    loaded = load_keras_efficientnet_lite0()
    assert isinstance(loaded, KerasClassifier)
    assert loaded.name == "efficientnet-lite0"
    assert loaded.input_size == (224, 224)
    assert loaded.layout == "channels_last"
    assert len(loaded.labels) == 1000
    assert (loaded.labels[EGYPTIAN_CAT], loaded.labels[ESPRESSO]) == ("Egyptian cat", "espresso")
    assert loaded.module.count_params() == WEIGHT_COUNT


def test_refuses_keras_on_another_backend(monkeypatch, torch_model) -> None:
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=tensorflow"):
        keras_efficientnet_lite0(torch_model)


def test_says_to_install_tensorflow(monkeypatch, torch_model) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ModuleNotFoundError, match="pip install tensorflow"):
        keras_efficientnet_lite0(torch_model)


def test_refuses_grouped_convolutions() -> None:
    from torch import nn

    network = load_efficientnet_lite0().network
    network.head.conv = nn.Conv2d(320, 1280, 1, groups=2, bias=False)
    with pytest.raises(ValueError, match="groups=2"):
        keras_efficientnet_lite0(ImageNetClassifier(network))


def test_refuses_other_torch_models() -> None:
    with pytest.raises(TypeError, match="wrapping Linear"):
        keras_efficientnet_lite0(ImageNetClassifier(torch.nn.Linear(3, 1000)))
