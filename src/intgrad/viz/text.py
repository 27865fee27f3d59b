"""Explained texts as HTML (a page, or a fragment for Jupyter) and as coloured terminal text.

Each word or token is shown on a signed background: green where it raises the explained output,
red where it lowers it, with an intensity of ``|value| / max |value|`` over the coloured items of
that explanation and level. The scaling is for display only: the stored attributions are never
changed, and the exact values are in each item's hover text. Special tokens ([CLS], [SEP],
BOS, ...) are shown muted and left out of the scale.

Everything that comes from data (the text, tokens, words, labels, model name, baseline, title) is
HTML-escaped, unlike Captum's ``visualize_text`` (captum#1226), and has its control characters
removed in the terminal, so a crafted token can inject neither markup nor escape sequences.
Only the standard library and NumPy are used.
"""

from __future__ import annotations

import html
import os
import re
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from intgrad.io import atomic_write_text

if TYPE_CHECKING:
    from intgrad.text.encode import Word
    from intgrad.text.explanation import TextExplanation

__all__ = ["save_text_html", "text_html", "text_html_fragment", "text_terminal"]

HTML_LEVELS = ("words", "tokens", "both")
TERMINAL_LEVELS = ("words", "tokens", "both")

POSITIVE_RGB = (22, 163, 74)
NEGATIVE_RGB = (220, 38, 38)
# Above this intensity the background is dark enough to need white text.
_LIGHT_TEXT_FROM = 0.6

# C0 controls, DEL and C1 controls (0x9b is a one-byte CSI on some terminals).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# What HTML forbids: C0 controls other than tab, newline and carriage return; DEL; C1.
_HTML_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_ANSI_RESET = "\x1b[0m"
_ANSI_DIM = "\x1b[2m"

_STYLE = """
.intgrad-text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #111827; background: #ffffff; padding: 0.75em 1em; line-height: 1.9;
  border: 1px solid #e5e7eb; border-radius: 6px; }
.intgrad-text .intgrad-title { font-size: 1.2em; margin: 0 0 0.4em 0; }
.intgrad-text .intgrad-legend { font-size: 0.85em; color: #4b5563; margin-bottom: 0.5em; }
.intgrad-text .intgrad-swatch { display: inline-block; width: 1.6em; height: 0.9em;
  vertical-align: middle; border-radius: 2px; margin: 0 0.3em 0 0.8em; }
.intgrad-text .intgrad-explanation { border-top: 1px solid #e5e7eb; padding-top: 0.5em;
  margin-top: 0.5em; }
.intgrad-text .intgrad-heading { font-size: 1em; margin: 0; }
.intgrad-text .intgrad-meta { font-size: 0.85em; color: #374151; line-height: 1.5; }
.intgrad-text .intgrad-field { display: inline-block; margin-right: 1.2em; }
.intgrad-text .intgrad-field b { font-weight: 600; color: #111827; }
.intgrad-text .intgrad-level-name { font-size: 0.75em; text-transform: uppercase;
  letter-spacing: 0.05em; color: #6b7280; margin-top: 0.4em; }
.intgrad-text .intgrad-body { white-space: pre-wrap; word-wrap: break-word; }
.intgrad-text .intgrad-word, .intgrad-text .intgrad-token { border-radius: 3px;
  padding: 0.1em 0.05em; }
.intgrad-text .intgrad-token { margin-right: 0.25em; }
.intgrad-text .intgrad-special { font-size: 0.7em; color: #6b7280; background: #f3f4f6;
  border: 1px solid #d1d5db; border-radius: 3px; padding: 0 0.3em; margin: 0 0.3em;
  vertical-align: middle; }
.intgrad-text .intgrad-unexplained { color: #9ca3af; }
"""


# --- shared ----------------------------------------------------------------------------------


def _check_level(level: str, choices: tuple[str, ...]) -> None:
    if level not in choices:
        raise ValueError(f"level must be one of {', '.join(map(repr, choices))}, got {level!r}")


def _intensities(values: np.ndarray, coloured: np.ndarray) -> np.ndarray:
    """``|value| / max |value|`` over the coloured items, in [0, 1], for display only.

    Args:
        values: shape (items,), signed attributions (not modified).
        coloured: shape (items,), bool, the items that take part in the scale.

    Returns:
        Shape (items,), float64; 0 for non-finite values, for items outside the scale and
        everywhere when the largest magnitude is 0.
    """
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    usable = np.isfinite(magnitude) & coloured
    scale = float(magnitude[usable].max()) if usable.any() else 0.0
    if scale == 0.0:
        return np.zeros_like(magnitude)
    return np.where(usable, np.clip(magnitude / scale, 0.0, 1.0), 0.0)


