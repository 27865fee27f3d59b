"""The text views: escaping, exact hover values, signed colours, layout, files and the terminal."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import intgrad.viz
import intgrad.viz.text
from intgrad import Attribution
from intgrad.text.encode import Word
from intgrad.text.explanation import TextExplanation
from intgrad.viz import save_text_html, text_html, text_html_fragment, text_terminal

# A text whose every data field carries markup and ampersands.
TEXT = "<script>x</script> & gripping film"
TOKENS = ("[CLS]", "<script>x</script>", "&", "grip", "##ping", "film", "[SEP]")
SPECIAL = np.array([True, False, False, False, False, False, True])
OFFSETS = np.array([[0, 0], [0, 18], [19, 20], [21, 25], [25, 29], [30, 34], [0, 0]])
# [CLS] has the largest magnitude: special tokens stay out of the colour scale.
ATTRIBUTIONS = np.array([0.9, -0.2, 0.05, 0.3, 0.123456789012345, -0.4, 0.01])
LABELS = ("neg", "pos <script> & co")
MODEL = "my<model>&friends"
BASELINE = "pad <mask> & keep specials"
TOKEN_ID_BASE = 100
ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#x27|#\d+);")


def _words(attributions: np.ndarray) -> tuple[Word, ...]:
    a = attributions.tolist()
    return (
        Word("[CLS]", 0, 0, (0,), a[0], special=True),
        Word("<script>x</script>", 0, 18, (1,), a[1]),
        Word("&", 19, 20, (2,), a[2]),
        Word("gripping", 21, 29, (3, 4), a[3] + a[4]),
        Word("film", 30, 34, (5,), a[5]),
        Word("[SEP]", 0, 0, (6,), a[6], special=True),
    )


def _result(attributions: np.ndarray) -> Attribution:
    total = float(np.sum(attributions))
    f_input, f_baseline = 0.8125, 0.8125 - total + 1e-4
    return Attribution(
        attributions=attributions[None, :, None],
        delta=np.array([total - (f_input - f_baseline)]),
        f_input=np.array([f_input]),
        f_baseline=np.array([f_baseline]),
        baseline_deltas=None,
        attribution_sums=np.array([total]),
        steps=32,
        forward_evaluations=2,
        method="gausslegendre",
        target=np.array([1]),
        baselines=(BASELINE,),
    )


def _explanation(
    attributions: np.ndarray = ATTRIBUTIONS,
    *,
    text: str = TEXT,
    tokens: tuple[str, ...] = TOKENS,
    dropped: int = 0,
) -> TextExplanation:
    attributions = np.array(attributions, dtype=np.float64)
    n = attributions.shape[0]
    return TextExplanation(
        text=text,
        tokens=tokens,
        token_ids=np.arange(TOKEN_ID_BASE, TOKEN_ID_BASE + n, dtype=np.int64),
        baseline_ids=np.zeros(n, dtype=np.int64),
        offsets=OFFSETS.copy(),
        special=SPECIAL.copy(),
        attributions=attributions,
        embedding_attributions=attributions[:, None].astype(np.float32),
        words=_words(attributions),
        labels=LABELS,
        probabilities=np.array([0.1875, 0.8125]),
        target=1,
        output="probability",
        baseline=BASELINE,
        layer="word",
        model=MODEL,
        dropped_tokens=dropped,
        result=_result(attributions),
        seconds=0.5,
    )


@dataclasses.dataclass
class Span:
    classes: str
    style: str
    title: str
    text: str = ""


class _Spans(HTMLParser):
    """The spans of each level's body, and the body text outside special chips."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.levels: list[list[Span]] = []
        self.plain: list[str] = []
        self._depth = 0  # divs open inside the current body, 0 when outside any body
        self._span: Span | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "div" and attributes.get("class") == "intgrad-body":
            self.levels.append([])
            self.plain.append("")
            self._depth = 1
        elif tag == "div" and self._depth:
            self._depth += 1
        elif tag == "span" and self._depth:
            self._span = Span(
                attributes.get("class", ""), attributes.get("style", ""), attributes["title"]
            )
            self.levels[-1].append(self._span)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._span = None
        elif tag == "div" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._depth:
            return
        if self._span is not None:
            self._span.text += data
        if self._span is None or self._span.classes != "intgrad-special":
            self.plain[-1] += data


