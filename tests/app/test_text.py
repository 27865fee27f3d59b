"""The Text view over HTTP: the library's numbers, 400 pages for bad input, escaped text."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import numpy as np
import pytest

from intgrad.text import TextExplainer, TextExplanation, load_text_model

TEXT = "a gripping, beautifully acted film"
TOKEN_ROW = re.compile(
    r'data-testid="token-score" data-index="(\d+)" data-token="([^"]*)" data-value="([^"]*)"'
)
DELTA = re.compile(r'data-testid="delta" data-value="([^"]*)"')
ERROR = re.compile(r'data-testid="error">(.*?)</div>', re.S)


@pytest.fixture(scope="module")
def library() -> TextExplainer:
    """The embedded model in a TextExplainer of its own, to compare with the app's numbers."""
    return TextExplainer(load_text_model("minilm-sentiment"))


def _explain(library: TextExplainer, text: str, **options: Any) -> TextExplanation:
    explanation = library.explain(text, **options)
    assert isinstance(explanation, TextExplanation)
    return explanation


def _assert_same(exported: dict[str, Any], explanation: TextExplanation) -> None:
    tokens = exported["tokens"]
    assert [t["token"] for t in tokens] == list(explanation.tokens)
    values = np.array([t["attribution"] for t in tokens])
    np.testing.assert_allclose(values, explanation.attributions, rtol=1e-6, atol=1e-12)
    words = np.array([w["attribution"] for w in exported["words"]])
    np.testing.assert_allclose(words, explanation.word_attributions, rtol=1e-6, atol=1e-12)
    assert exported["delta"] == pytest.approx(explanation.delta, rel=1e-6, abs=1e-12)
    assert exported["f_input"] == pytest.approx(explanation.f_input, rel=1e-9)
    assert exported["f_baseline"] == pytest.approx(explanation.f_baseline, rel=1e-9)
    assert exported["steps"] == explanation.steps
    assert exported["target"] == explanation.target
    probabilities = [exported["probabilities"][label] for label in explanation.labels]
    np.testing.assert_allclose(probabilities, explanation.probabilities, rtol=1e-9)
    assert exported["attribution_sum"] == pytest.approx(float(explanation.attributions.sum()))


def test_auto_steps_export_and_page_equal_the_library(client: Any, library: TextExplainer) -> None:
    form = {"text": TEXT, "steps": "auto", "tolerance": "0.05", "baseline": "pad", "level": "both"}
    job_id = client.submit("/text", data=form)
    assert client.wait(job_id)["state"] == "done"
    expected = _explain(library, TEXT, steps="auto", tolerance=0.05, baseline="pad")
    exported = client.get(f"/jobs/{job_id}/export.json").json()
    _assert_same(exported, expected)
    assert exported["settings"]["steps"] == "auto" and exported["baseline"] == "pad"
    assert abs(exported["relative_delta"]) <= 0.05

    page = client.get(f"/jobs/{job_id}").text
    rows = TOKEN_ROW.findall(page)
    assert [html.unescape(token) for _, token, _ in rows] == list(expected.tokens)
    np.testing.assert_array_equal([float(v) for _, _, v in rows], expected.attributions)
    (delta,) = DELTA.findall(page)
    assert float(delta) == pytest.approx(expected.delta, rel=1e-6, abs=1e-12)
    # The coloured view's hover text carries the exact value of each token.
    assert f"attribution: {float(expected.attributions[2])!r}" in page

    exported_page = client.get(f"/jobs/{job_id}/export.html").text
    assert [v for _, _, v in TOKEN_ROW.findall(exported_page)] == [v for _, _, v in rows]
    assert "<script" not in exported_page and "http://" not in exported_page


def test_fixed_steps_target_and_custom_baseline_equal_the_library(
    client: Any, library: TextExplainer
) -> None:
    form = {
        "text": "  a dull, lifeless plot  ",
        "steps": "8",
        "target": "positive",
        "baseline": "custom",
        "baseline_custom": "token:the",
        "level": "words",
    }
    exported = client.result("/text", data=form)
    expected = _explain(
        library, "a dull, lifeless plot", steps=8, target="positive", baseline="token:the"
    )
    _assert_same(exported, expected)
    assert exported["target_label"] == "positive" and exported["baseline"] == "token:the"
    assert exported["baseline_tokens"][1] == "the" and exported["baseline_tokens"][0] == "[CLS]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "text: required"),
        ("   \n  ", "text: required"),
        ("x" * 2_001, "text: 2001 characters, more than the limit of 2000"),
        ("a long review " * 400, "more than the limit of 2000"),
    ],
)
def test_empty_or_too_long_text_is_a_400_page_and_the_app_serves_on(
    client: Any, text: str, message: str
) -> None:
    answer = client.post("/text", data={"text": text, "steps": "8"})
    assert answer.status_code == 400
    assert message in html.unescape(ERROR.search(answer.text).group(1))
    assert client.get("/text").status_code == 200
    exported = client.result("/text", data={"text": "fine", "steps": "8"})
    assert exported["steps"] == 8