def _hue(value: float) -> tuple[int, int, int]:
    return NEGATIVE_RGB if value < 0 else POSITIVE_RGB


def _signed(value: float) -> str:
    """4 significant digits with the sign always shown: ``+0.1234``, ``-1.5e-05``."""
    return f"{value:+.4g}"


def _probability(explanation: TextExplanation) -> float:
    return float(explanation.probabilities[explanation.predicted])


def _relative_delta(explanation: TextExplanation) -> float | None:
    relative = explanation.result.relative_delta
    if relative is None or not np.isfinite(relative[0]):
        return None
    return float(relative[0])


def _word_values(explanation: TextExplanation) -> tuple[np.ndarray, np.ndarray]:
    """Shape (words,) attributions and shape (words,) bool, the words that are not special."""
    words = explanation.words
    values = np.array([w.attribution for w in words], dtype=np.float64)
    return values, np.array([not w.special for w in words], dtype=bool)


def _token_values(explanation: TextExplanation) -> tuple[np.ndarray, np.ndarray]:
    """Shape (tokens,) attributions and shape (tokens,) bool, the tokens that are not special."""
    values = np.array(explanation.attributions, dtype=np.float64, copy=True).reshape(-1)
    return values, ~np.asarray(explanation.special, dtype=bool).reshape(-1)


# --- HTML ------------------------------------------------------------------------------------


def _esc(text: object) -> str:
    """Data text made safe for HTML content and attribute values."""
    return html.escape(_HTML_CONTROL.sub("", str(text)), quote=True)


def _css_background(value: float, intensity: float) -> str:
    red, green, blue = _hue(value)
    style = f"background-color: rgba({red}, {green}, {blue}, {intensity:.3f})"
    return style + ("; color: #ffffff" if intensity > _LIGHT_TEXT_FROM else "")


def _html_span(css_class: str, text: str, tip: str, style: str | None = None) -> str:
    style_attribute = "" if style is None else f' style="{style}"'
    return f'<span class="{css_class}"{style_attribute} title="{_esc(tip)}">{_esc(text)}</span>'


def _word_tip(explanation: TextExplanation, word: Word) -> str:
    tokens = " ".join(repr(explanation.tokens[i]) for i in word.tokens)
    return f"attribution: {float(word.attribution)!r}\ntokens: {tokens}"


def _word_span(explanation: TextExplanation, word: Word, intensity: float) -> str:
    tip = _word_tip(explanation, word)
    if word.special:
        return _html_span("intgrad-special", word.text, tip)
    text = explanation.text
    shown = text[word.start : word.end] if 0 <= word.start < word.end <= len(text) else word.text
    return _html_span("intgrad-word", shown, tip, _css_background(word.attribution, intensity))


def _words_html(explanation: TextExplanation) -> str:
    """The words in the text's order, with the text's own characters between them.

    Special words before the first regular word lead as chips; those after the last follow the
    rest of the text (shown muted with a note when truncation dropped tokens).
    """
    text = explanation.text
    words = explanation.words
    values, coloured = _word_values(explanation)
    intensity = _intensities(values, coloured)
    regular = [i for i, w in enumerate(words) if not w.special]
    last = regular[-1] if regular else -1
    parts: list[str] = []
    cursor = 0
    for i, word in enumerate(words):
        if i > last:
            break
        if not word.special and word.start >= cursor:
            parts.append(_esc(text[cursor : word.start]))
        parts.append(_word_span(explanation, word, float(intensity[i])))
        if not word.special:
            cursor = max(cursor, word.end)
    parts.append(_rest_html(explanation, cursor))
    parts.extend(
        _word_span(explanation, words[i], float(intensity[i])) for i in range(last + 1, len(words))
    )
    return "".join(parts)


def _rest_html(explanation: TextExplanation, cursor: int) -> str:
    rest = explanation.text[cursor:]
    if explanation.dropped_tokens and rest.strip():
        tip = f"not explained: truncation dropped {explanation.dropped_tokens} tokens"
        return _html_span("intgrad-unexplained", rest, tip)
    return _esc(rest)


def _tokens_html(explanation: TextExplanation) -> str:
    values, coloured = _token_values(explanation)
    intensity = _intensities(values, coloured)
    spans = []
    for i, token in enumerate(explanation.tokens):
        tip = f"attribution: {float(values[i])!r}\ntoken id: {int(explanation.token_ids[i])}"
        if coloured[i]:
            style = _css_background(float(values[i]), float(intensity[i]))
            spans.append(_html_span("intgrad-token", token, tip, style))
        else:
            spans.append(_html_span("intgrad-special", token, tip))
    return "".join(spans)


