"""A tiny sentiment classifier with the same weights in PyTorch, Keras and JAX.

Token ids (the all-MiniLM-L6-v2 WordPiece vocabulary, 30,522 tokens) → token embedding (width
16) + learned position embedding (64 positions) → mean over the real tokens (the attention
mask) → dense 16→16, tanh → dense 16→2: the logits of (negative, positive). The weights are
stored once, as NumPy arrays (``weights/tiny-sentiment.npz``, float16, loaded as float32), and
each framework gets a thin implementation of the same function, so that one model can be
explained through the generic layer API everywhere: the path runs through the token
embedding, while position embeddings and the mask are held fixed (the same at both ends).
Positions are counted over real tokens, so a text has the positions it has alone whichever
side it is padded on. ``scripts/train_tiny_text_model.py`` reproduces the weights.

Each builder returns a :class:`TinyModel` ``(model, layer)``: pass ``model`` to
:class:`intgrad.Explainer` and ``layer`` as its ``layer=``, and call ``attribute`` with the
token ids as inputs and ``additional_forward_args=(attention_mask,)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from intgrad.text.baselines import BaselinePolicy, baseline_ids, explained_positions
from intgrad.text.encode import TextBatch, encode_text, pad_batch

__all__ = [
    "TINY_LABELS",
    "TINY_MAX_TOKENS",
    "TINY_WEIGHTS_PATH",
    "TINY_WEIGHT_NAMES",
    "TinyModel",
    "load_tiny_meta",
    "load_tiny_weights",
    "pad_baseline_ids",
    "tiny_batch",
    "tiny_jax_apply",
    "tiny_jax_embed",
    "tiny_jax_head",
    "tiny_jax_model",
    "tiny_keras_model",
    "tiny_torch_model",
    "tiny_weights_of",
]

TINY_WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "tiny-sentiment.npz"
"""The tiny classifier's weights (float16 arrays by name) and its ``meta`` JSON string."""

TINY_LABELS: tuple[str, ...] = ("negative", "positive")
"""The tiny classifier's classes, by output index."""

TINY_MAX_TOKENS = 64
"""The most tokens a text may have, special tokens included (the position embedding's size)."""

TINY_WEIGHT_NAMES: tuple[str, ...] = (
    "token_embedding",
    "position_embedding",
    "hidden_kernel",
    "hidden_bias",
    "output_kernel",
    "output_bias",
)
"""The arrays of the model: embeddings (rows, width); kernels (in, out); biases (out,)."""


class TinyModel(NamedTuple):
    """One framework's tiny classifier and its split at the token embedding.

    Attributes:
        model: the whole classifier, ``model(input_ids, attention_mask) -> logits`` of shape
            (texts, 2) (a Keras model takes the list ``[input_ids, attention_mask]``; JAX's is
            the pair ``(tiny_jax_apply, params)``).
        layer: what ``Explainer(model, layer=...)`` attributes to: the token embedding module
            in PyTorch, the pair ``(embed_fn, head_fn)`` in Keras and JAX.
    """

    model: Any
    layer: Any


def _requires(framework: str, extra: str) -> ImportError:
    return ImportError(f"the tiny text model in {framework} needs: pip install 'intgrad[{extra}]'")


def load_tiny_weights(path: str | Path = TINY_WEIGHTS_PATH) -> dict[str, np.ndarray]:
    """The stored arrays by name, as float32 (see :data:`TINY_WEIGHT_NAMES` for their shapes)."""
    with np.load(path, allow_pickle=False) as stored:
        return {name: np.asarray(stored[name], dtype=np.float32) for name in TINY_WEIGHT_NAMES}


def load_tiny_meta(path: str | Path = TINY_WEIGHTS_PATH) -> dict[str, Any]:
    """The training report stored with the weights (vocabulary, width, accuracy, seconds, seed)."""
    with np.load(path, allow_pickle=False) as stored:
        meta: dict[str, Any] = json.loads(str(stored["meta"]))
    return meta


