"""Class probabilities of texts: the forward pass the explanations start from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from intgrad.text._calls import ModelCall, model_call
from intgrad.text.encode import EncodedText, PaddingSide, encode_text, pad_batch, pad_token_id
from intgrad.text.models import TextModel, load_text_model

__all__ = ["MAX_PADDING", "length_groups", "predict_text", "resolve_text_model"]


def resolve_text_model(model: Any = None, tokenizer: Any = None) -> TextModel:
    """A :class:`TextModel` from what the caller gave: one, a name or path, or a module."""
    from intgrad.text.models import TextModelError, as_text_model

    if isinstance(model, TextModel):
        if tokenizer is not None:
            raise TextModelError("tokenizer is part of a TextModel; pass one or the other")
        return model
    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        if tokenizer is not None:
            raise TextModelError("a tokenizer goes with a model object, not a model name")
        return load_text_model(model)
    if tokenizer is None:
        raise TextModelError("a model object needs its tokenizer: pass tokenizer=")
    return as_text_model(model, tokenizer)


MAX_PADDING = 0.25
"""The most padding a group of texts may carry, as a fraction of its real tokens."""


def length_groups(
    encoded: Sequence[EncodedText], size: int, max_padding: float = MAX_PADDING
) -> Iterator[list[int]]:
    """Indices of ``encoded`` in groups of at most ``size`` texts of similar length.

    Texts are sorted by length and a group closes when the next text would make its padding
    (the group's ``texts × longest − real tokens``) exceed ``max_padding`` × its real tokens:
    padded tokens cost the model as much as real ones, so a batch of mixed lengths can be
    slower than the texts one by one.
    """
    order = sorted(range(len(encoded)), key=lambda i: encoded[i].length)
    group: list[int] = []
    real = 0
    for index in order:
        length = encoded[index].length
        padded = (len(group) + 1) * length
        if group and (len(group) >= size or padded > (1 + max_padding) * (real + length)):
            yield group
            group, real = [], 0
        group.append(index)
        real += length
    if group:
        yield group


def predict_text(
    texts: str | Sequence[str],
    model: Any = None,
    *,
    tokenizer: Any = None,
    texts_per_batch: int = 64,
    padding_side: PaddingSide | None = None,
) -> np.ndarray:
    """Softmax probabilities of each text: shape (texts, classes), float64.

    Args:
        texts: a text or a sequence of texts.
        model: a :class:`TextModel`, a model name or directory, or a PyTorch classifier
            (then with ``tokenizer``); default: the embedded sentiment classifier.
        texts_per_batch: texts per forward pass (grouped by length).
        padding_side: ``"right"`` or ``"left"``; default: left for decoder-only models.
    """
    import torch

    bundle = resolve_text_model(model, tokenizer)
    items = [texts] if isinstance(texts, str) else list(texts)
    encoded = [encode_text(t, bundle.tokenizer, bundle.max_tokens) for t in items]
    call = ModelCall(bundle.module, padding_side)
    pad_id = pad_token_id(bundle.tokenizer)
    out = np.zeros((len(items), 0))
    for group in length_groups(encoded, texts_per_batch):
        batch = pad_batch([encoded[i] for i in group], pad_id, call.padding_side)
        forward = model_call(bundle.module, call.present(batch))
        with torch.no_grad():
            args = [torch.from_numpy(a) for a in (batch.input_ids, *call.extras(batch))]
            logits = forward(*args).double()
        probabilities = torch.softmax(logits, dim=-1).numpy()
        if out.shape[1] == 0:
            out = np.zeros((len(items), probabilities.shape[1]))
        out[group] = probabilities
    return out
