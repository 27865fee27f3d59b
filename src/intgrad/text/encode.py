"""Texts to padded token batches, and tokens back to words and character spans.

Everything is in token-id space: the tokenizer runs once per text, without padding; padding,
masks and position ids are built here, so a batch is padded the same way whatever the
tokenizer's own settings are (right for encoders, left for decoder-only models), and the
caller's tokenizer is never reconfigured. Words come from the tokenizer's word ids and
character offsets (WordPiece, SentencePiece and byte-level BPE alike), never from the token
strings.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "EncodedText",
    "TextBatch",
    "TruncationWarning",
    "Word",
    "encode_text",
    "pad_batch",
    "pad_token_id",
    "words_of",
]

PaddingSide = Literal["left", "right"]


class TruncationWarning(UserWarning):
    """A text was longer than the model takes and lost its last tokens."""


@dataclass(frozen=True)
class EncodedText:
    """One text as the tokenizer sees it (no padding).

    Attributes:
        text: the original text.
        input_ids: shape (tokens,), int64.
        special: shape (tokens,), bool, the tokenizer's special-tokens mask ([CLS], [SEP], BOS...).
        offsets: shape (tokens, 2), int64, each token's character span ``[start, end)`` in
            ``text``; ``(0, 0)`` for special tokens.
        word_ids: shape (tokens,), int64, the word each token belongs to, −1 for none.
        token_type_ids: shape (tokens,), int64, or ``None`` when the tokenizer gives none.
        dropped: how many tokens truncation removed.
    """

    text: str
    input_ids: np.ndarray
    special: np.ndarray
    offsets: np.ndarray
    word_ids: np.ndarray
    token_type_ids: np.ndarray | None
    dropped: int = 0

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


def encode_text(text: str, tokenizer: Any, max_tokens: int) -> EncodedText:
    """Tokenize one text with special tokens, truncated to ``max_tokens`` with a warning.

    Raises:
        ValueError: the text is empty or holds only whitespace.
    """
    if not isinstance(text, str):
        raise TypeError(f"texts must be strings, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the text is empty")
    specials = int(tokenizer.num_special_tokens_to_add())
    if max_tokens <= specials:
        raise ValueError(f"max_tokens must exceed the {specials} special tokens, got {max_tokens}")
    # verbose=False: the length check is ours (a warning below), not a log line.
    full = len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
    encoded = tokenizer(
        text,
        add_special_tokens=True,
        truncation=True,
        max_length=max_tokens,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    dropped = max(0, full - ids.shape[0])
    if dropped:
        warnings.warn(
            f"the text has {full} tokens, more than the model's {max_tokens}: "
            f"its last {dropped} tokens are not explained",
            TruncationWarning,
            stacklevel=3,
        )
    word_ids = np.array([-1 if w is None else w for w in encoded.word_ids()], dtype=np.int64)
    token_types = encoded.get("token_type_ids")
    return EncodedText(
        text=text,
        input_ids=ids,
        special=np.asarray(encoded["special_tokens_mask"], dtype=bool),
        offsets=np.asarray(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2),
        word_ids=word_ids,
        token_type_ids=None if token_types is None else np.asarray(token_types, dtype=np.int64),
        dropped=dropped,
    )


def pad_token_id(tokenizer: Any) -> int:
    """The id padding uses: the pad token, else EOS (decoder-only tokenizers), else 0."""
    for candidate in (tokenizer.pad_token_id, getattr(tokenizer, "eos_token_id", None)):
        if isinstance(candidate, (int, np.integer)):
            return int(candidate)
    return 0


@dataclass(frozen=True)
class TextBatch:
    """Texts padded to one length.

    Attributes:
        texts: the encoded texts, in batch order.
        input_ids, attention_mask: shape (texts, tokens), int64; the mask is 1 on real tokens.
        token_type_ids: shape (texts, tokens), int64, or ``None``.
        position_ids: shape (texts, tokens), int64, counted over real tokens (so a left-padded
            text has the positions it has alone).
        positions: per text, the batch columns of its tokens, shape (tokens_i,).
    """

    texts: tuple[EncodedText, ...]
    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None
    position_ids: np.ndarray
    positions: tuple[np.ndarray, ...]


def pad_batch(texts: Sequence[EncodedText], pad_id: int, side: PaddingSide) -> TextBatch:
    """Pad encoded texts to the longest on ``side`` ("right" for encoders, "left" for decoders)."""
    if side not in ("left", "right"):
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
    if not texts:
        raise ValueError("pad_batch needs at least one text")
    width = max(t.length for t in texts)
    ids = np.full((len(texts), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(texts), width), dtype=np.int64)
    types = None if texts[0].token_type_ids is None else np.zeros_like(ids)
    positions = []
    for row, text in enumerate(texts):
        start = 0 if side == "right" else width - text.length
        columns = np.arange(start, start + text.length)
        ids[row, columns] = text.input_ids
        mask[row, columns] = 1
        if types is not None and text.token_type_ids is not None:
            types[row, columns] = text.token_type_ids
        positions.append(columns)
    position_ids = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    return TextBatch(tuple(texts), ids, mask, types, position_ids, tuple(positions))


@dataclass(frozen=True)
class Word:
    """A word of a text: its characters, its tokens and their summed attribution.

    Attributes:
        text: the word as it appears in the original text.
        start, end: its character span ``[start, end)`` in the original text.
        tokens: the indices of its tokens in the text's token sequence.
        attribution: the sum of its tokens' attributions (signed).
        special: whether this is a special token standing alone ([CLS], [SEP], BOS...).
    """

    text: str
    start: int
    end: int
    tokens: tuple[int, ...]
    attribution: float
    special: bool = False


def _trimmed_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without surrounding whitespace (byte-level BPE offsets include the space)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def words_of(
    encoded: EncodedText, attributions: np.ndarray, tokens: Sequence[str]
) -> tuple[Word, ...]:
    """Merge token attributions into words by the tokenizer's word ids; sums are preserved.

    Tokens without a word id (special tokens) become words of their own, so the words'
    attributions always add up to the tokens'.

    Args:
        encoded: the text as tokenized.
        attributions: shape (tokens,), the signed token attributions.
        tokens: the token strings (for special tokens' display).
    """
    words: list[Word] = []
    index_of: dict[int, int] = {}
    for position, word_id in enumerate(encoded.word_ids.tolist()):
        value = float(attributions[position])
        if word_id < 0:
            words.append(Word(str(tokens[position]), 0, 0, (position,), value, special=True))
            continue
        if word_id in index_of:
            w = words[index_of[word_id]]
            start = min(w.start, int(encoded.offsets[position, 0]))
            end = max(w.end, int(encoded.offsets[position, 1]))
            words[index_of[word_id]] = Word(
                w.text, start, end, (*w.tokens, position), w.attribution + value
            )
            continue
        index_of[word_id] = len(words)
        start, end = (int(v) for v in encoded.offsets[position])
        words.append(Word("", start, end, (position,), value))
    finished = []
    for w in words:
        if w.special:
            finished.append(w)
            continue
        start, end = _trimmed_span(encoded.text, w.start, w.end)
        finished.append(Word(encoded.text[start:end], start, end, w.tokens, w.attribution))
    return _merge_blank_words(finished)


def _merge_blank_words(words: list[Word]) -> tuple[Word, ...]:
    """Fold words of only whitespace (SentencePiece and byte-level BPE make some) into the next
    real word, or the previous one at the end, so no invisible word carries attribution."""
    real = [i for i, w in enumerate(words) if not w.special and w.text]
    blank = [i for i, w in enumerate(words) if not w.special and not w.text]
    if not real or not blank:
        return tuple(words)
    host_of = {i: next((j for j in real if j > i), real[-1]) for i in blank}
    kept = []
    for j, w in enumerate(words):
        if j in host_of:
            continue
        guests = [words[i] for i, host in host_of.items() if host == j]
        if guests:
            tokens = tuple(sorted(t for g in (w, *guests) for t in g.tokens))
            total = w.attribution + sum(g.attribution for g in guests)
            w = Word(w.text, w.start, w.end, tokens, total)
        kept.append(w)
    return tuple(kept)
