"""The datasets and drift view in a real browser (Debian's chromium through Playwright).

The shared app has no summary folder, so this module serves its own app over two real
summaries (200 Adult test rows, and as many re-sampled by age); the browser opens one from the
list, reads the feature table and waits for its pictures (the beeswarm and dependence plots
too: the job folders keep their shards), uploads the other through the file input and
compares the two. Screenshots go to ``$INTGRAD_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import browser_test_needs

browser_test_needs("pyarrow", reason="dataset jobs need the 'datasets' extra")

from intgrad.app import AppConfig, ModelRegistry, RunningApp, create_app, serve  # noqa: E402 (after the check above)
from intgrad.datasets import DatasetSummary, DriftThresholds, compare  # noqa: E402 (after the check above)
from tests.app.test_datasets import write_summaries  # noqa: E402 (after the check above)

ROWS_JS = """rows => rows.map(row => [row.dataset.feature, Number(row.dataset.value)])"""


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_summaries(tmp_path_factory.mktemp("browser-summaries"), rows=200, text=False)


@pytest.fixture(scope="module")
def served(summaries: Path) -> Iterator[RunningApp]:
    config = AppConfig(summary_dirs=(summaries,), workers=2, max_upload_bytes=2 * 1024 * 1024)
    running = serve(create_app(ModelRegistry.embedded(), config), "127.0.0.1", 0)
    yield running
    running.stop()


def _screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("INTGRAD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _wait_for_result(page: Any) -> None:
    """The job page reloads itself once the job stops; a failure would show its error."""
    page.wait_for_selector("#result[data-state=done], [data-testid=error]")
    assert page.locator("[data-testid=error]").count() == 0, page.inner_text("main")


def _picture_loaded(page: Any, testid: str) -> None:
    picture = page.locator(f"[data-testid={testid}]")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
    )


def test_open_a_summary_and_one_of_its_cohorts(
    page: Any, served: RunningApp, summaries: Path
) -> None:
    summary = DatasetSummary.load(summaries / "ref")
    page.goto(f"{served.url}/datasets")
    assert page.locator("[data-testid=summary-choice]").count() == 2
    page.locator('[data-testid=summary-choice][data-name="ref"] button').click()
    _wait_for_result(page)
    shown = page.locator("[data-testid=feature-row]").evaluate_all(ROWS_JS)
    features = summary.features
    assert [name for name, _ in shown] == list(features.ranking())
    assert [value for _, value in shown] == [
        float(features.mean_abs[features.index(n)]) for n, _ in shown
    ]
    explained = page.locator("[data-testid=explained]").get_attribute("data-value")
    assert int(explained) == summary.explained == 200
    for name in ("importance", "cohorts", "beeswarm", "dependence"):
        _picture_loaded(page, f"picture-{name}")
    _screenshot(page, "app-datasets.png")

    page.select_option("[data-testid=group-choice]", "cohort:sex=Female")
    page.click("[data-testid=show-group]")
    _wait_for_result(page)
    assert page.inner_text("[data-testid=group]") == "cohort:sex=Female"
    cohort = summary.cohort("sex=Female")
    shown = page.locator("[data-testid=feature-row]").evaluate_all(ROWS_JS)
    assert shown == [[n, float(cohort.mean_abs[cohort.index(n)])] for n in cohort.ranking()]
    _picture_loaded(page, "picture-importance")


def test_upload_a_summary_and_read_the_drift_verdict(
    page: Any, served: RunningApp, summaries: Path
) -> None:
    page.goto(f"{served.url}/datasets")
    bad = {"name": "notes.json", "mimeType": "application/json", "buffer": b"{not json"}
    page.set_input_files("[data-testid=summary-upload]", files=[bad])
    page.click("[data-testid=upload-summary]")
    message = page.inner_text("[data-testid=error]")
    assert message.startswith("notes.json: not a dataset summary (not JSON")

    page.goto(f"{served.url}/datasets")
    page.set_input_files("[data-testid=summary-upload]", str(summaries / "cur" / "summary.json"))
    page.click("[data-testid=upload-summary]")
    page.wait_for_url("**/datasets?uploaded=*")
    uploaded = page.locator("[data-testid=summary-choice]").nth(2).get_attribute("data-name")
    assert uploaded is not None and uploaded.startswith("upload:")
    page.select_option("[data-testid=drift-reference]", "ref")
    page.select_option("[data-testid=drift-current]", uploaded)
    page.fill("[data-testid=drift-js]", "0.1")
    page.click("[data-testid=compare-summaries]")
    _wait_for_result(page)

    report = compare(
        DatasetSummary.load(summaries / "ref"),
        DatasetSummary.load(summaries / "cur"),
        thresholds=DriftThresholds(js=0.1),
    )
    verdict = page.locator("[data-testid=drift-verdict]")
    assert verdict.get_attribute("data-verdict") == ("ok" if report.ok else "breached")
    flagged = page.locator("[data-testid=flagged-feature]").evaluate_all(
        "items => items.map(item => item.dataset.feature)"
    )
    assert flagged == list(report.flagged)
    inside = page.frame_locator("[data-testid=drift-report]").locator(".verdict strong")
    expected = "No drift" if report.ok else f"Drift detected: {len(report.flagged)} of"
    assert inside.inner_text().startswith(expected)
    _screenshot(page, "app-drift.png")
