"""``steps="auto"``'s pilot grid and gap move, compared on ten photos against references.

For each photo (the six of ``bench_captum.py`` and scikit-image's ``hubble_deep_field``,
``immunohistochemistry``, ``stereo_motorcycle`` and ``retina``) a 1025-point trapezoid
reference is computed, then ``integrated_gradients(..., steps="auto", output="probability")``
runs at the default tolerance with the pilot grid at 16, 8, 6 and 4 intervals, and at the
default grid without the gap move (``_correction`` made to find none, so the gap is met by
refinement alone). Reported per run: gradient evaluations, forward passes, and the relative L2
error and completeness gap *measured* against the reference. Counts and errors do not depend on
the machine's speed. Writes ``docs/benchmarks-adaptive.md``; about 8 minutes on 2 cores.

    .venv/bin/python benchmarks/adaptive_settings.py
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import bench_captum as bench  # this script's folder is on sys.path when run as a file
import intgrad
from intgrad._core import adaptive

ROOT = Path(__file__).resolve().parents[1]
EXTRA_PHOTOS = ("hubble_deep_field", "immunohistochemistry", "stereo_motorcycle", "retina")
GRIDS = (16, 8, 6, 4)


def _photo(model: Any, name: str, reference_steps: int) -> bench.Photo:
    if name in bench.PHOTOS:
        return bench.photo_of(model, name, bench.load_photo(name), reference_steps)
    import skimage.data

    image = getattr(skimage.data, name)()
    image = image[0] if isinstance(image, tuple) else image  # stereo pairs: the left view
    return bench.photo_of(model, name, np.asarray(image, dtype=np.float32) / 255, reference_steps)


@contextlib.contextmanager
def _variant(grid: int, move: bool) -> Iterator[None]:
    saved = adaptive.PILOT_INTERVALS, adaptive._correction
    adaptive.PILOT_INTERVALS = grid
    if not move:
        adaptive._correction = lambda *args: None
    try:
        yield
    finally:
        adaptive.PILOT_INTERVALS, adaptive._correction = saved


def main() -> None:
    torch.set_num_threads(2)
    model = bench.load_model()
    photos = [_photo(model, name, 1025) for name in (*bench.PHOTOS, *EXTRA_PHOTOS)]
    variants = [(grid, True) for grid in GRIDS] + [(adaptive.PILOT_INTERVALS, False)]
    rows: dict[tuple[int, bool], list[tuple[int, int, float, float]]] = {}
    for grid, move in variants:
        with _variant(grid, move):
            for photo in photos:
                result = intgrad.integrated_gradients(
                    model.module,
                    photo.pixels,
                    target=photo.target,
                    steps="auto",
                    output="probability",
                )
                change = bench._change(model.module, photo)
                l2, gap = bench._accuracy(result.attributions.double().numpy(), photo, change)
                rows.setdefault((grid, move), []).append(
                    (int(result.steps), int(result.forward_evaluations), l2, gap)
                )
                print(grid, move, photo.name, rows[(grid, move)][-1], flush=True)
    lines = [
        "# steps='auto': pilot grid and gap move",
        "",
        "Produced by `benchmarks/adaptive_settings.py` (the default tolerance: gap ≤ 1 %,"
        " estimated L2 ≤ 3 %; relative L2 and gap measured against 1025-point trapezoid"
        " references; EfficientNet-Lite0, top class probability, black baseline). Each cell:"
        " gradient evaluations / forward passes, then measured L2 % and gap %.",
        "",
        "| photo | " + " | ".join(_label(grid, move) for grid, move in variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for index, photo in enumerate(photos):
        cells = []
        for key in variants:
            steps, forwards, l2, gap = rows[key][index]
            cells.append(f"{steps}/{forwards}, {100 * l2:.2f} %, {100 * gap:.2f} %")
        lines.append(f"| {photo.name} | " + " | ".join(cells) + " |")
    totals = [sum(r[0] for r in rows[key]) for key in variants]
    lines.append("| **all, gradient evaluations** | " + " | ".join(map(str, totals)) + " |")
    met = [sum(r[2] <= bench.BAR_L2 and r[3] <= bench.BAR_GAP for r in rows[k]) for k in variants]
    lines.append(
        "| **within both bars** | " + " | ".join(f"{m} of {len(photos)}" for m in met) + " |"
    )
    path = ROOT / "docs" / "benchmarks-adaptive.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")


def _label(grid: int, move: bool) -> str:
    return f"pilot {grid}" + ("" if move else ", no gap move")


if __name__ == "__main__":
    main()
