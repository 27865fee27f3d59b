"""The README's dataset pictures: the Adult job's global plots and its drift report.

Runs what ``make demo`` runs for the Adult rows (5,000 train rows, 5,000 test rows, 5,000 test
rows re-sampled towards older people; the ``>50K`` probability explained, cohorts by sex), then
copies the importance, beeswarm and dependence plots to ``docs/images/`` and screenshots the
drift report with headless Chromium (``apt install chromium``).

Run: ``.venv/bin/python scripts/dataset_figures.py``
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from intgrad.cli import main as intgrad

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--hide-scrollbars",
)


def _run(*args: str) -> int:
    return intgrad(list(args))


def main() -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("dataset_figures: needs chromium on PATH (apt install chromium)")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        parts = {
            "train": ["--split", "train"],
            "test": ["--split", "test"],
            "older": ["--split", "test", "--resample-by", "age"],
        }
        for name, options in parts.items():
            assert (
                _run(
                    "tabular", "adult", *options, "--rows", "5000", "--output", f"{root}/{name}.csv"
                )
                == 0
            )
            explain = ["tabular", "explain", f"{root}/{name}.csv", "--output-dir", f"{root}/{name}"]
            assert _run(*explain, "--cohort", "sex", "--target", ">50K", "--quiet") == 0
        report = root / "drift-older.html"
        drift = ["drift", f"{root}/train", f"{root}/older", "--threshold", "js=0.05"]
        assert _run(*drift, "--html", str(report)) == 3
        for plot in ("importance", "beeswarm", "dependence"):
            shutil.copyfile(root / "train" / f"{plot}.png", IMAGES / f"adult-{plot}.png")
            print(f"wrote {IMAGES / f'adult-{plot}.png'}")
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={scratch}/profile",
                f"--screenshot={IMAGES / 'adult-drift.png'}",
                "--window-size=1000,900",
                report.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        print(f"wrote {IMAGES / 'adult-drift.png'}")


if __name__ == "__main__":
    main()