def _field(name: str, value: str, tip: str | None = None) -> str:
    """One header field; ``value`` is already escaped."""
    title = "" if tip is None else f' title="{_esc(tip)}"'
    return f'<span class="intgrad-field"{title}><b>{_esc(name)}</b> {value}</span>'


def _number_field(name: str, value: float) -> str:
    return _field(name, _esc(f"{value:.4g}"), repr(value))


def _meta_html(explanation: TextExplanation) -> str:
    delta = explanation.delta
    relative = _relative_delta(explanation)
    delta_text = f"{delta:+.3g}" + ("" if relative is None else f" ({relative:.3g} relative)")
    fields = [
        _field(
            "prediction",
            f"{_esc(explanation.predicted_label)} (p = {_probability(explanation):.4g})",
        ),
        _field(
            "target",
            f"{_esc(explanation.target_label)} (index {explanation.target}, "
            f"F = {_esc(explanation.output)})",
        ),
        _number_field("F(x)", explanation.f_input),
        _number_field("F(x′)", explanation.f_baseline),
        _field("completeness Δ", _esc(delta_text), repr(delta)),
        _field("steps", str(explanation.steps)),
        _field("method", _esc(explanation.result.method)),
        _field("baseline", _esc(explanation.baseline)),
        _field("model", _esc(explanation.model)),
    ]
    if explanation.dropped_tokens:
        fields.append(_field("truncated", f"{explanation.dropped_tokens} tokens not explained"))
    return f'<div class="intgrad-meta">{"".join(fields)}</div>'


def _level_html(name: str, body: str) -> str:
    return f'<div class="intgrad-level-name">{name}</div><div class="intgrad-body">{body}</div>'


def _explanation_html(explanation: TextExplanation, level: str, heading: str | None) -> str:
    parts = ['<section class="intgrad-explanation">']
    if heading is not None:
        parts.append(f'<h3 class="intgrad-heading">{_esc(heading)}</h3>')
    parts.append(_meta_html(explanation))
    if level in ("words", "both"):
        parts.append(_level_html("words", _words_html(explanation)))
    if level in ("tokens", "both"):
        parts.append(_level_html("tokens", _tokens_html(explanation)))
    parts.append("</section>")
    return "".join(parts)


def _legend_html() -> str:
    positive = "rgb({}, {}, {})".format(*POSITIVE_RGB)
    negative = "rgb({}, {}, {})".format(*NEGATIVE_RGB)
    return (
        '<div class="intgrad-legend">'
        f'<span class="intgrad-swatch" style="background-color: {positive}"></span>'
        "raises the target"
        f'<span class="intgrad-swatch" style="background-color: {negative}"></span>'
        "lowers the target"
        " · full colour = the largest |attribution| of that text and level"
        " (display only; hover for exact values)</div>"
    )


def text_html_fragment(
    explanations: Sequence[TextExplanation], *, level: str = "both", title: str | None = None
) -> str:
    """The explanations as one ``<div class="intgrad-text">`` with its own scoped styles.

    It can be shown inline in Jupyter or pasted into any page: its CSS only touches classes
    prefixed ``intgrad-``, and it needs no JavaScript and no external resource.

    Args:
        explanations: e.g. from :func:`intgrad.text.explain_text`, one section each.
        level: ``"words"`` (the text with its words coloured), ``"tokens"`` or ``"both"``.
        title: an optional heading, escaped like all data.

    Raises:
        ValueError: ``level`` is not one of the three, or there are no explanations.
    """
    _check_level(level, HTML_LEVELS)
    if len(explanations) == 0:
        raise ValueError("there are no explanations to show")
    several = len(explanations) > 1
    parts = [f'<div class="intgrad-text"><style>{_STYLE}</style>']
    if title is not None:
        parts.append(f'<div class="intgrad-title">{_esc(title)}</div>')
    parts.append(_legend_html())
    for i, explanation in enumerate(explanations):
        heading = f"text {i + 1} of {len(explanations)}" if several else None
        parts.append(_explanation_html(explanation, level, heading))
    parts.append("</div>")
    return "".join(parts)


def text_html(
    explanations: Sequence[TextExplanation], *, level: str = "both", title: str | None = None
) -> str:
    """A complete, self-contained HTML5 page of :func:`text_html_fragment` (same arguments)."""
    fragment = text_html_fragment(explanations, level=level, title=title)
    page_title = _esc(title if title is not None else "Integrated Gradients: text attributions")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{page_title}</title>\n</head>\n<body>\n{fragment}\n</body>\n</html>\n"
    )


