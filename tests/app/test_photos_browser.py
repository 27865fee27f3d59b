"""The photos view in a real browser: upload, pick a target, read the overlay and the delta."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intgrad.images import ImageExplainer, load_sample

# The overlay's pixels as the browser decoded them: mean and spread of the RGB values.
_PIXEL_STATS = """(img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, squares = 0, count = 0;
  for (let i = 0; i < data.length; i += 4) {
    for (let c = 0; c < 3; c++) { sum += data[i + c]; squares += data[i + c] ** 2; count++; }
  }
  const mean = sum / count;
  return {width: canvas.width, height: canvas.height, mean: mean,
          std: Math.sqrt(squares / count - mean * mean)};
}"""


def _screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("INTGRAD_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _png_file(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "chelsea.png"
    pixels = (load_sample("chelsea") * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_upload_pick_a_target_and_read_the_overlay(page: Any, tmp_path: Path) -> None:
    photo = _png_file(tmp_path)
    page.goto("/photos")
    page.set_input_files('input[name="photo"]', str(photo))
    # The form's defaults, as a person would leave them (the README's screenshot is this page).
    assert page.input_value('input[name="steps"]') == "auto"
    assert page.input_value('input[name="tolerance"]') == "0.01"
    page.click('[data-testid="explain"]')
    page.wait_for_selector('[data-testid="delta"]')
    # Pick the second most probable class and explain it.
    second = page.locator('[data-testid="prediction"]').nth(1)
    target = int(second.get_attribute("data-index"))
    second.locator('[data-testid="explain-class"]').click()
    page.wait_for_selector(f'[data-testid="prediction"][data-index="{target}"] >> text=(explained)')
    page.wait_for_selector('[data-testid="delta"]')
    overlay = page.locator('img[data-testid="overlay"]')
    overlay.wait_for()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle()
    )
    stats = overlay.evaluate(_PIXEL_STATS)
    assert (stats["width"], stats["height"]) == (224, 224)
    assert 5 < stats["mean"] < 250 and stats["std"] > 10, stats  # not blank, not flat
    shown = float(page.locator('[data-testid="delta"]').get_attribute("data-value"))
    from PIL import Image

    decoded = np.asarray(Image.open(io.BytesIO(photo.read_bytes()))).astype(np.float32) / 255.0
    expected = ImageExplainer().explain([decoded], target=target, steps="auto", tolerance=0.01)[0]
    assert shown == pytest.approx(float(expected.result.delta[0]), rel=1e-6, abs=1e-9)
    steps = int(page.locator('[data-testid="steps"]').get_attribute("data-value"))
    assert steps == expected.summary()["steps"]
    # "auto" reached its tolerance: the page says so (green), as the library's gap does.
    assert abs(expected.summary()["relative_delta"]) <= 0.01
    assert page.locator('[data-testid="completeness"]').get_attribute("data-within") == "true"
    _screenshot(page, "app-photos.png")


def test_a_long_job_shows_progress_and_can_be_cancelled(page: Any) -> None:
    page.goto("/photos")
    page.select_option('select[name="sample"]', "astronaut")
    page.fill('input[name="steps"]', "480")
    page.select_option('select[name="rule"]', "riemann_middle")
    page.click('[data-testid="explain"]')
    page.wait_for_selector("#job-progress")
    page.wait_for_function("document.getElementById('job-progress').value > 0")
    assert "gradient evaluations" in page.locator("#job-progress-label").inner_text()
    page.click("#job-cancel")
    page.wait_for_selector('[data-testid="cancelled"]')
