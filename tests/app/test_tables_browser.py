"""The Tables view in a real browser: edit a row, explain it, read the bars back, then change
a value again and read the what-if, all compared with the library called directly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import browser_test_needs

browser_test_needs("pandas")
browser_test_needs("torch")

from intgrad.tabular import TabularExplainer, load_adult  # noqa: E402 (after the check above)

TOLERANCE = 1e-6

READ_BARS = "els => els.map(e => [e.dataset.feature, Number(e.dataset.value)])"
READ_WHAT_IF = (
    "els => els.map(e => [e.dataset.label, Number(e.dataset.previous), Number(e.dataset.current),"
    " Number(e.dataset.change)])"
)


def test_edit_explain_and_what_if(page: Any) -> None:
    explainer = TabularExplainer("adult-mlp")
    row = load_adult("test").iloc[[5]].copy()

    page.goto("/tables?row=5")
    page.select_option('select[name="feature.occupation"]', "Exec-managerial")
    # The default steps, "auto", as a person would leave them (the README's screenshot).
    assert page.input_value('input[name="steps"]') == "auto"
    page.click('[data-testid="explain"]')
    page.wait_for_selector('[data-testid="delta"]')

    row["occupation"] = "Exec-managerial"
    first = explainer.explain(row, steps="auto")
    bars = dict(page.eval_on_selector_all('[data-testid="attribution"]', READ_BARS))
    assert list(bars) == list(explainer.schema.columns)
    for column, value in first.attributions.iloc[0].items():
        assert bars[column] == pytest.approx(value, abs=TOLERANCE), column
    delta = float(page.get_attribute('[data-testid="delta"]', "data-value"))
    assert delta == pytest.approx(first.delta.iloc[0], abs=TOLERANCE)

    # The what-if: the result's own form, prefilled with this row; change the hours.
    assert page.input_value('select[name="feature.occupation"]') == "Exec-managerial"
    page.fill('input[name="feature.hours_per_week"]', "60")
    page.click('[data-testid="explain"]')
    page.wait_for_selector('[data-testid="what-if"]')

    row["hours_per_week"] = 60
    second = explainer.explain(row, steps="auto")
    bars = dict(page.eval_on_selector_all('[data-testid="attribution"]', READ_BARS))
    for column, value in second.attributions.iloc[0].items():
        assert bars[column] == pytest.approx(value, abs=TOLERANCE), column
    change = page.locator('[data-testid="what-if-change"]')
    assert change.count() == 1
    assert change.get_attribute("data-feature") == "hours_per_week"
    assert (change.get_attribute("data-previous"), change.get_attribute("data-current")) == (
        "32",
        "60",
    )
    probabilities = page.eval_on_selector_all('[data-testid="what-if-probability"]', READ_WHAT_IF)
    assert [label for label, *_ in probabilities] == list(first.labels)
    for label, before, after, moved in probabilities:
        assert before == pytest.approx(first.probabilities.iloc[0][label], abs=TOLERANCE)
        assert after == pytest.approx(second.probabilities.iloc[0][label], abs=TOLERANCE)
        assert moved == pytest.approx(after - before, abs=1e-12)
    assert page.locator('[data-testid="attribution-previous"]').count() == len(bars)

    if os.environ.get("INTGRAD_SCREENSHOTS"):
        page.screenshot(
            path=str(Path(os.environ["INTGRAD_SCREENSHOTS"]) / "app-tables.png"), full_page=True
        )