def test_a_body_over_the_upload_limit_is_refused_and_the_app_serves_on(client: Any) -> None:
    answer = client.post("/text", data={"text": "y" * (3 * 1024 * 1024)})
    assert answer.status_code == 413
    assert "larger than the limit" in answer.text
    assert client.get("/healthz").json() == {"ok": True}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps": "many"}, "steps: expected a whole number, got 'many'"),
        ({"steps": "1"}, "steps: must be in [2, 513], got 1"),
        ({"steps": "100000"}, "steps: must be in [2, 513]"),
        ({"steps": "auto", "tolerance": "nan"}, "tolerance: must be in"),
        ({"steps": "auto", "tolerance": "0.9"}, "tolerance: must be in"),
        ({"steps": "auto", "tolerance": "tight"}, "tolerance: expected a number"),
        ({"baseline": "bogus"}, "baseline: must be one of pad, unk, mask, zero, custom"),
        ({"baseline": "token:qqzzxxnotaword"}, "baseline token 'qqzzxxnotaword' is not in"),
        ({"baseline": "custom"}, "baseline: 'custom' needs token:<token> or text:<text>"),
        ({"target": "maybe"}, "target: must be one of predicted, negative, positive"),
        ({"model": "no-such-model"}, "model: must be one of minilm-sentiment"),
        ({"level": "letters"}, "level: must be one of both, words, tokens"),
    ],
)
def test_bad_fields_are_a_400_page_with_the_message(
    client: Any, fields: dict[str, str], message: str
) -> None:
    answer = client.post("/text", data={"text": TEXT, **fields})
    assert answer.status_code == 400
    assert message in html.unescape(ERROR.search(answer.text).group(1))


def test_a_text_baseline_of_another_length_fails_the_job_in_one_line(client: Any) -> None:
    form = {"text": TEXT, "steps": "8", "baseline": "text:dull"}
    job_id = client.submit("/text", data=form)
    status = client.wait(job_id)
    assert status["state"] == "failed"
    assert "a text baseline needs as many tokens" in status["error"]
    assert "\n" not in status["error"] and "Traceback" not in client.get(f"/jobs/{job_id}").text


def test_user_text_is_escaped_in_the_page_the_export_and_the_form(client: Any) -> None:
    hostile = 'bad <script>alert(1)</script> "><img src=x onerror=alert(1)> film'
    job_id = client.submit("/text", data={"text": hostile, "steps": "8"})
    assert client.wait(job_id)["state"] == "done"
    exported = client.get(f"/jobs/{job_id}/export.json").json()
    assert exported["text"] == hostile
    assert sum(t["attribution"] for t in exported["tokens"]) == pytest.approx(
        exported["attribution_sum"]
    )
    again = re.search(r'data-testid="explain-again"', client.get(f"/jobs/{job_id}").text)
    assert again
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/export.html"):
        shown = client.get(path).text
        assert "<script>alert" not in shown and "<img" not in shown
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    form = client.get("/text", params={"text": hostile, "baseline_custom": hostile}).text
    assert "<script>alert" not in form and "<img" not in form
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in form


def test_a_long_job_shows_progress_and_stops_soon_after_cancel(
    client: Any, library: TextExplainer
) -> None:
    # About 180 tokens at 400 steps: some 50 chunks of gradient evaluations, a minute or more.
    long_text = " ".join(["the film is long but the acting is wonderful"] * 20)
    job_id = client.submit("/text", data={"text": long_text, "steps": "400"})
    deadline = time.monotonic() + 240
    status = client.get(f"/jobs/{job_id}/status").json()
    while status["done"] == 0 and status["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
        status = client.get(f"/jobs/{job_id}/status").json()
    # Progress arrives while the one text is being explained, in gradient evaluations.
    assert status["state"] == "running", status
    assert status["unit"] == "gradient evaluations" and status["total"] == 400
    assert 0 < status["done"] < 400
    client.post(f"/jobs/{job_id}/cancel")
    stopped = client.wait(job_id)
    # Stopped at the next chunk: far from all 400 evaluations.
    assert stopped["state"] == "cancelled" and stopped["done"] < 200, stopped
    # The served model is as it was: the next job equals the library.
    exported = client.result("/text", data={"text": TEXT, "steps": "8"})
    _assert_same(exported, _explain(library, TEXT, steps=8))