def _parse(markup: str) -> _Spans:
    parser = _Spans()
    parser.feed(markup)
    parser.close()
    return parser


def _rgba(span: Span) -> tuple[tuple[int, int, int], float]:
    match = re.search(r"rgba\((\d+), (\d+), (\d+), ([0-9.]+)\)", span.style)
    assert match is not None, span.style
    red, green, blue, alpha = match.groups()
    return (int(red), int(green), int(blue)), float(alpha)


def _by_text(spans: list[Span]) -> dict[str, Span]:
    return {span.text: span for span in spans}


# --- escaping --------------------------------------------------------------------------------


def test_data_appears_only_escaped() -> None:
    markup = text_html([_explanation()], title="<script>t</script> & title")
    assert "<script" not in markup
    assert "&lt;script&gt;x&lt;/script&gt;" in markup  # the text and its token
    assert "pos &lt;script&gt; &amp; co" in markup  # the predicted and target label
    assert "my&lt;model&gt;&amp;friends" in markup
    assert "pad &lt;mask&gt; &amp; keep specials" in markup
    assert "&lt;script&gt;t&lt;/script&gt; &amp; title" in markup
    for raw in (MODEL, BASELINE, LABELS[1], "<mask>", "<model>"):
        assert raw not in markup
    # Every ampersand starts an entity: none is left raw.
    assert all(ENTITY.match(markup, m.start()) for m in re.finditer("&", markup))


def test_quotes_in_tokens_cannot_leave_the_title_attribute() -> None:
    tokens = ("[CLS]", 'x" onmouseover="alert(1)', "&", "grip", "##ping", "film", "[SEP]")
    markup = text_html_fragment([_explanation(tokens=tokens)], level="tokens")
    assert 'onmouseover="' not in markup
    assert "x&quot; onmouseover=&quot;alert(1)" in markup
    spans = _parse(markup).levels[0]
    assert spans[1].text == tokens[1]


def test_control_characters_are_removed_from_html() -> None:
    tokens = ("[CLS]", "a\x1b[31m\x00b", "&", "grip", "##ping", "film", "[SEP]")
    markup = text_html([_explanation(tokens=tokens)])
    assert "\x1b" not in markup and "\x00" not in markup
    assert "a[31mb" in markup


# --- values and colours ----------------------------------------------------------------------


def test_titles_hold_the_exact_values_and_the_words_tokens() -> None:
    explanation = _explanation()
    words, tokens = _parse(text_html_fragment([explanation])).levels
    for span, word in zip(words, explanation.words, strict=True):
        assert span.title.startswith(f"attribution: {word.attribution!r}\n")
        assert span.title.endswith(" ".join(repr(TOKENS[i]) for i in word.tokens))
    assert _by_text(words)["gripping"].title.endswith("tokens: 'grip' '##ping'")
    for span, value in zip(tokens, ATTRIBUTIONS.tolist(), strict=True):
        assert span.title.startswith(f"attribution: {value!r}\n")
    assert "attribution: 0.123456789012345\n" in _by_text(tokens)["##ping"].title


