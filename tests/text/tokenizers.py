"""Small offline tokenizers of the two families MiniLM's WordPiece does not cover.

Both are trained in memory, in well under a second, on the fixed sentences below, with
vocabularies of a few hundred so that most words split into several pieces:

- ``sentencepiece_tokenizer``: a Unigram model with the ``Metaspace`` pre-tokenizer and decoder
  (SentencePiece's "▁" word boundary, as in T5, ALBERT, XLM-R, Llama), ``<s>``/``</s>`` added by
  a template, ``<pad>`` and ``<unk>``.
- ``byte_level_tokenizer``: a byte-level BPE (GPT-2, RoBERTa) with ``ByteLevel`` pre-tokenizer,
  decoder and post-processor (``trim_offsets=True``), BOS/EOS added by a template, and a pad
  token unless ``pad=False`` (GPT-2 itself has none).

Training is deterministic: one thread, fixed sentences, no sampling.
"""

from __future__ import annotations

import json
from typing import Any

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

__all__ = ["SENTENCES", "byte_level_tokenizer", "sentencepiece_tokenizer", "token_bytes"]

SENTENCES: tuple[str, ...] = (
    "The film was wonderful, and the acting was superb.",
    "I didn't like the ending; it felt rushed and unbelievable.",
    "What a naïve, charming little café on the corner!",
    "She's the café-owner's daughter, and she isn't shy.",
    "We paid 12 euros for 2 coffees and 3 croissants.",
    "Honestly, the plot wasn't bad, but the dialogue was awful.",
    "It's 2024: the sequel arrives on 15 March at 9:30 pm.",
    "They're going to the cinema tonight, aren't they?",
    "Unbelievably, the soundtrack outshines the story.",
    "The director's vision is bold, strange and beautiful.",
    "A crème brûlée and a café au lait, s'il vous plaît.",
    "Résumé: actor, writer, producer and occasional critic.",
    "I can't believe it's not butter, said nobody ever.",
    "The actors were good; the screenplay, however, was not.",
    "You'll laugh, you'll cry, and you'll want your money back.",
    "In 1999, the film earned $45 million in its first week.",
    "Wasn't the first half slow? Yes, painfully slow.",
    'He said, "This is the best film I\'ve seen in years."',
    "The naïve hero meets a cynical, world-weary detective.",
    "Her performance is breathtaking - truly unforgettable.",
    "The cinematography is gorgeous, the music forgettable.",
    "Our rating: 4.5 out of 5 stars (and worth every penny).",
    "We'd watch it again, though maybe not on a Monday.",
    "The café's owner recommended the film to everyone.",
    "Nothing happens for ninety minutes, then everything does.",
    "It isn't perfect, but it's honest and often funny.",
    "The villain's motives are unclear and unconvincing.",
    "A charming, heartfelt story about friendship and loss.",
    "Don't waste your time: the reviews were right.",
    "The 3D effects looked cheap; the 2D version is better.",
    "Children and adults alike will enjoy this adventure.",
    "Zoë and Chloé wrote the screenplay in 6 weeks.",
    "It's an overlong, overwrought and overrated drama.",
    "The jokes land, mostly; the romance doesn't.",
    "I wouldn't recommend it to anyone over 12.",
    "Surprisingly moving, with a wonderfully naïve lead.",
    "The ending was predictable, yet strangely satisfying.",
    "Everything about this film feels fresh and alive.",
    "The sound mixing was terrible; we couldn't hear the lines.",
    "Two hours and 40 minutes is far too long for this.",
    "The critics loved it, but the audience didn't.",
    "A déjà vu of every thriller you've already seen.",
    "Bad acting, bad writing, bad everything.",
    "Beautifully shot, badly written, and barely watchable.",
    "What's the point? There isn't one, sadly.",
    "The owner of the café wasn't impressed by the film.",
    "My favourite scene is the one at the train station.",
    "Believe the hype: it's the year's best film.",
    "Unforgettable, unpredictable and utterly unbelievable.",
    "The 100th screening sold out in 10 minutes!",
)
"""The training text: film reviews with punctuation, contractions, accents and numbers."""


def _wrap(tokenizer: Tokenizer, **special: str) -> Any:
    # Without token type ids, like GPT-2, RoBERTa-style and T5 tokenizers.
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        model_input_names=["input_ids", "attention_mask"],
        **special,
    )


def _template(bos: str, eos: str, tokenizer: Tokenizer) -> processors.TemplateProcessing:
    ids = [(bos, tokenizer.token_to_id(bos)), (eos, tokenizer.token_to_id(eos))]
    return processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}", special_tokens=ids
    )


def sentencepiece_tokenizer(vocab_size: int = 300) -> Any:
    """A Unigram tokenizer with SentencePiece's "▁", and ``<s>``, ``</s>``, ``<pad>``, ``<unk>``."""
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        unk_token="<unk>",
        show_progress=False,
        max_piece_length=8,
    )
    tokenizer.train_from_iterator(SENTENCES, trainer=trainer)
    tokenizer.model = _canonical_unigram(tokenizer, specials)
    tokenizer.post_processor = _template("<s>", "</s>", tokenizer)
    return _wrap(tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")


def _canonical_unigram(tokenizer: Tokenizer, specials: list[str]) -> models.Unigram:
    """The trained model made the same in every process.

    The trainer walks hash maps: the characters it adds to cover the alphabet get scores
    ``floor − 1e-4·i`` in an order that changes from run to run, and the learned scores differ
    in their last bits. So: one score for those characters, learned scores rounded, and the
    pieces sorted, which fixes their ids too.
    """
    trained = json.loads(tokenizer.to_str())["model"]["vocab"]
    pieces = [(piece, score) for piece, score in trained if piece not in specials]
    floor = min(score for piece, score in pieces if len(piece) > 1)
    scored = [(p, round(s, 8) if s >= floor else round(floor, 8) - 1.0) for p, s in pieces]
    vocab = [(piece, 0.0) for piece in specials] + sorted(scored, key=lambda ps: (-ps[1], ps[0]))
    return models.Unigram(vocab, unk_id=specials.index("<unk>"), byte_fallback=False)


def byte_level_tokenizer(vocab_size: int = 400, pad: bool = True, trim_offsets: bool = True) -> Any:
    """A GPT-2-style byte-level BPE with ``<|bos|>``/``<|eos|>`` and, if ``pad``, ``<|pad|>``.

    Args:
        trim_offsets: whether offsets leave out the space a "Ġ" token starts with.
    """
    specials = ["<|pad|>", "<|bos|>", "<|eos|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(SENTENCES, trainer=trainer)
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=trim_offsets),
            _template("<|bos|>", "<|eos|>", tokenizer),
        ]
    )
    special = {"bos_token": "<|bos|>", "eos_token": "<|eos|>"}
    if pad:
        special["pad_token"] = "<|pad|>"
    return _wrap(tokenizer, **special)


def _byte_alphabet() -> dict[str, int]:
    # GPT-2's table: printable bytes stand for themselves, the others for 256 + n, in order.
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + n): b for n, b in enumerate(others)})
    return table


_BYTES_OF = _byte_alphabet()


def token_bytes(token: str) -> bytes:
    """The UTF-8 bytes a byte-level BPE token string stands for ("Ġthe" → b" the")."""
    return bytes(_BYTES_OF[c] for c in token)
