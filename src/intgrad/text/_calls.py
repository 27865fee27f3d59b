"""How a text classifier is called: which keyword inputs it takes, and its logits."""

from __future__ import annotations

import inspect
from typing import Any

from intgrad.text.encode import PaddingSide, TextBatch

__all__ = ["ModelCall", "decoder_only", "model_call"]

_EXTRA_INPUTS = ("attention_mask", "token_type_ids", "position_ids")


def decoder_only(module: Any) -> bool:
    """Whether a Hugging Face model is a decoder-only (causal) one, which pads on the left."""
    config = getattr(module, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    if getattr(config, "is_decoder", False):
        return True
    try:
        from transformers.models.auto import modeling_auto
    except ImportError:
        return False
    model_type = getattr(config, "model_type", None)
    return (
        model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )


def _accepted(module: Any) -> set[str]:
    try:
        parameters = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return {"attention_mask"}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return set(_EXTRA_INPUTS)
    return {name for name in _EXTRA_INPUTS if name in parameters}


class ModelCall:
    """The keyword inputs one model gets besides ``input_ids``, and the padding it needs.

    Position ids are passed only to decoder-only models padded on the left (so a padded text
    sees the positions it has alone); encoders compute their own from the sequence.
    """

    def __init__(self, module: Any, padding_side: PaddingSide | None) -> None:
        accepted = _accepted(module)
        decoder = decoder_only(module)
        self.padding_side: PaddingSide = padding_side or ("left" if decoder else "right")
        self.names = tuple(
            name
            for name in _EXTRA_INPUTS
            if name in accepted
            and (name != "position_ids" or (decoder and self.padding_side == "left"))
        )

    def extras(self, batch: TextBatch) -> tuple[Any, ...]:
        """The extra inputs of a batch, as NumPy arrays in :attr:`names` order."""
        arrays = {
            "attention_mask": batch.attention_mask,
            "token_type_ids": batch.token_type_ids,
            "position_ids": batch.position_ids,
        }
        return tuple(arrays[name] for name in self.names if arrays[name] is not None)

    def present(self, batch: TextBatch) -> tuple[str, ...]:
        """The names of :attr:`names` this batch has (token types only where it holds them)."""
        return tuple(
            name
            for name in self.names
            if not (name == "token_type_ids" and batch.token_type_ids is None)
        )


def model_call(module: Any, names: tuple[str, ...]) -> Any:
    """A module computing ``module(input_ids, **extras)``'s logits (the caller's module inside)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, input_ids: Any, *extras: Any) -> Any:
            outputs = self.module(input_ids=input_ids, **dict(zip(names, extras, strict=True)))
            logits = getattr(outputs, "logits", outputs)
            if isinstance(outputs, tuple) and not hasattr(outputs, "logits"):
                logits = outputs[0]
            return logits

    return Logits()
