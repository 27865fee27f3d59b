"""The Text view in a real browser: type, submit, read the library's numbers back, hover."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intgrad.text import TextExplainer, TextExplanation, load_text_model

TEXT = "a gripping, beautifully acted film with a weak ending"


def test_type_submit_read_back_and_hover(page: Any) -> None:
    expected = TextExplainer(load_text_model("minilm-sentiment")).explain(
        TEXT, steps="auto", tolerance=0.05, baseline="mask"
    )
    assert isinstance(expected, TextExplanation)

    page.goto("/text")
    page.fill('[data-testid="text-input"]', TEXT)
    page.select_option('select[name="baseline"]', "mask")
    page.fill('input[name="steps"]', "auto")
    page.fill('input[name="tolerance"]', "0.05")
    page.click('[data-testid="explain"]')
    page.wait_for_selector('[data-testid="delta"]')

    rows = page.eval_on_selector_all(
        '[data-testid="token-score"]', "rows => rows.map(r => [r.dataset.token, r.dataset.value])"
    )
    assert [token for token, _ in rows] == list(expected.tokens)
    np.testing.assert_allclose(
        [float(value) for _, value in rows], expected.attributions, rtol=1e-6, atol=1e-12
    )
    delta = float(page.get_attribute('[data-testid="delta"]', "data-value"))
    assert delta == pytest.approx(expected.delta, rel=1e-6, abs=1e-12)
    assert page.inner_text('[data-testid="baseline"]') == "mask"

    # Hovering a coloured token: its tooltip (title) holds the exact attribution.
    strongest = int(np.argmax(np.abs(expected.attributions)))
    token = page.locator(".intgrad-token").nth(strongest - 1)  # [CLS] is a special chip
    token.hover()
    assert token.inner_text() == expected.tokens[strongest]
    tip = token.get_attribute("title")
    assert tip is not None
    assert float(tip.splitlines()[0].removeprefix("attribution: ")) == pytest.approx(
        float(expected.attributions[strongest]), rel=1e-12
    )

    folder = os.environ.get("INTGRAD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / "app-text.png"), full_page=True)
