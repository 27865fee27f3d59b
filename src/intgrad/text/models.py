"""Text classifiers to explain: the embedded sentiment model, or any Hugging Face classifier.

A :class:`TextModel` bundles a PyTorch sequence classifier with its tokenizer and class names.
:func:`load_text_model` gives the embedded one (no download) or loads a local Hugging Face
``AutoModelForSequenceClassification`` directory; :func:`as_text_model` wraps a model and
tokenizer the caller already has. Nothing here modifies a model the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from intgrad.text._minilm import (
    LABELS,
    WEIGHTS_PATH,
    adapted_linears,
    load_encoder,
    load_tokenizer,
    mean_pool,
    read_weights,
)

__all__ = [
    "DEFAULT_TEXT_MODEL",
    "TextModel",
    "TextModelError",
    "as_text_model",
    "load_text_model",
    "model_labels",
]

DEFAULT_TEXT_MODEL = "minilm-sentiment"
"""The name of the embedded sentiment classifier."""


class TextModelError(ValueError):
    """A text model that cannot be loaded or used: the message says why, in one line."""


@dataclass(frozen=True)
class TextModel:
    """A sequence classifier, its tokenizer and its class names.

    Attributes:
        module: a ``torch.nn.Module`` mapping ``input_ids`` (and ``attention_mask``,
            ``token_type_ids`` when it takes them) to logits of shape (texts, classes), or to an
            object with a ``logits`` attribute (Hugging Face's outputs).
        tokenizer: a fast Hugging Face tokenizer (offsets and word ids are needed for words).
        labels: the class names by output index.
        name: a display name.
        max_tokens: the longest sequence the model takes, special tokens included.
    """

    module: Any
    tokenizer: Any
    labels: tuple[str, ...]
    name: str
    max_tokens: int


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("text models need PyTorch: pip install 'intgrad[text]'") from None
    return torch


def _sentiment_module(path: Path) -> Any:
    torch = _torch()

    class SentimentClassifier(torch.nn.Module):  # type: ignore[name-defined]
        """all-MiniLM-L6-v2 with merged adapters, mean pooling and a linear head."""

        def __init__(self, encoder: Any, head: Any) -> None:
            super().__init__()
            self.encoder, self.head = encoder, head

        @property
        def base_model(self) -> Any:
            return self.encoder

        def get_input_embeddings(self) -> Any:
            return self.encoder.get_input_embeddings()

        def forward(
            self,
            input_ids: Any,
            attention_mask: Any = None,
            token_type_ids: Any = None,
            position_ids: Any = None,
        ) -> Any:
            """Logits, shape (texts, 2), of token ids of shape (texts, tokens)."""
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            hidden = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                position_ids=position_ids,
            ).last_hidden_state
            return self.head(mean_pool(hidden, attention_mask))

    arrays, meta = read_weights(path)
    encoder = load_encoder()
    scale = float(meta["scale"])
    with torch.no_grad():
        for name, linear in adapted_linears(encoder):
            down, up = arrays[f"{name}.down"], arrays[f"{name}.up"]
            linear.weight += torch.from_numpy(scale * (up @ down)).to(linear.weight.dtype)
    head = torch.nn.Linear(encoder.config.hidden_size, len(LABELS))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(arrays["head.weight"]))
        head.bias.copy_(torch.from_numpy(arrays["head.bias"]))
    module = SentimentClassifier(encoder, head).eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def load_text_model(source: str | Path | None = None) -> TextModel:
    """The embedded sentiment classifier, or a local Hugging Face sequence classifier.

    Args:
        source: ``None`` or ``"minilm-sentiment"`` for the embedded model; a path to the
            stored adapters of the embedded model (``.npz``); or a directory holding a Hugging
            Face ``AutoModelForSequenceClassification`` and its tokenizer (loaded offline).

    Raises:
        TextModelError: the source does not name or hold a model.
    """
    if source is None or str(source) == DEFAULT_TEXT_MODEL:
        return _embedded(WEIGHTS_PATH)
    path = Path(source)
    if path.suffix == ".npz" and path.is_file():
        return _embedded(path)
    if not path.is_dir():
        raise TextModelError(
            f"unknown text model {str(source)!r}: give {DEFAULT_TEXT_MODEL!r} or a local "
            "Hugging Face model directory"
        )
    return _hugging_face(path)


def _embedded(path: Path) -> TextModel:
    if not path.is_file():
        raise TextModelError(f"the embedded model's weights are missing: {path}")
    module = _sentiment_module(path)
    tokenizer = load_tokenizer()
    limit = _token_limit(tokenizer, module.encoder.config)
    return TextModel(module, tokenizer, LABELS, DEFAULT_TEXT_MODEL, limit)


def _hugging_face(path: Path) -> TextModel:
    try:
        import transformers
    except ImportError:
        raise ImportError(
            "Hugging Face models need transformers: pip install 'intgrad[text]'"
        ) from None
    try:
        # A local directory: never ask the hub (per call, not HF_HUB_OFFLINE for the process).
        module = transformers.AutoModelForSequenceClassification.from_pretrained(
            str(path), local_files_only=True
        ).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(path), use_fast=True, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TextModelError(f"cannot load a text classifier from {str(path)!r}: {first}") from None
    return as_text_model(module, tokenizer, name=path.name)


def model_labels(module: Any) -> tuple[str, ...] | None:
    """Class names from a Hugging Face config's ``id2label``, or ``None``."""
    config = getattr(module, "config", None)
    id2label = getattr(config, "id2label", None)
    if not id2label:
        return None
    return tuple(str(id2label[i]) for i in sorted(int(k) for k in id2label))


def as_text_model(
    module: Any,
    tokenizer: Any,
    *,
    labels: tuple[str, ...] | None = None,
    name: str | None = None,
    max_tokens: int | None = None,
) -> TextModel:
    """Bundle a PyTorch classifier the caller already has with its tokenizer.

    Args:
        module: the classifier (``torch.nn.Module``); used as it is, never modified.
        tokenizer: its fast Hugging Face tokenizer.
        labels: class names by output index; default: the model config's ``id2label``, else
            ``"0"``, ``"1"``, ...
        name: a display name; default: the config's ``name_or_path`` or the class name.
        max_tokens: the longest input; default: the tokenizer's or config's limit.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TextModelError(f"a text model must be a torch.nn.Module, got {type(module).__name__}")
    if not getattr(tokenizer, "is_fast", False):
        raise TextModelError(
            "the tokenizer must be a fast Hugging Face tokenizer (offsets and word ids come "
            "from it): load it with use_fast=True"
        )
    config = getattr(module, "config", None)
    found = labels if labels is not None else model_labels(module)
    if found is None:
        classes = int(getattr(config, "num_labels", 0) or 0)
        found = tuple(str(i) for i in range(classes)) if classes else ()
    limit = max_tokens or _token_limit(tokenizer, config)
    display = name or str(getattr(config, "name_or_path", "") or type(module).__name__)
    return TextModel(module, tokenizer, tuple(found), display, limit)


def _token_limit(tokenizer: Any, config: Any) -> int:
    candidates = [
        getattr(tokenizer, "model_max_length", None),
        getattr(config, "max_position_embeddings", None),
    ]
    limits = [int(c) for c in candidates if isinstance(c, (int, np.integer)) and 0 < c < 1_000_000]
    return min(limits) if limits else 512
