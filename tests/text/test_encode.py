"""Tokenising, padding and merging tokens into words: WordPiece, SentencePiece, byte-level BPE."""

from __future__ import annotations

import itertools
import unicodedata
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from intgrad.text.encode import (
    EncodedText,
    TruncationWarning,
    Word,
    encode_text,
    pad_batch,
    pad_token_id,
    words_of,
)
from tests.text.conftest import Family
from tests.text.tokenizers import (
    SENTENCES,
    byte_level_tokenizer,
    sentencepiece_tokenizer,
    token_bytes,
)

SENTENCE = "Unbelievably, the naïve café-owner's film wasn't bad."

ENDS = {
    "wordpiece": ("[CLS]", "[SEP]"),
    "sentencepiece": ("<s>", "</s>"),
    "byte_level": ("<|bos|>", "<|eos|>"),
}
"""The special tokens each family puts first and last."""

# What each pre-tokenizer calls words in SENTENCE: BERT's splits at punctuation, Metaspace only
# at spaces, GPT-2's regex keeps "'s" and "'t" and splits other punctuation off.
SENTENCE_WORDS = {
    "wordpiece": [
        *("Unbelievably", ",", "the", "naïve", "café", "-", "owner", "'", "s"),
        *("film", "wasn", "'", "t", "bad", "."),
    ],
    "sentencepiece": ["Unbelievably,", "the", "naïve", "café-owner's", "film", "wasn't", "bad."],
    "byte_level": [
        *("Unbelievably", ",", "the", "naïve", "café", "-", "owner", "'s"),
        *("film", "wasn", "'t", "bad", "."),
    ],
}

PAD_TEXTS = ("Bad.", "The film was wonderful, and the acting was superb.", "It's 2024: a sequel.")

MAX_TOKENS = 128


def _tokens(tokenizer: Any, encoded: EncodedText) -> list[str]:
    return list(tokenizer.convert_ids_to_tokens(encoded.input_ids.tolist()))


def _words(tokenizer: Any, text: str, attributions: np.ndarray | None = None) -> tuple[Word, ...]:
    encoded = encode_text(text, tokenizer, MAX_TOKENS)
    values = np.ones(encoded.length) if attributions is None else attributions
    return words_of(encoded, values, _tokens(tokenizer, encoded))