def test_signs_have_distinct_hues_and_the_largest_has_full_intensity() -> None:
    explanation = _explanation()
    words, tokens = _parse(text_html_fragment([explanation])).levels
    shown = _by_text(words)
    colours = {text: _rgba(shown[text]) for text in ("&", "gripping", "film", TOKENS[1])}
    assert colours["&"][0] == colours["gripping"][0] == intgrad.viz.text.POSITIVE_RGB
    assert colours["film"][0] == colours[TOKENS[1]][0] == intgrad.viz.text.NEGATIVE_RGB
    largest = abs(explanation.words[3].attribution)  # gripping; [CLS] is special
    assert colours["gripping"][1] == 1.0
    for text, word in (("film", 4), ("&", 2), (TOKENS[1], 1)):
        expected = abs(explanation.words[word].attribution) / largest
        assert colours[text][1] == pytest.approx(expected, abs=5e-4)
    # Tokens have their own scale: film (-0.4) is the largest non-special token.
    token_colours = {span.text: _rgba(span) for span in tokens if span.style}
    assert token_colours["film"] == (intgrad.viz.text.NEGATIVE_RGB, 1.0)
    assert token_colours["grip"][1] == pytest.approx(0.3 / 0.4, abs=5e-4)


def test_special_tokens_are_muted_chips_outside_the_scale() -> None:
    words, tokens = _parse(text_html_fragment([_explanation()])).levels
    for spans in (words, tokens):
        chips = [span for span in spans if span.classes == "intgrad-special"]
        assert [chip.text for chip in chips] == ["[CLS]", "[SEP]"]
        assert all(chip.style == "" for chip in chips)
    assert words[0].text == "[CLS]" and words[-1].text == "[SEP]"


def test_all_zero_attributions_render_without_colour() -> None:
    markup = text_html_fragment([_explanation(np.zeros(len(TOKENS)))])
    assert "nan" not in markup.lower()
    for spans in _parse(markup).levels:
        assert {_rgba(span)[1] for span in spans if span.style} == {0.0}


def test_non_finite_values_are_shown_but_left_out_of_the_scale() -> None:
    values = ATTRIBUTIONS.copy()
    values[5] = np.nan  # film
    words, tokens = _parse(text_html_fragment([_explanation(values)])).levels
    for spans in (words, tokens):
        film = _by_text(spans)["film"]
        assert film.title.startswith("attribution: nan\n")
        assert _rgba(film)[1] == 0.0
    assert _rgba(_by_text(tokens)["grip"])[1] == 1.0
    assert "film[+nan]" in text_terminal(_explanation(values), color=False)


def test_rendering_does_not_change_the_stored_values() -> None:
    explanation = _explanation()
    before = explanation.attributions.copy()
    words_before = [w.attribution for w in explanation.words]
    explanation.attributions.setflags(write=False)  # an in-place write would raise
    text_html([explanation])
    text_terminal(explanation, color=True, level="both")
    text_terminal(explanation, color=False, level="both")
    np.testing.assert_array_equal(explanation.attributions, before)
    assert [w.attribution for w in explanation.words] == words_before


# --- layout ----------------------------------------------------------------------------------


def test_word_level_keeps_the_texts_characters_between_words() -> None:
    text = 'Not  bad,\n"gripping"!'
    words = (
        Word("[CLS]", 0, 0, (0,), 0.1, special=True),
        Word("Not", 0, 3, (1,), -0.3),
        Word("bad", 5, 8, (2,), 0.2),
        Word("gripping", 11, 19, (3,), 0.5),
        Word("[SEP]", 0, 0, (4,), 0.0, special=True),
    )
    values = np.array([0.1, -0.3, 0.2, 0.5, 0.0])
    explanation = dataclasses.replace(
        _explanation(np.array([*values, 0.0, 0.0])), text=text, words=words
    )
    parsed = _parse(text_html_fragment([explanation], level="words"))
    assert parsed.plain == [text]
    assert [span.text for span in parsed.levels[0]] == ["[CLS]", "Not", "bad", "gripping", "[SEP]"]


def test_text_left_out_by_truncation_is_shown_muted() -> None:
    explanation = _explanation(text=TEXT + " and more", dropped=2)
    parsed = _parse(text_html_fragment([explanation], level="words"))
    assert parsed.plain == [TEXT + " and more"]
    rest = [span for span in parsed.levels[0] if span.classes == "intgrad-unexplained"]
    assert [span.text for span in rest] == [" and more"]
    assert "2 tokens" in rest[0].title


