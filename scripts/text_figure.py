"""The README's text picture: the demo sentences' HTML view, screenshotted by headless Chromium.

Run: ``.venv/bin/python scripts/text_figure.py`` (needs Debian's ``chromium``: ``apt install
chromium``); writes ``docs/images/text-example.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from intgrad.text import TextExplanation, explain_text
from intgrad.viz.text import save_text_html

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = (
    "a gripping, beautifully acted film",
    "the plot is thin and the jokes fall flat",
    "not bad at all, though far too long",
)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def main() -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("text_figure: needs chromium on PATH (apt install chromium)")
    explanations = explain_text(list(SENTENCES), steps="auto")
    assert isinstance(explanations, list) and all(
        isinstance(e, TextExplanation) for e in explanations
    )
    out = ROOT / "docs" / "images" / "text-example.png"
    with tempfile.TemporaryDirectory() as scratch:
        page = Path(scratch) / "text.html"
        save_text_html(explanations, page, level="words")
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={scratch}/profile",
                f"--screenshot={out}",
                "--window-size=900,540",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