def save_text_html(
    explanations: Sequence[TextExplanation],
    path: str | os.PathLike[str],
    *,
    level: str = "both",
    title: str | None = None,
) -> None:
    """Write :func:`text_html` to ``path`` (UTF-8) atomically; its directory must exist."""
    atomic_write_text(path, text_html(explanations, level=level, title=title))


# --- terminal --------------------------------------------------------------------------------


def _clean(text: object) -> str:
    """Data text without control characters, so it cannot carry escape sequences."""
    return _CONTROL.sub("", str(text))


def _color_wanted() -> bool:
    """Colour only on a terminal, without ``NO_COLOR`` (https://no-color.org) or ``TERM=dumb``."""
    stream = sys.stdout
    is_tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
    return is_tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _ansi_background(value: float, intensity: float) -> str:
    """24-bit background blended from white to the sign's hue, with readable text on top."""
    hue = np.array(_hue(value), dtype=np.float64)
    red, green, blue = np.rint(255.0 + (hue - 255.0) * intensity).astype(int).tolist()
    foreground = "255;255;255" if intensity > _LIGHT_TEXT_FROM else "0;0;0"
    return f"\x1b[48;2;{red};{green};{blue}m\x1b[38;2;{foreground}m"


def _terminal_items(explanation: TextExplanation, level: str) -> Iterator[tuple[str, float, bool]]:
    """(text, attribution, special) of each word or token, in order."""
    if level == "words":
        for word in explanation.words:
            yield word.text, float(word.attribution), word.special
        return
    values, coloured = _token_values(explanation)
    for token, value, regular in zip(explanation.tokens, values, coloured, strict=True):
        yield token, float(value), not bool(regular)


def _terminal_line(explanation: TextExplanation, level: str, color: bool) -> str:
    items = list(_terminal_items(explanation, level))
    values = np.array([value for _, value, _ in items], dtype=np.float64)
    coloured = np.array([not special for _, _, special in items], dtype=bool)
    intensity = _intensities(values, coloured)
    shown = []
    for (text, value, special), strength in zip(items, intensity, strict=True):
        text = _clean(text)
        if not color:
            shown.append(f"{text}[{_signed(value)}]")
        elif special:
            shown.append(f"{_ANSI_DIM}{text}{_ANSI_RESET}")
        else:
            shown.append(f"{_ansi_background(value, float(strength))}{text}{_ANSI_RESET}")
    return " ".join(shown)


def _terminal_header(explanation: TextExplanation) -> str:
    prediction = f"{_clean(explanation.predicted_label)} (p={_probability(explanation):.4g})"
    target = (
        f"{_clean(explanation.target_label)} "
        f"(index {explanation.target}, {_clean(explanation.output)})"
    )
    return (
        f"prediction: {prediction} | target: {target} | "
        f"F(x)={explanation.f_input:.4g} F(x′)={explanation.f_baseline:.4g} "
        f"delta={explanation.delta:+.3g}"
    )


def _terminal_scale(explanation: TextExplanation, level: str) -> str:
    values, coloured = (_word_values if level == "words" else _token_values)(explanation)
    finite = np.abs(values[coloured & np.isfinite(values)])
    largest = float(finite.max()) if finite.size else 0.0
    return f"  {level}: green raises, red lowers; full colour = |{largest:.4g}|"


def text_terminal(
    explanation: TextExplanation, *, color: bool | None = None, level: str = "words"
) -> str:
    """One explanation as terminal text: a header line, then its words or tokens.

    With colour, each item has a 24-bit ANSI background scaled like the HTML view (special
    tokens dimmed) and is followed by a reset; without, each item is written ``text[+0.1234]``
    (4 significant digits, sign always shown). Control characters are removed from data text.

    Args:
        explanation: the explained text.
        color: ``True`` or ``False``; ``None`` colours only when standard output is a terminal,
            ``NO_COLOR`` is unset (or empty) and ``TERM`` is not ``dumb``.
        level: ``"words"``, ``"tokens"`` or ``"both"`` (a line of each).

    Raises:
        ValueError: ``level`` is not one of the three.
    """
    _check_level(level, TERMINAL_LEVELS)
    use_color = _color_wanted() if color is None else bool(color)
    levels = ("words", "tokens") if level == "both" else (level,)
    lines = [_terminal_header(explanation)]
    for name in levels:
        lines.append(_terminal_line(explanation, name, use_color))
        if use_color:
            lines.append(_terminal_scale(explanation, name))
    return "\n".join(lines)
