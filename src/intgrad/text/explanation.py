"""The explanation of one text: tokens, words, their attributions and the completeness check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad import Attribution
from intgrad.io import json_first
from intgrad.text.encode import Word

__all__ = ["TextExplanation"]


@dataclass(frozen=True)
class TextExplanation:
    """Integrated Gradients of one text's target output, per token and per word.

    The stored attributions are the raw signed sums over the embedding dimension: they add up
    to ``f_input − f_baseline`` up to ``delta``; views normalise for display only.

    Attributes:
        text: the original text.
        tokens: the token strings, special tokens included, shape (tokens,).
        token_ids: shape (tokens,), int64, the input ids.
        baseline_ids: shape (tokens,), int64, the baseline's ids (equal to ``token_ids`` where
            the baseline keeps a token; the ``zero`` baseline has no ids and repeats the input's).
        offsets: shape (tokens, 2), int64, each token's character span in ``text`` (``(0, 0)``
            for special tokens).
        special: shape (tokens,), bool, the special tokens ([CLS], [SEP], BOS, ...).
        attributions: shape (tokens,), float64, signed token attributions.
        embedding_attributions: shape (tokens, width), float32, the attributions of each
            embedding coordinate (their sums over ``width`` are ``attributions``).
        words: the words, each with its tokens and summed attribution; special tokens are
            words of their own, so the words add up to the same total.
        labels: the model's class names by index.
        probabilities: shape (classes,), float64, the model's softmax probabilities for ``text``.
        target: the explained class index; ``target_label`` its name.
        output: ``"probability"`` or ``"logit"``: what F is.
        baseline: the baseline policy's description.
        layer: which embedding the path runs through (``"word"`` or ``"block"``).
        model: the model's display name.
        dropped_tokens: tokens truncation removed from the end of the text.
        result: this text's :class:`~intgrad.Attribution` (delta, steps, path, ...).
        seconds: wall-clock time of the attribution call this text was in, in seconds.
    """

    text: str
    tokens: tuple[str, ...]
    token_ids: np.ndarray
    baseline_ids: np.ndarray
    offsets: np.ndarray
    special: np.ndarray
    attributions: np.ndarray
    embedding_attributions: np.ndarray
    words: tuple[Word, ...]
    labels: tuple[str, ...]
    probabilities: np.ndarray
    target: int
    output: str
    baseline: str
    layer: str
    model: str
    dropped_tokens: int
    result: Attribution
    seconds: float

    @property
    def target_label(self) -> str:
        return self.labels[self.target] if self.target < len(self.labels) else str(self.target)

    @property
    def predicted(self) -> int:
        """The most probable class."""
        return int(np.argmax(self.probabilities))

    @property
    def predicted_label(self) -> str:
        index = self.predicted
        return self.labels[index] if index < len(self.labels) else str(index)

    @property
    def word_attributions(self) -> np.ndarray:
        """Shape (words,), float64, the words' summed attributions."""
        return np.array([w.attribution for w in self.words], dtype=np.float64)

    @property
    def f_input(self) -> float:
        """F(x): the target's probability or logit at the text."""
        return _scalar(self.result.f_input)

    @property
    def f_baseline(self) -> float:
        """F(x′): the target's probability or logit at the baseline."""
        return _scalar(self.result.f_baseline)

    @property
    def delta(self) -> float:
        """The completeness gap ``sum(attributions) − (F(x) − F(x′))``."""
        return _scalar(self.result.delta)

    @property
    def steps(self) -> int:
        return int(self.result.steps)

    def summary(self) -> dict[str, Any]:
        """Every number of this explanation as JSON-ready Python values.

        The shared fields have the image command's names (``f_input``, ``f_baseline``,
        ``attribution_sum``, ``delta``, ``relative_delta``, ``steps``, ``method``,
        ``baseline``, ``seconds``, ``model``, ``target``, ``target_label``).
        """
        result = self.result
        return {
            "text": self.text,
            "model": self.model,
            "prediction": {
                "label": self.predicted_label,
                "index": self.predicted,
                "probability": float(self.probabilities[self.predicted]),
            },
            "probabilities": {
                (self.labels[i] if i < len(self.labels) else str(i)): float(p)
                for i, p in enumerate(self.probabilities)
            },
            "target": self.target,
            "target_label": self.target_label,
            "output": self.output,
            "f_input": json_first(result.f_input),
            "f_baseline": json_first(result.f_baseline),
            "attribution_sum": float(np.sum(self.attributions)),
            "delta": json_first(result.delta),
            "relative_delta": json_first(result.relative_delta),
            "steps": int(result.steps),
            "method": result.method,
            "baseline": self.baseline,
            "layer": self.layer,
            "dropped_tokens": self.dropped_tokens,
            "seconds": round(self.seconds, 4),
            "tokens": [
                {
                    "token": token,
                    "id": int(self.token_ids[i]),
                    "start": int(self.offsets[i, 0]),
                    "end": int(self.offsets[i, 1]),
                    "special": bool(self.special[i]),
                    "attribution": float(self.attributions[i]),
                }
                for i, token in enumerate(self.tokens)
            ],
            "words": [
                {
                    "word": w.text,
                    "start": w.start,
                    "end": w.end,
                    "tokens": list(w.tokens),
                    "special": w.special,
                    "attribution": w.attribution,
                }
                for w in self.words
            ],
        }

    def to_html(self, *, level: str = "both") -> str:
        """A self-contained HTML page (see :func:`intgrad.viz.text.text_html`)."""
        from intgrad.viz.text import text_html

        return text_html([self], level=level)

    def _repr_html_(self) -> str:
        """The view inline in Jupyter: an HTML fragment with its own scoped styles."""
        from intgrad.viz.text import text_html_fragment

        return text_html_fragment([self])

    def to_terminal(self, *, color: bool | None = None, level: str = "words") -> str:
        """A terminal view, coloured where supported (see :func:`intgrad.viz.text_terminal`)."""
        from intgrad.viz.text import text_terminal

        return text_terminal(self, color=color, level=level)


def _scalar(values: np.ndarray | None) -> float:
    return float("nan") if values is None else float(values[0])