def test_the_header_has_every_number() -> None:
    explanation = _explanation()
    markup = text_html_fragment([explanation])
    for expected in (
        "pos &lt;script&gt; &amp; co (p = 0.8125)",
        "(index 1, F = probability)",
        repr(explanation.f_input),
        repr(explanation.f_baseline),
        repr(explanation.delta),
        "<b>steps</b> 32",
        "<b>method</b> gausslegendre",
    ):
        assert expected in markup


@pytest.mark.parametrize(("level", "bodies"), [("words", 1), ("tokens", 1), ("both", 2)])
def test_level_chooses_the_views(level: str, bodies: int) -> None:
    parsed = _parse(text_html_fragment([_explanation()], level=level))
    assert len(parsed.levels) == bodies
    classes = {span.classes for spans in parsed.levels for span in spans}
    assert ("intgrad-word" in classes) == (level != "tokens")
    assert ("intgrad-token" in classes) == (level != "words")


@pytest.mark.parametrize("level", ["word", "", "all", "WORDS"])
def test_an_unknown_level_is_refused(level: str) -> None:
    for view in (text_html_fragment, text_html):
        with pytest.raises(ValueError, match="'words', 'tokens', 'both'"):
            view([_explanation()], level=level)
    with pytest.raises(ValueError, match="level must be one of"):
        text_terminal(_explanation(), level=level)


def test_no_explanations_is_refused() -> None:
    with pytest.raises(ValueError, match="no explanations"):
        text_html_fragment([])


def test_several_explanations_share_one_fragment() -> None:
    markup = text_html_fragment([_explanation(), _explanation()], level="words")
    assert markup.startswith('<div class="intgrad-text"><style>')
    assert markup.endswith("</div>")
    assert markup.count('<section class="intgrad-explanation">') == 2
    assert "text 2 of 2" in markup


def test_the_fragments_css_is_scoped() -> None:
    markup = text_html_fragment([_explanation()])
    style = markup[markup.index("<style>") + 7 : markup.index("</style>")]
    selectors = [rule.split("{")[0] for rule in style.split("}") if "{" in rule]
    for selector in selectors:
        for part in selector.split(","):
            assert part.strip().startswith(".intgrad-text"), part


# --- documents and files ---------------------------------------------------------------------


def test_the_page_is_a_self_contained_document() -> None:
    page = text_html([_explanation()], title="T & U")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert "<title>T &amp; U</title>" in page
    assert text_html_fragment([_explanation()], title="T & U") in page
    for reference in ("http", "src=", "<script", "<link", "url(", "@import"):
        assert reference not in page


def test_the_explanations_own_views_are_these() -> None:
    explanation = _explanation()
    assert explanation.to_html(level="words") == text_html([explanation], level="words")
    assert explanation._repr_html_() == text_html_fragment([explanation])
    assert explanation.to_terminal(color=False) == text_terminal(explanation, color=False)


def test_save_text_html_writes_the_page_atomically(tmp_path: Path) -> None:
    target = tmp_path / "view.html"
    target.write_text("old", encoding="utf-8")
    save_text_html([_explanation()], target)
    assert target.read_text(encoding="utf-8") == text_html([_explanation()])
    assert [path.name for path in tmp_path.iterdir()] == ["view.html"]


def test_save_text_html_needs_the_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        save_text_html([_explanation()], tmp_path / "missing" / "view.html")
    assert list(tmp_path.iterdir()) == []


# --- terminal --------------------------------------------------------------------------------


