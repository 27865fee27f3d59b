"""The Text view's result: the explanation of one text as a page fragment, a page and JSON.

Everything is computed once, in the job's worker thread, by :func:`text_result`. The numbers
are the library's own (:class:`intgrad.text.TextExplanation`); the page shows them rounded and
carries each one at full precision in a ``data-value`` attribute (and in the hover text of the
coloured words and tokens), so what a reader or a test reads back is exactly what was computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from intgrad.app.pages import esc, standalone
from intgrad.text import TextExplanation
from intgrad.viz import text_html_fragment

__all__ = ["TextResult", "TextSettings", "baseline_description", "result_title", "text_result"]

POSITIVE_RGB = "22, 163, 74"
NEGATIVE_RGB = "220, 38, 38"

_STYLE = """
.tv-bar { display: inline-block; height: 0.7em; border-radius: 2px; vertical-align: middle; }
.tv-cell { min-width: 7rem; }
table.numbers td.tv-token { font-family: ui-monospace, monospace; text-align: left; }
.tv-special { color: var(--muted); }
"""


@dataclass(frozen=True)
class TextSettings:
    """What the person asked for (the form's fields, checked).

    Attributes:
        text: the text explained (stripped of leading and trailing whitespace).
        model: the served model's name.
        target: ``"predicted"`` or a class label of the model.
        baseline: the baseline policy: ``pad``, ``unk``, ``mask``, ``zero``,
            ``token:<token>`` or ``text:<text>``.
        steps: ``"auto"`` or a count of gradient evaluations.
        tolerance: the relative completeness gap ``"auto"`` must reach.
        max_steps: the most evaluations ``"auto"`` may use.
        level: what the coloured view shows: ``"words"``, ``"tokens"`` or ``"both"``.
    """

    text: str
    model: str
    target: str
    baseline: str
    steps: int | str
    tolerance: float
    max_steps: int
    level: str

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        return {
            "text": self.text,
            "model": self.model,
            "target": self.target,
            "baseline": self.baseline,
            "steps": self.steps,
            "tolerance": self.tolerance,
            "max_steps": self.max_steps,
            "level": self.level,
        }

    def form_link(self) -> str:
        """The Text form's address, prefilled with these settings (not yet escaped)."""
        custom = self.baseline.startswith(("token:", "text:"))
        query = {
            "text": self.text,
            "model": self.model,
            "target": self.target,
            "baseline": "custom" if custom else self.baseline,
            "baseline_custom": self.baseline if custom else "",
            "steps": str(self.steps),
            "tolerance": repr(self.tolerance),
            "level": self.level,
        }
        return "/text?" + urlencode(query)


@dataclass
class TextResult:
    """A finished Text job (see :class:`intgrad.app.jobs.ViewResult`).

    Attributes:
        title: the job's title.
        body: the result's HTML, shared by the job page and the HTML export.
        numbers: the JSON export.
        form_link: the form prefilled with the same settings (for "explain again").
    """

    title: str
    body: str
    numbers: dict[str, Any]
    form_link: str
    _pictures: dict[str, bytes] = field(default_factory=dict)

    def html(self, job_id: str) -> str:
        """The result inside the job's page, with a link back to the prefilled form."""
        again = (
            f'<p><a href="{esc(self.form_link)}" data-testid="explain-again">'
            "Explain again with other settings</a></p>"
        )
        return self.body + again

    def export_html(self) -> str:
        """A self-contained page of the same result (no script, no external resource)."""
        return standalone(self.title, f"<h1>{esc(self.title)}</h1>{self.body}")

    def export_json(self) -> dict[str, Any]:
        """Tokens, words, their attributions, probabilities, delta, and the settings."""
        return self.numbers

    def pictures(self) -> dict[str, bytes]:
        """No pictures: the coloured text is HTML."""
        return dict(self._pictures)


def baseline_description(policy: str, tokenizer: Any, special: list[str]) -> str:
    """What the baseline x′ is, in words.

    Args:
        policy: the explanation's baseline policy name (``TextExplanation.baseline``).
        tokenizer: the model's tokenizer (for the names of its padding, unknown and mask tokens).
        special: the special tokens of the text ([CLS], [SEP]...), kept in the baseline.
    """
    names = {
        "pad": f"the padding token {getattr(tokenizer, 'pad_token', None)}",
        "unk": f"the unknown-word token {getattr(tokenizer, 'unk_token', None)}",
        "mask": f"the mask token {getattr(tokenizer, 'mask_token', None)}",
    }
    if policy in names:
        start = f"every explained token replaced by {names[policy]}"
    elif policy == "zero":
        start = "zero word embeddings at every explained token (positions and token types stay)"
    elif policy.startswith("token:"):
        start = f"every explained token replaced by the token {policy[6:]!r}"
    else:
        start = f"the tokens of the text {policy[5:]!r}, one for each explained token"
    kept = ", ".join(dict.fromkeys(special))
    if kept:
        start += f"; {kept} stay as they are, so they get exactly 0"
    return start


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those become ``None`` (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _number(value: float | None, testid: str, digits: str = ".6g") -> str:
    """A rounded number with its exact value in ``data-value`` and the hover text."""
    if value is None or not math.isfinite(value):
        shown, exact = "–" if value is None else str(value), "" if value is None else repr(value)
        return f'<span data-testid="{testid}" data-value="{esc(exact)}">{esc(shown)}</span>'
    return (
        f'<span data-testid="{testid}" data-value="{value!r}" title="{value!r}">'
        f"{esc(format(value, digits))}</span>"
    )


def _bar(value: float, largest: float) -> str:
    """A signed bar: green when the item raises the target, red when it lowers it."""
    width = 0.0 if largest == 0 or not math.isfinite(value) else abs(value) / largest * 4.0
    colour = NEGATIVE_RGB if value < 0 else POSITIVE_RGB
    return f'<span class="tv-bar" style="width: {width:.3f}rem; background: rgb({colour})"></span>'


def _probabilities_table(explanation: TextExplanation) -> str:
    rows = []
    for index, probability in enumerate(explanation.probabilities):
        label = explanation.labels[index] if index < len(explanation.labels) else str(index)
        roles = [
            role
            for role, chosen in (
                ("predicted", index == explanation.predicted),
                ("explained", index == explanation.target),
            )
            if chosen
        ]
        mark = f" ({', '.join(roles)})" if roles else ""
        rows.append(
            f"<tr><td>{esc(label)}{esc(mark)}</td><td>"
            f'<span data-testid="probability" data-label="{esc(label)}" '
            f'data-value="{float(probability)!r}" title="{float(probability)!r}">'
            f"{float(probability):.4f}</span></td></tr>"
        )
    return (
        '<table class="numbers" data-testid="probabilities">'
        f"<tr><th>class</th><th>probability</th></tr>{''.join(rows)}</table>"
    )


def _completeness_table(explanation: TextExplanation, description: str, tolerance: float) -> str:
    relative = explanation.result.relative_delta
    relative_value = None if relative is None else float(relative[0])
    verdict = ""
    if relative_value is not None and math.isfinite(relative_value):
        good = relative_value <= tolerance
        verdict = (
            f' <span class="{"good" if good else "bad"}">'
            f"({'within' if good else 'above'} the tolerance {tolerance:g})</span>"
        )
    rows = [
        ("explained class", esc(explanation.target_label) + f" (index {explanation.target})"),
        ("F", esc(f"the {explanation.output} of the explained class")),
        ("F(x): the text", _number(explanation.f_input, "f-input")),
        ("F(x′): the baseline", _number(explanation.f_baseline, "f-baseline")),
        ("Σ attributions", _number(float(explanation.attributions.sum()), "attribution-sum")),
        ("Δ = Σ attributions − (F(x) − F(x′))", _number(explanation.delta, "delta", "+.3g")),
        (
            "relative Δ = |Δ| / |F(x) − F(x′)|",
            _number(relative_value, "relative-delta", ".3g") + verdict,
        ),
        (
            "steps used",
            f'<span data-testid="steps" data-value="{explanation.steps}">'
            f"{explanation.steps}</span> ({esc(explanation.result.method)})",
        ),
        (
            "baseline x′",
            f'<span data-testid="baseline">{esc(explanation.baseline)}</span>: {esc(description)}',
        ),
        ("model", esc(explanation.model)),
        ("time", esc(f"{explanation.seconds:.3g} s")),
    ]
    cells = "".join(f"<tr><td>{esc(name)}</td><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="numbers" data-testid="completeness">{cells}</table>'


def _token_table(explanation: TextExplanation, baseline_tokens: list[str]) -> str:
    values = [float(value) for value in explanation.attributions]
    largest = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    rows = []
    for index, (token, value) in enumerate(zip(explanation.tokens, values, strict=True)):
        muted = ' class="tv-special"' if explanation.special[index] else ""
        rows.append(
            f'<tr data-testid="token-score" data-index="{index}" data-token="{esc(token)}" '
            f'data-value="{value!r}"{muted}>'
            f'<td>{index}</td><td class="tv-token">{esc(token)}</td>'
            f'<td class="tv-token">{esc(baseline_tokens[index])}</td>'
            f'<td class="tv-cell" title="{value!r}">{esc(format(value, "+.4g"))} '
            f"{_bar(value, largest)}</td></tr>"
        )
    return (
        '<table class="numbers" data-testid="token-table"><tr><th>#</th><th>token</th>'
        f"<th>baseline token</th><th>attribution</th></tr>{''.join(rows)}</table>"
    )


def _word_table(explanation: TextExplanation) -> str:
    values = [float(word.attribution) for word in explanation.words]
    largest = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    rows = []
    for index, (word, value) in enumerate(zip(explanation.words, values, strict=True)):
        tokens = " ".join(explanation.tokens[i] for i in word.tokens)
        muted = ' class="tv-special"' if word.special else ""
        rows.append(
            f'<tr data-testid="word-score" data-index="{index}" data-word="{esc(word.text)}" '
            f'data-value="{value!r}"{muted}>'
            f'<td>{esc(word.text)}</td><td class="tv-token">{esc(tokens)}</td>'
            f'<td class="tv-cell" title="{value!r}">{esc(format(value, "+.4g"))} '
            f"{_bar(value, largest)}</td></tr>"
        )
    return (
        '<table class="numbers" data-testid="word-table"><tr><th>word</th><th>tokens</th>'
        f"<th>attribution</th></tr>{''.join(rows)}</table>"
    )


def _baseline_tokens(explanation: TextExplanation, tokenizer: Any) -> list[str]:
    """The baseline's token at each position (``0⃗``: a zero word embedding)."""
    ids = [int(token_id) for token_id in explanation.baseline_ids]
    tokens = [str(token) for token in tokenizer.convert_ids_to_tokens(ids)]
    if explanation.baseline == "zero":
        return [
            t if s else "0 (zero vector)" for t, s in zip(tokens, explanation.special, strict=True)
        ]
    return tokens


def _body(
    explanation: TextExplanation,
    settings: TextSettings,
    description: str,
    baseline_tokens: list[str],
) -> str:
    truncated = ""
    if explanation.dropped_tokens:
        truncated = (
            f'<div class="error" role="alert" data-testid="truncated">The text is longer than '
            f"the model takes: its last {explanation.dropped_tokens} tokens are not explained."
            "</div>"
        )
    return (
        f"<style>{_STYLE}</style>{truncated}"
        '<div class="pair">'
        f'<div class="card"><h2>Prediction</h2>{_probabilities_table(explanation)}</div>'
        f'<div class="card"><h2>Completeness</h2>'
        f"{_completeness_table(explanation, description, settings.tolerance)}</div></div>"
        f'<div class="card" data-testid="text-view">'
        f"{text_html_fragment([explanation], level=settings.level)}</div>"
        '<div class="pair">'
        f'<div class="card"><h2>Tokens</h2>{_token_table(explanation, baseline_tokens)}</div>'
        f'<div class="card"><h2>Words</h2>{_word_table(explanation)}</div></div>'
    )


def result_title(text: str, limit: int = 60) -> str:
    """The job's title: the text on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return f"Text: “{flat if len(flat) <= limit else flat[: limit - 1] + '…'}”"


def text_result(explanation: TextExplanation, tokenizer: Any, settings: TextSettings) -> TextResult:
    """Render one explanation, once.

    Args:
        explanation: the library's explanation of ``settings.text``.
        tokenizer: the model's tokenizer (names the baseline's tokens).
        settings: what was asked for.
    """
    special = [t for t, s in zip(explanation.tokens, explanation.special, strict=True) if s]
    description = baseline_description(explanation.baseline, tokenizer, special)
    baseline_tokens = _baseline_tokens(explanation, tokenizer)
    numbers = explanation.summary()
    numbers["baseline_description"] = description
    numbers["baseline_tokens"] = baseline_tokens
    numbers["settings"] = settings.as_json()
    return TextResult(
        title=result_title(explanation.text),
        body=_body(explanation, settings, description, baseline_tokens),
        numbers=_finite(numbers),
        form_link=settings.form_link(),
    )
