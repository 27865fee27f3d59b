"""Comprehensiveness and sufficiency of token attributions, as AOPC over fractions of tokens.

DeYoung et al. (2020), "ERASER: A Benchmark to Evaluate Rationalized NLP Models"
(arXiv:1911.03429), section 4: rank a text's explained tokens by attribution, most supporting
the target first, and for each fraction f take the top k = ⌈f × n⌉ of its n explained tokens
(at least 1):

- comprehensiveness(f) = p(target | x) − p(target | x without the top k): how much the model
  loses when the tokens the explanation credits are gone (higher is better);
- sufficiency(f) = p(target | x) − p(target | only the top k): how much it loses when only those
  tokens are left (lower is better);

and each AOPC is the mean of its curve over the fractions. Everything happens in token-id space:
``mode="remove"`` deletes ids from the sequence, ``mode="mask"`` replaces them with one id;
special tokens ([CLS], [SEP], BOS, EOS) always stay. A text is never decoded and tokenized
again, so the pieces a word splits into stay exactly what the explanation attributed.

The same curves under uniformly random token orders (``random_rankings`` seeded permutations,
averaged) are the chance level an explanation should beat.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from intgrad.text._calls import ModelCall, model_call
from intgrad.text.encode import (
    EncodedText,
    TruncationWarning,
    encode_text,
    pad_batch,
    pad_token_id,
)
from intgrad.text.explanation import TextExplanation
from intgrad.text.models import TextModel
from intgrad.text.predict import length_groups, resolve_text_model

__all__ = [
    "DEFAULT_FRACTIONS",
    "FAITHFULNESS_MODES",
    "FaithfulnessReport",
    "faithfulness",
    "tokens_at",
]

DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))
"""10 %, 20 %, …, 100 % of the explained tokens."""

FAITHFULNESS_MODES: tuple[str, ...] = ("remove", "mask")
"""How tokens leave a text: deleted from the sequence, or replaced by one id."""

Mode = Literal["remove", "mask"]


@dataclass(frozen=True)
class FaithfulnessReport:
    """Comprehensiveness and sufficiency curves of a set of explanations, with chance levels.

    Attributes:
        fractions: shape (fractions,), float64, the fractions of explained tokens.
        counts: shape (texts, fractions), int64, the k of each point: ⌈f × n⌉, at least 1.
        explained: shape (texts,), int64, n: each text's explained (non-special) tokens.
        targets: shape (texts,), int64, the class each curve is of (the explanation's target).
        p_input: shape (texts,), float64, p(target | x), from the same forward passes.
        comprehensiveness: shape (texts, fractions), float64, p(target | x) − p(target | x
            without the top k).
        sufficiency: shape (texts, fractions), float64, p(target | x) − p(target | only the
            top k).
        random_comprehensiveness, random_sufficiency: shape (texts, fractions), float64, the
            same curves averaged over ``random_rankings`` uniformly random token orders, or
            ``None`` when none were asked for.
        random_rankings: how many random orders the chance curves average.
        mode: ``"remove"`` or ``"mask"``.
        mask_id: the id masked tokens become (``None`` in remove mode).
    """

    fractions: np.ndarray
    counts: np.ndarray
    explained: np.ndarray
    targets: np.ndarray
    p_input: np.ndarray
    comprehensiveness: np.ndarray
    sufficiency: np.ndarray
    random_comprehensiveness: np.ndarray | None
    random_sufficiency: np.ndarray | None
    random_rankings: int
    mode: str
    mask_id: int | None

    @property
    def comprehensiveness_aopc(self) -> np.ndarray:
        """Shape (texts,): the mean of each text's comprehensiveness curve (higher is better)."""
        return self.comprehensiveness.mean(axis=1)

    @property
    def sufficiency_aopc(self) -> np.ndarray:
        """Shape (texts,): the mean of each text's sufficiency curve (lower is better)."""
        return self.sufficiency.mean(axis=1)

    @property
    def random_comprehensiveness_aopc(self) -> np.ndarray | None:
        """Shape (texts,): the chance level of :attr:`comprehensiveness_aopc`, or ``None``."""
        curves = self.random_comprehensiveness
        return None if curves is None else curves.mean(axis=1)

    @property
    def random_sufficiency_aopc(self) -> np.ndarray | None:
        """Shape (texts,): the chance level of :attr:`sufficiency_aopc`, or ``None``."""
        curves = self.random_sufficiency
        return None if curves is None else curves.mean(axis=1)

    def summary(self) -> dict[str, Any]:
        """The AOPCs averaged over texts (and their chance levels) as JSON-ready values."""
        out: dict[str, Any] = {
            "texts": int(self.targets.size),
            "mode": self.mode,
            "mask_id": self.mask_id,
            "fractions": [float(f) for f in self.fractions],
            "comprehensiveness_aopc": float(self.comprehensiveness_aopc.mean()),
            "sufficiency_aopc": float(self.sufficiency_aopc.mean()),
            "random_rankings": self.random_rankings,
        }
        random_c, random_s = self.random_comprehensiveness_aopc, self.random_sufficiency_aopc
        if random_c is not None and random_s is not None:
            out["random_comprehensiveness_aopc"] = float(random_c.mean())
            out["random_sufficiency_aopc"] = float(random_s.mean())
        return out


def tokens_at(fractions: Sequence[float] | np.ndarray, explained: int) -> np.ndarray:
    """The k of each fraction for a text of ``explained`` tokens: ⌈f × n⌉, at least 1.

    The product is rounded to 9 decimals first, so 0.3 × 10 is 3 tokens, not 4.

    Args:
        fractions: shape (fractions,), each in (0, 1].
        explained: n, the text's explained tokens (≥ 1).
    """
    products = np.round(np.asarray(fractions, dtype=np.float64) * explained, 9)
    return np.clip(np.ceil(products), 1, explained).astype(np.int64)


def _check_options(
    explanations: Sequence[TextExplanation],
    fractions: Sequence[float],
    mode: str,
    mask_id: int | None,
    random_rankings: int,
    texts_per_batch: int,
) -> np.ndarray:
    if len(explanations) == 0:
        raise ValueError("give at least one explanation")
    if mode not in FAITHFULNESS_MODES:
        raise ValueError(f"mode must be one of {', '.join(FAITHFULNESS_MODES)}, got {mode!r}")
    if mask_id is not None and mode != "mask":
        raise ValueError("mask_id applies to mode='mask' only")
    values = np.asarray(fractions, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("fractions must be a non-empty sequence of numbers in (0, 1]")
    if not np.all((values > 0) & (values <= 1)):
        raise ValueError(f"fractions must lie in (0, 1], got {values.tolist()}")
    for name, value, least in (
        ("random_rankings", random_rankings, 0),
        ("texts_per_batch", texts_per_batch, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    return values


def _mask_id(tokenizer: Any, mask_id: int | None) -> int:
    if mask_id is not None:
        if isinstance(mask_id, bool) or not isinstance(mask_id, (int, np.integer)):
            raise ValueError(f"mask_id must be a token id, got {mask_id!r}")
        return int(mask_id)
    value = getattr(tokenizer, "mask_token_id", None)
    return int(value) if isinstance(value, (int, np.integer)) else pad_token_id(tokenizer)


def _encoded(explanation: TextExplanation, index: int, model: TextModel) -> EncodedText:
    """The text as this model's tokenizer encodes it, checked against the explanation's ids.

    The text is tokenized once, only to recover its token-type ids and to check that the
    explanation was made with this tokenizer; every variant is cut from these ids.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        encoded = encode_text(explanation.text, model.tokenizer, model.max_tokens)
    ids = np.asarray(explanation.token_ids, dtype=np.int64)
    if not np.array_equal(encoded.input_ids, ids):
        raise ValueError(
            f"explanation {index} does not have this model's tokens: explain with the same model"
        )
    special = np.asarray(explanation.special, dtype=bool)
    if special.all():
        raise ValueError(f"explanation {index} has no explained (non-special) tokens")
    return replace(encoded, special=special)


def _variant(
    text: EncodedText, chosen: np.ndarray, mode: str, mask_id: int, keep: bool
) -> EncodedText:
    """The text without (``keep=False``) or with only (``keep=True``) the ``chosen`` positions.

    ``chosen`` holds positions of explained tokens; special tokens always stay.
    """
    leaving = np.zeros(text.length, dtype=bool)
    leaving[chosen] = True
    if keep:
        leaving = ~text.special & ~leaving
    if mode == "mask":
        ids = text.input_ids.copy()
        ids[leaving] = mask_id
        return replace(text, input_ids=ids)
    staying = ~leaving
    if not staying.any():
        raise ValueError(
            "removing every explained token leaves an empty sequence (the tokenizer adds no "
            "special tokens): use mode='mask' or fractions below 1"
        )
    types = text.token_type_ids
    return EncodedText(
        text=text.text,
        input_ids=text.input_ids[staying],
        special=text.special[staying],
        offsets=text.offsets[staying],
        word_ids=text.word_ids[staying],
        token_type_ids=None if types is None else types[staying],
    )


class _Variants:
    """Every id sequence to evaluate, each once: (text, ids) → its row."""

    def __init__(self) -> None:
        self.items: list[EncodedText] = []
        self.owner: list[int] = []
        self._rows: dict[tuple[int, bytes], int] = {}

    def add(self, owner: int, text: EncodedText) -> int:
        key = (owner, text.input_ids.tobytes())
        if key not in self._rows:
            self._rows[key] = len(self.items)
            self.items.append(text)
            self.owner.append(owner)
        return self._rows[key]


def _curve_rows(
    variants: _Variants,
    owner: int,
    text: EncodedText,
    order: np.ndarray,
    counts: np.ndarray,
    mode: str,
    mask_id: int,
) -> np.ndarray:
    """Shape (2, fractions): the rows of "without the top k" and "only the top k"."""
    rows = np.zeros((2, counts.size), dtype=np.int64)
    for column, k in enumerate(counts):
        top = order[:k]
        rows[0, column] = variants.add(owner, _variant(text, top, mode, mask_id, keep=False))
        rows[1, column] = variants.add(owner, _variant(text, top, mode, mask_id, keep=True))
    return rows


def _probabilities(
    model: TextModel, items: Sequence[EncodedText], texts_per_batch: int
) -> np.ndarray:
    """Shape (items, classes), float64: softmax probabilities, in length groups."""
    import torch

    call = ModelCall(model.module, None)
    pad_id = pad_token_id(model.tokenizer)
    forwards: dict[tuple[str, ...], Any] = {}
    out: np.ndarray | None = None
    for group in length_groups(items, texts_per_batch):
        batch = pad_batch([items[i] for i in group], pad_id, call.padding_side)
        names = call.present(batch)
        if names not in forwards:
            forwards[names] = model_call(model.module, names)
        arrays = [torch.from_numpy(a) for a in (batch.input_ids, *call.extras(batch))]
        with torch.no_grad():
            probabilities = torch.softmax(forwards[names](*arrays).double(), dim=-1).numpy()
        if out is None:
            out = np.zeros((len(items), probabilities.shape[1]))
        out[group] = probabilities
    assert out is not None
    return out


def faithfulness(
    explanations: Sequence[TextExplanation],
    model: Any = None,
    *,
    tokenizer: Any = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    mode: Mode = "remove",
    mask_id: int | None = None,
    random_rankings: int = 0,
    seed: int = 0,
    texts_per_batch: int = 64,
) -> FaithfulnessReport:
    """Comprehensiveness and sufficiency of token attributions (ERASER's AOPC), in id space.

    Explained tokens (the non-special ones) are ranked by signed attribution, highest first
    (ties in text order); for each fraction the top ⌈f × n⌉ (at least 1) leave the text or are
    the only ones kept. Every variant of every text is evaluated once, in length groups.

    Args:
        explanations: explanations of texts, made with ``model`` (their ``token_ids``,
            ``special``, ``attributions`` and ``target`` are used; the probability of the
            target is the metric's output whatever the explanation's ``output`` was).
        model: a :class:`~intgrad.text.TextModel`, a model name or directory, or a PyTorch
            classifier (then with ``tokenizer``); default: the embedded sentiment classifier.
        tokenizer: the tokenizer of a model object.
        fractions: shape (fractions,), each in (0, 1]; default 0.1, 0.2, …, 1.0.
        mode: ``"remove"`` (delete the ids) or ``"mask"`` (replace them with ``mask_id``).
        mask_id: the id of ``mode="mask"``; default: the tokenizer's mask token, else padding.
        random_rankings: how many uniformly random token orders per text to average into the
            chance curves (0: none).
        seed: the seed of the random orders (drawn text by text, in order).
        texts_per_batch: variants per forward pass.

    Returns:
        A :class:`FaithfulnessReport`.

    Raises:
        ValueError: no explanations, fractions outside (0, 1], an unknown mode, a mask id in
            remove mode, or an explanation whose ids are not this model's tokens of its text.

    References:
        DeYoung, Jain, Rajani, Lehman, Xiong, Socher, Wallace (2020), "ERASER: A Benchmark to
        Evaluate Rationalized NLP Models", ACL, arXiv:1911.03429.
    """
    values = _check_options(
        explanations, fractions, mode, mask_id, random_rankings, texts_per_batch
    )
    bundle = resolve_text_model(model, tokenizer)
    replacement = _mask_id(bundle.tokenizer, mask_id)
    rng = np.random.default_rng(seed)
    variants = _Variants()
    full_rows, ranked, chance, counts, explained = [], [], [], [], []
    for index, explanation in enumerate(explanations):
        text = _encoded(explanation, index, bundle)
        positions = np.flatnonzero(~text.special)
        scores = np.asarray(explanation.attributions, dtype=np.float64)[positions]
        k = tokens_at(values, positions.size)
        full_rows.append(variants.add(index, text))
        order = positions[np.argsort(-scores, kind="stable")]
        ranked.append(_curve_rows(variants, index, text, order, k, mode, replacement))
        chance.append(
            [
                _curve_rows(variants, index, text, rng.permutation(positions), k, mode, replacement)
                for _ in range(random_rankings)
            ]
        )
        counts.append(k)
        explained.append(positions.size)
    probabilities = _probabilities(bundle, variants.items, texts_per_batch)
    targets = np.array([int(e.target) for e in explanations], dtype=np.int64)
    if targets.max() >= probabilities.shape[1]:
        raise ValueError(
            f"a target is out of range for the model's {probabilities.shape[1]} classes"
        )
    p = probabilities[np.arange(len(variants.items)), targets[variants.owner]]
    p_input = p[np.asarray(full_rows)]
    drops = p_input[:, None, None] - p[np.stack(ranked)]  # (texts, 2, fractions)
    random_c = random_s = None
    if random_rankings:
        random_drops = p_input[:, None, None, None] - p[np.asarray(chance)]
        random_c, random_s = (random_drops[:, :, j].mean(axis=1) for j in (0, 1))
    return FaithfulnessReport(
        fractions=values,
        counts=np.stack(counts),
        explained=np.asarray(explained, dtype=np.int64),
        targets=targets,
        p_input=p_input,
        comprehensiveness=drops[:, 0],
        sufficiency=drops[:, 1],
        random_comprehensiveness=random_c,
        random_sufficiency=random_s,
        random_rankings=int(random_rankings),
        mode=mode,
        mask_id=replacement if mode == "mask" else None,
    )