def _weights(weights: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    arrays = load_tiny_weights() if weights is None else dict(weights)
    missing = [name for name in TINY_WEIGHT_NAMES if name not in arrays]
    if missing:
        raise ValueError(
            f"the tiny model's weights lack {missing}; expected {list(TINY_WEIGHT_NAMES)}"
        )
    return {name: np.asarray(arrays[name], dtype=np.float32) for name in TINY_WEIGHT_NAMES}


def tiny_batch(texts: Sequence[str], tokenizer: Any = None) -> TextBatch:
    """Texts tokenized (at most :data:`TINY_MAX_TOKENS` each) and padded on the right.

    Args:
        texts: the texts.
        tokenizer: the all-MiniLM-L6-v2 tokenizer; default: the packaged one.
    """
    if tokenizer is None:
        from intgrad.text._minilm import load_tokenizer

        tokenizer = load_tokenizer()
    encoded = [encode_text(text, tokenizer, TINY_MAX_TOKENS) for text in texts]
    return pad_batch(encoded, int(tokenizer.pad_token_id), "right")


def pad_baseline_ids(batch: TextBatch, pad_id: int) -> np.ndarray:
    """Baseline ids: the input ids with every real, non-special token replaced by ``pad_id``.

    Special tokens ([CLS], [SEP]) and padding keep their ids, so only the content is
    integrated over. Returns shape (texts, tokens), int64.
    """
    policy = BaselinePolicy("pad", pad_id, None, False)
    return baseline_ids(batch, policy, explained_positions(batch, keep_special=True))


# --- PyTorch -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _torch_class() -> Any:
    try:
        import torch
    except ImportError:
        raise _requires("PyTorch", "torch") from None

    class TinyTextClassifier(torch.nn.Module):
        """Token and position embeddings → masked mean → dense, tanh → dense (two logits)."""

        def __init__(self, vocabulary: int, width: int, positions: int, classes: int) -> None:
            super().__init__()
            self.embeddings = torch.nn.Embedding(vocabulary, width)
            self.positions = torch.nn.Embedding(positions, width)
            self.hidden = torch.nn.Linear(width, width)
            self.output = torch.nn.Linear(width, classes)

        def head(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            """Token embeddings (texts, tokens, width) and the mask → logits (texts, classes)."""
            mask = attention_mask.to(embeddings.dtype)
            positions = (mask.cumsum(1) - 1).clamp(min=0).long()
            weights = mask.unsqueeze(-1)
            vectors = (embeddings + self.positions(positions)) * weights
            pooled = vectors.sum(1) / weights.sum(1).clamp(min=1.0)
            return self.output(torch.tanh(self.hidden(pooled)))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            """Ids and mask, both (texts, tokens) → logits (texts, classes)."""
            return self.head(self.embeddings(input_ids), attention_mask)

    return TinyTextClassifier


def tiny_torch_model(weights: Mapping[str, np.ndarray] | None = None) -> TinyModel:
    """The classifier as a ``torch.nn.Module`` (eval mode); the layer is ``model.embeddings``.

    ``model(input_ids, attention_mask)``: both (texts, tokens), integers → logits (texts, 2);
    ``model.embeddings(input_ids)`` → the token embeddings (texts, tokens, 16).

    Args:
        weights: arrays by name (as :func:`load_tiny_weights`); default: the packaged ones.
    """
    torch_class = _torch_class()
    import torch

    arrays = _weights(weights)
    vocabulary, width = arrays["token_embedding"].shape
    model = torch_class(
        vocabulary, width, arrays["position_embedding"].shape[0], arrays["output_bias"].shape[0]
    )
    with torch.no_grad():
        model.embeddings.weight.copy_(torch.from_numpy(arrays["token_embedding"]))
        model.positions.weight.copy_(torch.from_numpy(arrays["position_embedding"]))
        model.hidden.weight.copy_(torch.from_numpy(arrays["hidden_kernel"].T))
        model.hidden.bias.copy_(torch.from_numpy(arrays["hidden_bias"]))
        model.output.weight.copy_(torch.from_numpy(arrays["output_kernel"].T))
        model.output.bias.copy_(torch.from_numpy(arrays["output_bias"]))
    model.eval()
    return TinyModel(model, model.embeddings)


def tiny_weights_of(model: Any) -> dict[str, np.ndarray]:
    """The float32 arrays of a PyTorch tiny classifier: the inverse of :func:`tiny_torch_model`."""

    def array(tensor: Any) -> np.ndarray:
        return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)

    return {
        "token_embedding": array(model.embeddings.weight),
        "position_embedding": array(model.positions.weight),
        "hidden_kernel": array(model.hidden.weight.T),
        "hidden_bias": array(model.hidden.bias),
        "output_kernel": array(model.output.weight.T),
        "output_bias": array(model.output.bias),
    }


# --- Keras -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _keras_pool_class() -> Any:
    try:
        import keras
    except ImportError:
        raise _requires("Keras", "tensorflow") from None

    class PositionalMeanPool(keras.layers.Layer):
        """``[embeddings (texts, tokens, width), mask (texts, tokens)]`` → (texts, width):
        the mean over real tokens of the embeddings plus their position embeddings."""

        def __init__(self, positions: int, width: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.positions, self.width = positions, width

        def build(self, input_shape: Any) -> None:
            self.position_embedding = self.add_weight(
                shape=(self.positions, self.width), name="position_embedding"
            )

        def call(self, inputs: Sequence[Any]) -> Any:
            ops = keras.ops
            embeddings, attention_mask = inputs
            mask = ops.cast(attention_mask, embeddings.dtype)
            positions = ops.cast(ops.maximum(ops.cumsum(mask, axis=1) - 1, 0), "int32")
            weights = ops.expand_dims(mask, -1)
            vectors = (embeddings + ops.take(self.position_embedding, positions, axis=0)) * weights
            return ops.sum(vectors, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    return PositionalMeanPool


def tiny_keras_model(weights: Mapping[str, np.ndarray] | None = None) -> TinyModel:
    """The classifier as a functional Keras model, and its split ``(embed_fn, head_fn)``.

    ``model([input_ids, attention_mask])``: both (texts, tokens), integers → logits (texts, 2).
    ``embed_fn(input_ids)`` → token embeddings (texts, tokens, 16);
    ``head_fn(embeddings, attention_mask)`` → logits, with the position embeddings added inside
    the head (so only the token embedding is on the path). Both halves share the model's layers.

    Args:
        weights: arrays by name (as :func:`load_tiny_weights`); default: the packaged ones.
    """
    pool_class = _keras_pool_class()
    import keras

    arrays = _weights(weights)
    vocabulary, width = arrays["token_embedding"].shape
    positions, classes = arrays["position_embedding"].shape[0], arrays["output_bias"].shape[0]
    embed = keras.layers.Embedding(vocabulary, width, name="token_embedding")
    pool = pool_class(positions, width, name="positional_mean")
    hidden = keras.layers.Dense(width, activation="tanh", name="hidden")
    output = keras.layers.Dense(classes, name="output")
    input_ids = keras.Input((None,), dtype="int64", name="input_ids")
    attention_mask = keras.Input((None,), dtype="int64", name="attention_mask")
    logits = output(hidden(pool([embed(input_ids), attention_mask])))
    model = keras.Model([input_ids, attention_mask], logits, name="tiny_sentiment")
    embed.set_weights([arrays["token_embedding"]])
    pool.set_weights([arrays["position_embedding"]])
    hidden.set_weights([arrays["hidden_kernel"], arrays["hidden_bias"]])
    output.set_weights([arrays["output_kernel"], arrays["output_bias"]])

    def head_fn(embeddings: Any, attention_mask: Any) -> Any:
        return output(hidden(pool([embeddings, attention_mask])))

    return TinyModel(model, (embed, head_fn))


# --- JAX -------------------------------------------------------------------------------------


def _jnp() -> Any:
    try:
        import jax.numpy as jnp
    except ImportError:
        raise _requires("JAX", "jax") from None
    return jnp


def tiny_jax_embed(params: Mapping[str, Any], input_ids: Any) -> Any:
    """Token ids (texts, tokens) → token embeddings (texts, tokens, width)."""
    return _jnp().take(params["token_embedding"], input_ids, axis=0)


def tiny_jax_head(params: Mapping[str, Any], embeddings: Any, attention_mask: Any) -> Any:
    """Token embeddings (texts, tokens, width) and the mask (texts, tokens) → logits (texts, 2).

    ``params`` needs every array but ``token_embedding``.
    """
    jnp = _jnp()
    mask = jnp.asarray(attention_mask).astype(embeddings.dtype)
    positions = jnp.maximum(jnp.cumsum(mask, axis=1) - 1, 0).astype(jnp.int32)
    weights = mask[..., None]
    vectors = (embeddings + jnp.take(params["position_embedding"], positions, axis=0)) * weights
    pooled = vectors.sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1.0)
    hidden = jnp.tanh(pooled @ params["hidden_kernel"] + params["hidden_bias"])
    return hidden @ params["output_kernel"] + params["output_bias"]


def tiny_jax_apply(params: Mapping[str, Any], input_ids: Any, attention_mask: Any) -> Any:
    """Ids and mask, both (texts, tokens) → logits (texts, 2): the head of the embeddings."""
    return tiny_jax_head(params, tiny_jax_embed(params, input_ids), attention_mask)


def tiny_jax_model(weights: Mapping[str, np.ndarray] | None = None) -> TinyModel:
    """The classifier as pure JAX functions and parameters.

    ``model`` is ``(tiny_jax_apply, params)``; ``layer`` is the pair of pairs
    ``((tiny_jax_embed, embed_params), (tiny_jax_head, head_params))``, the head's parameters
    without the token embedding (so the compiled step does not take the vocabulary's table).

    Args:
        weights: arrays by name (as :func:`load_tiny_weights`); default: the packaged ones.
    """
    jnp = _jnp()
    params = {name: jnp.asarray(value) for name, value in _weights(weights).items()}
    embed_params = {"token_embedding": params["token_embedding"]}
    head_params = {name: value for name, value in params.items() if name != "token_embedding"}
    return TinyModel(
        (tiny_jax_apply, params), ((tiny_jax_embed, embed_params), (tiny_jax_head, head_params))
    )
