"""Reproduce the app's screenshots in docs/images (app-*.png) from its browser tests.

The browser tests (tests/app/test_*_browser.py) go through each view as a person would; with
``INTGRAD_SCREENSHOTS`` set they also save a full-page screenshot of what they see. Run with
``make screenshots`` (needs Debian's chromium; see the Makefile).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "images"


def _shrink(path: Path, width: int = 1000) -> None:
    """Scale a screenshot to ``width`` pixels and 256 colours (a few hundred KiB for README)."""
    from PIL import Image

    with Image.open(path) as shot:
        picture = shot.convert("RGB")
    if picture.width > width:
        height = round(picture.height * width / picture.width)
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> int:
    """Run the browser tests with screenshots on; returns pytest's exit code."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    tests = sorted(str(path) for path in (ROOT / "tests" / "app").glob("test_*_browser.py"))
    environment = {
        **os.environ,
        "INTGRAD_SCREENSHOTS": str(FOLDER),
        "INTGRAD_REQUIRE_BROWSER": "1",
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    code = subprocess.call(command, cwd=ROOT, env=environment)
    for shot in sorted(FOLDER.glob("app-*.png")):
        _shrink(shot)
        print(f"{shot.relative_to(ROOT)}: {shot.stat().st_size / 1024:.0f} KiB")
    return code


if __name__ == "__main__":
    sys.exit(main())
