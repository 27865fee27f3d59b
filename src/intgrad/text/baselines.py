"""Text baselines: what replaces each explained token at the path's start.

A policy names one token id for every explained position (``pad``, ``unk``, ``mask``,
``token:<token>``), the tokens of a text of the same length (``text:<text>``), or zero word
embeddings (``zero``). Positions that are not explained — padding always, special tokens by
default — keep the input's ids, so they are not on the path and get exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad.text.encode import TextBatch

__all__ = [
    "TEXT_BASELINES",
    "BaselinePolicy",
    "baseline_ids",
    "baseline_policy",
    "check_baseline",
    "explained_positions",
]

TEXT_BASELINES: tuple[str, ...] = ("pad", "unk", "mask", "zero")
"""Baseline policies by name; ``"token:<token>"`` and ``"text:<text>"`` name custom ones."""


@dataclass(frozen=True)
class BaselinePolicy:
    """A baseline policy: the id replacing each explained token, or zero activations."""

    name: str
    token_id: int | None
    text_ids: np.ndarray | None
    zero: bool


def _special_id(tokenizer: Any, attribute: str, name: str) -> int:
    value = getattr(tokenizer, attribute, None)
    if not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"the tokenizer has no {name} token, so the {name!r} baseline is undefined; "
            f"choose another of {', '.join(TEXT_BASELINES)}, token:<token> or text:<text>"
        )
    return int(value)


def baseline_policy(baseline: object, tokenizer: Any) -> BaselinePolicy:
    if not isinstance(baseline, str):
        raise TypeError(f"baseline must be a policy name, got {type(baseline).__name__}")
    if baseline == "zero":
        return BaselinePolicy("zero", None, None, True)
    attributes = {"pad": "pad_token_id", "unk": "unk_token_id", "mask": "mask_token_id"}
    if baseline in attributes:
        return BaselinePolicy(
            baseline, _special_id(tokenizer, attributes[baseline], baseline), None, False
        )
    kind, _, value = baseline.partition(":")
    if kind == "token" and value:
        token_id = tokenizer.convert_tokens_to_ids(value)
        if not isinstance(token_id, int) or (
            token_id == tokenizer.unk_token_id and value != tokenizer.unk_token
        ):
            raise ValueError(f"baseline token {value!r} is not in the tokenizer's vocabulary")
        return BaselinePolicy(f"token:{value}", token_id, None, False)
    if kind == "text" and value.strip():
        ids = np.asarray(tokenizer(value, add_special_tokens=False)["input_ids"], dtype=np.int64)
        return BaselinePolicy(f"text:{value}", None, ids, False)
    raise ValueError(
        f"unknown baseline {baseline!r}; choose {', '.join(TEXT_BASELINES)}, "
        "token:<token> or text:<text>"
    )


def check_baseline(baseline: object, tokenizer: Any, layer: str = "word") -> str:
    """Validate a baseline policy for a tokenizer and layer; returns its description.

    Raises:
        ValueError: an unknown policy, a token the tokenizer lacks, or ``zero`` off the word layer.
    """
    policy = baseline_policy(baseline, tokenizer)
    if policy.zero and layer != "word":
        raise ValueError("the 'zero' baseline is defined on word embeddings: use layer='word'")
    return policy.name


def explained_positions(batch: TextBatch, keep_special: bool) -> np.ndarray:
    """Shape (texts, tokens), bool: the positions the path moves (real, and not special)."""
    explained = batch.attention_mask.astype(bool)
    if keep_special:
        for row, (text, columns) in enumerate(zip(batch.texts, batch.positions, strict=True)):
            explained[row, columns[text.special]] = False
    return explained


def baseline_ids(batch: TextBatch, policy: BaselinePolicy, explained: np.ndarray) -> np.ndarray:
    ids = batch.input_ids.copy()
    if policy.token_id is not None:
        ids[explained] = policy.token_id
    elif policy.text_ids is not None:
        for row, text in enumerate(batch.texts):
            columns = np.flatnonzero(explained[row])
            if columns.size != policy.text_ids.size:
                raise ValueError(
                    f"the baseline text has {policy.text_ids.size} tokens and the text "
                    f"{_short(text.text)!r} {columns.size}: a text baseline needs as many tokens "
                    "as the texts it explains"
                )
            ids[row, columns] = policy.text_ids
    return ids


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