class _Terminal:
    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def test_plain_terminal_view_has_every_word_with_its_signed_value() -> None:
    explanation = _explanation()
    header, line = text_terminal(explanation, color=False).split("\n")
    assert "\x1b" not in header + line
    assert header.startswith(
        "prediction: pos <script> & co (p=0.8125) | target: pos <script> & co (index 1, "
    )
    assert f"delta={explanation.delta:+.3g}" in header
    expected = [f"{w.text}[{w.attribution:+.4g}]" for w in explanation.words]
    assert line == " ".join(expected)
    assert "gripping[+0.4235]" in line and "film[-0.4]" in line


def test_plain_terminal_view_of_tokens() -> None:
    line = text_terminal(_explanation(), color=False, level="tokens").split("\n")[1]
    assert line.split(" ")[3:5] == ["grip[+0.3]", "##ping[+0.1235]"]
    assert len(line.split(" ")) == len(TOKENS)


def test_colour_terminal_view_resets_after_every_item() -> None:
    explanation = _explanation()
    header, line, scale = text_terminal(explanation, color=True).split("\n")
    assert "\x1b" not in header
    items = line.split(" ")
    assert len(items) == len(explanation.words)
    assert all(item.endswith("\x1b[0m") for item in items)
    assert items[0] == "\x1b[2m[CLS]\x1b[0m"  # special: dimmed
    # gripping is the largest: the full green, white text; film red at 0.4 / 0.4235.
    red, green, blue = intgrad.viz.text.POSITIVE_RGB
    assert items[3] == f"\x1b[48;2;{red};{green};{blue}m\x1b[38;2;255;255;255mgripping\x1b[0m"
    assert items[4].startswith("\x1b[48;2;")
    assert "|0.4235|" in scale


def test_no_color_disables_automatic_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", _Terminal())
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[48;2;" in text_terminal(_explanation())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in text_terminal(_explanation())
    assert "\x1b" in text_terminal(_explanation(), color=True)  # explicit wins


def test_a_dumb_terminal_or_a_pipe_gets_no_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys, "stdout", _Terminal())
    monkeypatch.setenv("TERM", "dumb")
    assert "\x1b" not in text_terminal(_explanation())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(_Terminal, "isatty", lambda self: False)
    assert "\x1b" not in text_terminal(_explanation())


def test_control_characters_in_tokens_are_stripped_in_the_terminal() -> None:
    tokens = ("[CLS]", "evil\x1b[31m\x07\x9b2J", "&\n", "grip", "##ping", "film", "[SEP]")
    explanation = dataclasses.replace(
        _explanation(tokens=tokens),
        labels=("neg", "pos\x1b]0;owned\x07"),
        words=(Word("evil\x1b[31m", 0, 18, (1,), -0.2), *_words(ATTRIBUTIONS)[2:]),
    )
    plain = text_terminal(explanation, color=False, level="both")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", plain)
    assert "evil[31m2J[-0.2]" in plain and "evil[31m[-0.2]" in plain
    assert "pos]0;owned" in plain
    coloured = text_terminal(explanation, color=True, level="both")
    assert "\x1b[31m" not in coloured and "\x07" not in coloured and "\x9b" not in coloured


# --- imports ---------------------------------------------------------------------------------


def test_the_text_view_imports_only_the_standard_library_and_numpy() -> None:
    tree = ast.parse(Path(intgrad.viz.text.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    allowed = {"__future__", "html", "os", "re", "sys", "collections.abc", "typing", "numpy"}
    allowed |= {"intgrad.io", "intgrad.text.encode", "intgrad.text.explanation"}
    assert imported <= allowed


def test_the_text_views_load_without_matplotlib() -> None:
    code = (
        "import sys\n"
        "from intgrad.viz import text_html, text_terminal\n"
        "import intgrad.viz.text\n"
        "heavy = {'matplotlib', 'torch', 'transformers', 'intgrad.viz.figures'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_name_of_the_package_resolves() -> None:
    for name in intgrad.viz.__all__:
        assert getattr(intgrad.viz, name) is not None
    assert set(intgrad.viz.__all__) <= set(dir(intgrad.viz))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = intgrad.viz.no_such_name