def _fold(text: str) -> str:
    """What BERT's normalizer makes of a text: lower case, accents stripped."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _check_surface(family: Family, encoded: EncodedText, index: int) -> None:
    """``text[start:end]`` is what token ``index`` stands for, markers aside."""
    tokenizer, text = family.tokenizer, encoded.text
    start, end = (int(v) for v in encoded.offsets[index])
    piece = text[start:end]
    token = tokenizer.convert_ids_to_tokens(int(encoded.input_ids[index]))
    assert 0 <= start <= end <= len(text), (token, start, end)
    if family.name == "wordpiece":
        assert _fold(piece) == token.removeprefix("##")
    elif family.name == "sentencepiece":
        _check_metaspace(text, start, piece, token)
    else:
        _check_byte_level(tokenizer, text, start, piece, token)


def _check_metaspace(text: str, start: int, piece: str, token: str) -> None:
    if token == "▁" and start == 0 and not piece.isspace():
        return  # the ▁ prepended to the first word: the tokenizer gives it the first character
    surface = token.replace("▁", " ")
    if surface.startswith(" ") and not piece.startswith(" "):
        assert start == 0, "only the text's first word gets a prepended ▁"
        surface = surface[1:]
    assert unicodedata.normalize("NFKC", piece) == surface != ""


def _check_byte_level(tokenizer: Any, text: str, start: int, piece: str, token: str) -> None:
    raw = token_bytes(token).removeprefix(b" ")  # trim_offsets leaves the space out
    decoded = tokenizer.decode([tokenizer.convert_tokens_to_ids(token)])
    if raw == b"":  # a lone "Ġ": an empty span just after its space
        assert piece == "" and text[start - 1] == " "
    elif "\ufffd" in decoded:  # part of a character: its bytes lie inside the span
        assert raw in piece.encode() and raw != piece.encode()
    else:
        assert piece == decoded.removeprefix(" ")
        assert piece.encode() == raw


def test_the_small_tokenizers_are_the_same_every_time(sentencepiece: Any, byte_level: Any) -> None:
    # Unigram training walks hash maps; tests.text.tokenizers makes the result canonical.
    for built, again in (
        (sentencepiece, sentencepiece_tokenizer()),
        (byte_level, byte_level_tokenizer()),
    ):
        assert built.backend_tokenizer.to_str() == again.backend_tokenizer.to_str()
    assert (len(sentencepiece), len(byte_level)) == (300, 400)


# --- encode_text -------------------------------------------------------------------------------


def test_encode_text_matches_the_tokenizer_and_flags_special_tokens(family: Family) -> None:
    tokenizer = family.tokenizer
    encoded = encode_text(SENTENCE, tokenizer, MAX_TOKENS)
    n = encoded.length
    assert encoded.text == SENTENCE
    assert encoded.input_ids.tolist() == tokenizer(SENTENCE)["input_ids"]
    assert encoded.input_ids.dtype == np.int64
    assert (encoded.offsets.shape, encoded.word_ids.shape, encoded.special.shape) == (
        (n, 2),
        (n,),
        (n,),
    )
    tokens = _tokens(tokenizer, encoded)
    assert (tokens[0], tokens[-1]) == ENDS[family.name]
    assert encoded.special.tolist() == [True] + [False] * (n - 2) + [True]
    assert encoded.offsets[encoded.special].tolist() == [[0, 0], [0, 0]]
    assert (encoded.word_ids[encoded.special] == -1).all()
    assert (encoded.word_ids[~encoded.special] >= 0).all()
    assert encoded.dropped == 0
    if family.name == "wordpiece":
        assert encoded.token_type_ids is not None
        assert encoded.token_type_ids.tolist() == [0] * n
    else:
        assert encoded.token_type_ids is None


def test_encode_text_splits_words_into_subword_pieces(family: Family) -> None:
    encoded = encode_text(SENTENCE, family.tokenizer, MAX_TOKENS)
    tokens = _tokens(family.tokenizer, encoded)
    first_word = [t for t, w in zip(tokens, encoded.word_ids.tolist(), strict=True) if w == 0]
    assert len(first_word) >= 3, first_word  # "Unbelievably" is not in any small vocabulary
    assert encoded.length > len(SENTENCE_WORDS[family.name]) + 2


@pytest.mark.parametrize("text", [SENTENCE, *SENTENCES])
def test_offsets_index_each_tokens_surface_in_the_text(family: Family, text: str) -> None:
    encoded = encode_text(text, family.tokenizer, MAX_TOKENS)
    for index in np.flatnonzero(~encoded.special):
        _check_surface(family, encoded, int(index))
    starts = encoded.offsets[~encoded.special, 0]
    assert (np.diff(starts) >= 0).all(), "tokens come in text order"


@pytest.mark.parametrize("text", ["", " ", "\n\t  "])
def test_encode_text_rejects_empty_text(family: Family, text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        encode_text(text, family.tokenizer, MAX_TOKENS)


@pytest.mark.parametrize("value", [None, b"a film", 3, ["a film"]])
def test_encode_text_rejects_non_strings(family: Family, value: Any) -> None:
    with pytest.raises(TypeError, match=f"strings, got {type(value).__name__}"):
        encode_text(value, family.tokenizer, MAX_TOKENS)


@pytest.mark.parametrize("max_tokens", [5, 16, 40])
def test_encode_text_truncates_to_max_tokens_with_a_warning(
    family: Family, max_tokens: int
) -> None:
    text = " ".join(SENTENCES[:4])
    full = family.tokenizer(text)["input_ids"]
    assert len(full) > 40
    with pytest.warns(TruncationWarning, match=f"has {len(full)} tokens") as record:
        encoded = encode_text(text, family.tokenizer, max_tokens)
    assert len(record) == 1
    assert f"last {len(full) - max_tokens} tokens" in str(record[0].message)
    assert encoded.length == max_tokens
    assert encoded.dropped == len(full) - max_tokens
    # The text's first tokens survive and the closing special token is kept.
    assert encoded.input_ids.tolist() == [*full[: max_tokens - 1], full[-1]]
    assert encoded.special.tolist() == [True] + [False] * (max_tokens - 2) + [True]
    assert encoded.offsets.shape == (max_tokens, 2)
    assert encoded.word_ids.shape == (max_tokens,)


@pytest.mark.parametrize("spare", [0, 1, 100])
def test_encode_text_does_not_warn_when_the_text_fits(family: Family, spare: int) -> None:
    full = family.tokenizer(SENTENCE)["input_ids"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        encoded = encode_text(SENTENCE, family.tokenizer, len(full) + spare)
    assert encoded.dropped == 0
    assert encoded.input_ids.tolist() == full


# --- words_of ----------------------------------------------------------------------------------


def test_words_are_the_pre_tokenizers_words(family: Family) -> None:
    words = _words(family.tokenizer, SENTENCE)
    assert [w.text for w in words if not w.special] == SENTENCE_WORDS[family.name]
    # The same words the tokenizer's own pre-tokenizer finds (spaces trimmed off its spans).
    backend = family.tokenizer.backend_tokenizer
    normalized = (
        SENTENCE if backend.normalizer is None else backend.normalizer.normalize_str(SENTENCE)
    )
    assert len(normalized) == len(SENTENCE)  # so its offsets index SENTENCE too
    pre = backend.pre_tokenizer.pre_tokenize_str(normalized)
    assert [SENTENCE[a:b].strip() for _, (a, b) in pre] == SENTENCE_WORDS[family.name]


@pytest.mark.parametrize("text", [SENTENCE, *SENTENCES[::7]])
def test_words_partition_the_tokens_in_text_order(
    family: Family, text: str, rng: np.random.Generator
) -> None:
    tokenizer = family.tokenizer
    encoded = encode_text(text, tokenizer, MAX_TOKENS)
    attributions = rng.normal(size=encoded.length)
    words = words_of(encoded, attributions, _tokens(tokenizer, encoded))
    assert sum(w.attribution for w in words) == pytest.approx(attributions.sum(), abs=1e-12)
    owned = sorted(i for w in words for i in w.tokens)
    assert owned == list(range(encoded.length)), "every token belongs to exactly one word"
    plain = [w for w in words if not w.special]
    for w in plain:
        assert w.text == text[w.start : w.end] == w.text.strip() != ""
        assert w.attribution == pytest.approx(attributions[list(w.tokens)].sum(), abs=1e-12)
        assert len({int(encoded.word_ids[i]) for i in w.tokens}) == 1
        assert not encoded.special[list(w.tokens)].any()
        spans = encoded.offsets[list(w.tokens)]
        assert spans[:, 0].min() <= w.start < w.end <= spans[:, 1].max()
    assert all(a.end <= b.start for a, b in itertools.pairwise(plain)), "text order"
    assert [w.tokens for w in plain] == sorted(w.tokens for w in plain)


def test_special_tokens_are_words_of_their_own(family: Family, rng: np.random.Generator) -> None:
    encoded = encode_text(SENTENCE, family.tokenizer, MAX_TOKENS)
    attributions = rng.normal(size=encoded.length)
    words = words_of(encoded, attributions, _tokens(family.tokenizer, encoded))
    first, last = words[0], words[-1]
    assert (first.text, last.text) == ENDS[family.name]
    assert (first.tokens, last.tokens) == ((0,), (encoded.length - 1,))
    assert first.special and last.special
    assert (first.start, first.end, last.start, last.end) == (0, 0, 0, 0)
    assert (first.attribution, last.attribution) == (attributions[0], attributions[-1])
    assert sum(w.special for w in words) == 2


def test_every_family_has_multi_token_words(family: Family) -> None:
    words = [w for w in _words(family.tokenizer, SENTENCE) if not w.special]
    assert words[0].text.startswith("Unbelievably") and len(words[0].tokens) >= 3
    assert max(len(w.tokens) for w in words) >= 2
    pieces_per_word = [
        len(w.tokens) for s in SENTENCES for w in _words(family.tokenizer, s) if not w.special
    ]
    # MiniLM's 30,522 pieces hold most of these words whole; a few hundred hold few.
    minimum = 0.0 if family.name == "wordpiece" else 0.3
    assert np.mean(np.array(pieces_per_word) >= 2) > minimum


def test_byte_level_word_spans_exclude_the_leading_space(
    byte_level: Any, byte_level_untrimmed: Any
) -> None:
    untrimmed = encode_text(SENTENCE, byte_level_untrimmed, MAX_TOKENS)
    trimmed = encode_text(SENTENCE, byte_level, MAX_TOKENS)
    assert untrimmed.input_ids.tolist() == trimmed.input_ids.tolist()
    the = _tokens(byte_level, trimmed).index("Ġthe")
    assert SENTENCE[slice(*untrimmed.offsets[the])] == " the"  # the raw span has the space
    assert SENTENCE[slice(*trimmed.offsets[the])] == "the"
    words = {
        name: [(w.text, w.start, w.end, w.tokens) for w in _words(tokenizer, SENTENCE)]
        for name, tokenizer in (("trimmed", byte_level), ("untrimmed", byte_level_untrimmed))
    }
    assert words["untrimmed"] == words["trimmed"]
    assert ("the", 14, 17, (the,)) in words["trimmed"]
    assert all(not SENTENCE[start].isspace() for _, start, end, _ in words["trimmed"] if end)


# --- pad_batch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_batch_pads_and_maps_tokens_back(family: Family, side: str) -> None:
    encoded = [encode_text(t, family.tokenizer, MAX_TOKENS) for t in PAD_TEXTS]
    lengths = [e.length for e in encoded]
    width = max(lengths)
    pad = pad_token_id(family.tokenizer)
    batch = pad_batch(encoded, pad, side)
    assert batch.texts == tuple(encoded)
    assert batch.input_ids.shape == batch.attention_mask.shape == (len(PAD_TEXTS), width)
    assert batch.position_ids.shape == (len(PAD_TEXTS), width)
    assert batch.attention_mask.sum(axis=1).tolist() == lengths
    for row, (text, columns) in enumerate(zip(encoded, batch.positions, strict=True)):
        start = 0 if side == "right" else width - text.length
        assert columns.tolist() == list(range(start, start + text.length))
        padded = np.setdiff1d(np.arange(width), columns)
        assert (batch.input_ids[row, padded] == pad).all()
        assert (batch.attention_mask[row, padded] == 0).all()
        assert (batch.attention_mask[row, columns] == 1).all()
        assert batch.input_ids[row, columns].tolist() == text.input_ids.tolist()
        real = batch.input_ids[row][batch.attention_mask[row] == 1]
        assert real.tolist() == text.input_ids.tolist()
        # Positions count real tokens only: a left-padded text starts at 0 as it does alone.
        assert batch.position_ids[row, columns].tolist() == list(range(text.length))
    if family.name == "wordpiece":
        assert batch.token_type_ids is not None
        assert batch.token_type_ids.shape == (len(PAD_TEXTS), width)
        assert (batch.token_type_ids == 0).all()
    else:
        assert batch.token_type_ids is None


def _synthetic(ids: list[int], types: list[int]) -> EncodedText:
    n = len(ids)
    return EncodedText(
        text="x",
        input_ids=np.array(ids, dtype=np.int64),
        special=np.zeros(n, dtype=bool),
        offsets=np.zeros((n, 2), dtype=np.int64),
        word_ids=np.arange(n, dtype=np.int64),
        token_type_ids=np.array(types, dtype=np.int64),
    )


@pytest.mark.parametrize(
    ("side", "ids", "types"),
    [
        ("right", [[5, 6, 7, 8], [9, 10, -1, -1]], [[0, 0, 1, 1], [0, 1, 0, 0]]),
        ("left", [[5, 6, 7, 8], [-1, -1, 9, 10]], [[0, 0, 1, 1], [0, 0, 0, 1]]),
    ],
)
def test_pad_batch_copies_token_types_and_counts_positions(
    side: str, ids: list[list[int]], types: list[list[int]]
) -> None:
    texts = [_synthetic([5, 6, 7, 8], [0, 0, 1, 1]), _synthetic([9, 10], [0, 1])]
    batch = pad_batch(texts, -1, side)
    assert batch.input_ids.tolist() == ids
    assert batch.token_type_ids is not None
    assert batch.token_type_ids.tolist() == types
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1], [int(i != -1) for i in ids[1]]]
    assert batch.position_ids[0].tolist() == [0, 1, 2, 3]
    real = batch.positions[1]
    assert real.tolist() == ([0, 1] if side == "right" else [2, 3])
    assert batch.position_ids[1, real].tolist() == [0, 1]


@pytest.mark.parametrize("side", ["center", "Left", "", None])
def test_pad_batch_rejects_an_unknown_side(sentencepiece: Any, side: Any) -> None:
    encoded = [encode_text(SENTENCE, sentencepiece, MAX_TOKENS)]
    with pytest.raises(ValueError, match="padding side must be 'left' or 'right'"):
        pad_batch(encoded, 0, side)


# --- pad_token_id ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pad"),
    [("wordpiece", "[PAD]"), ("sentencepiece", "<pad>"), ("byte_level", "<|pad|>")],
)
def test_pad_token_id_is_the_pad_token(request: pytest.FixtureRequest, name: str, pad: str) -> None:
    tokenizer = request.getfixturevalue(name)
    expected = tokenizer.convert_tokens_to_ids(pad)
    assert pad_token_id(tokenizer) == expected == tokenizer.pad_token_id
    assert expected != tokenizer.convert_tokens_to_ids(ENDS[name][1])  # not the EOS fallback


def test_pad_token_id_falls_back_to_eos(byte_level_no_pad: Any) -> None:
    assert byte_level_no_pad.pad_token_id is None
    eos = byte_level_no_pad.convert_tokens_to_ids("<|eos|>")
    assert pad_token_id(byte_level_no_pad) == eos == byte_level_no_pad.eos_token_id


def test_pad_token_id_without_pad_or_eos_is_zero() -> None:
    assert pad_token_id(SimpleNamespace(pad_token_id=None)) == 0
    assert pad_token_id(SimpleNamespace(pad_token_id=None, eos_token_id=None)) == 0
    numpy_pad = pad_token_id(SimpleNamespace(pad_token_id=np.int64(7), eos_token_id=2))
    assert numpy_pad == 7 and type(numpy_pad) is int
