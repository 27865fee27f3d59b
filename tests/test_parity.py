"""The same small CNN in PyTorch (NCHW), Keras (NHWC) and JAX (NHWC): the same attributions.

conv 3×3 (2→4) → tanh → conv 3×3 (4→4) → global average pool → dense (4→3), weights from a
seeded NumPy RNG; attributions are compared after transposing back to NCHW.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import intgrad

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

Weights = dict[str, np.ndarray]
TARGETS = [1, 2]
TOLERANCE = 1e-4  # relative to the largest attribution (resp. |F(x) − F(x′)|), float32 models


def _weights() -> Weights:
    rng = np.random.default_rng(1234)

    def draw(*shape: int) -> np.ndarray:
        return (0.5 * rng.normal(size=shape)).astype(np.float32)

    # Convolution kernels in HWIO (Keras's and our JAX layout); dense as (in, out).
    return {
        "k1": draw(3, 3, 2, 4),
        "b1": draw(4),
        "k2": draw(3, 3, 4, 4),
        "b2": draw(4),
        "w": draw(4, 3),
        "b": draw(3),
    }


def _images() -> np.ndarray:
    """Two images, NCHW, in [0, 1)."""
    return np.random.default_rng(99).uniform(size=(2, 2, 8, 8)).astype(np.float32)


def _torch_model(weights: Weights) -> tuple[Any, Any]:
    import torch

    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.Conv2d(4, 4, 3, padding=1),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )
    with torch.no_grad():
        for layer, k, b in ((model[0], "k1", "b1"), (model[2], "k2", "b2")):
            layer.weight.copy_(torch.as_tensor(weights[k].transpose(3, 2, 0, 1)))
            layer.bias.copy_(torch.as_tensor(weights[b]))
        model[5].weight.copy_(torch.as_tensor(weights["w"].T))
        model[5].bias.copy_(torch.as_tensor(weights["b"]))
    return model, torch.as_tensor


def _keras_model(weights: Weights) -> tuple[Any, Any]:
    import keras
    import tensorflow as tf

    layers = [
        keras.layers.Conv2D(4, 3, padding="same", activation="tanh"),
        keras.layers.Conv2D(4, 3, padding="same"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ]
    model = keras.Sequential([keras.Input((8, 8, 2)), *layers])
    for layer, names in zip(
        layers[:2] + layers[3:], (("k1", "b1"), ("k2", "b2"), ("w", "b")), strict=True
    ):
        layer.set_weights([weights[n] for n in names])
    return model, tf.convert_to_tensor


def _jax_model(weights: Weights) -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    params = {k: jnp.asarray(v) for k, v in weights.items()}

    def conv(x: Any, kernel: Any, bias: Any) -> Any:
        out = jax.lax.conv_general_dilated(
            x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return out + bias

    def apply(p: dict[str, Any], x: Any) -> Any:
        hidden = conv(jnp.tanh(conv(x, p["k1"], p["b1"])), p["k2"], p["b2"])
        return hidden.mean(axis=(1, 2)) @ p["w"] + p["b"]

    return (apply, params), jnp.asarray


# name → (framework module, builder, channels-last)
_FRAMEWORKS: dict[str, tuple[str, Callable[[Weights], Any], bool]] = {
    "torch": ("torch", _torch_model, False),
    "tensorflow": ("tensorflow", _keras_model, True),
    "jax": ("jax", _jax_model, True),
}
INSTALLED = [n for n, (module, _, _) in _FRAMEWORKS.items() if importlib.util.find_spec(module)]


@pytest.fixture(scope="module")
def models() -> Iterator[dict[str, tuple[Any, Any, bool]]]:
    if len(INSTALLED) < 2:
        pytest.skip(f"parity needs two frameworks, found {INSTALLED}")
    weights = _weights()
    built = {}
    for name in INSTALLED:
        _, build, channels_last = _FRAMEWORKS[name]
        model, to_native = build(weights)
        built[name] = (model, to_native, channels_last)
    with _one_torch_thread():
        yield built


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    # Convolutions this small take far longer to hand out to OpenMP threads than to compute.
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _attribute(
    model: Any, to_native: Any, channels_last: bool, **kwargs: Any
) -> tuple[np.ndarray, intgrad.Attribution]:
    images = _images()
    if channels_last:
        images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))
    result = intgrad.integrated_gradients(model, to_native(images), target=TARGETS, **kwargs)
    attributions = np.asarray(result.attributions)
    if hasattr(result.attributions, "detach"):
        attributions = result.attributions.detach().numpy()
    if channels_last:
        attributions = attributions.transpose(0, 3, 1, 2)
    return attributions, result


def _check_same(results: dict[str, tuple[np.ndarray, intgrad.Attribution]]) -> None:
    reference_name, (reference, reference_result) = next(iter(results.items()))
    assert reference_result.delta is not None
    assert reference_result.f_input is not None and reference_result.f_baseline is not None
    span = np.abs(reference_result.f_input - reference_result.f_baseline).max()
    for name, (attributions, result) in results.items():
        error = np.abs(attributions - reference).max() / np.abs(reference).max()
        assert error <= TOLERANCE, f"{name} vs {reference_name}: relative error {error:.2e}"
        assert result.delta is not None
        np.testing.assert_allclose(result.delta, reference_result.delta, rtol=0, atol=1e-4 * span)
        np.testing.assert_allclose(result.f_input, reference_result.f_input, rtol=1e-5)


@pytest.mark.parametrize("method", intgrad.METHODS)
def test_every_rule_agrees(models: dict[str, tuple[Any, Any, bool]], method: str) -> None:
    results = {
        name: _attribute(*built, steps=6, method=method, output="probability", batch_size=5)
        for name, built in models.items()
    }
    _check_same(results)


def test_blur_and_black_baselines_agree(models: dict[str, tuple[Any, Any, bool]]) -> None:
    # The blur is drawn on the host from each layout; its default axes are the spatial ones in
    # both NCHW and NHWC, so the baselines are the same images.
    results = {
        name: _attribute(*built, steps=6, baselines=["black", "blur"], output="probability")
        for name, built in models.items()
    }
    _check_same(results)
