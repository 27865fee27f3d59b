"""The README's picture of the IG family: every method side by side on one sample photo.

Run: ``.venv/bin/python scripts/family_figure.py [--sample chelsea]``; writes
``docs/images/family-<sample>.png`` and prints each method's completeness gap and time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Literal

from intgrad.images import explain_images, load_sample
from intgrad.images.methods import IMAGE_ATTRIBUTIONS
from intgrad.viz.figures import new_figure, save_figure
from intgrad.viz.heatmaps import attribution_mask, overlay

ROOT = Path(__file__).resolve().parents[1]
# Steps per method: "auto" where the method integrates with a quadrature rule (IG and Blur IG
# stop at their completeness tolerance), PAIR's 128 for Guided IG's Riemann sum, 64 for
# IDGI (exact completeness at any count) and 32 inside SmoothGrad's 16 noisy copies.
STEPS: dict[str, int | Literal["auto"]] = {
    "ig": "auto",
    "expected-gradients": 32,
    "smoothgrad": 32,
    "blur-ig": "auto",
    "guided-ig": 128,
    "idgi": 64,
    "xrai": 64,
}
TITLES = {
    "ig": "Integrated Gradients",
    "expected-gradients": "Expected Gradients",
    "smoothgrad": "SmoothGrad (IG)",
    "blur-ig": "Blur IG",
    "guided-ig": "Guided IG",
    "idgi": "IDGI",
    "xrai": "XRAI (regions)",
}


# What the completeness gap under each panel measures, where it is not the method's own rule.
NOTES = {
    "expected-gradients": "Monte Carlo gap",  # zero only in expectation over the samples
    "xrai": "its IG's gap",  # XRAI ranks regions of IG from black and white baselines
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="chelsea")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    photo = load_sample(args.sample)
    panels = []
    for name in IMAGE_ATTRIBUTIONS:
        started = time.perf_counter()
        (explanation,) = explain_images([photo], attribution=name, steps=STEPS[name], seed=0)
        seconds = time.perf_counter() - started
        gap = explanation.result.relative_delta
        shown = "n/a" if gap is None else f"{float(gap[0]):.1%}"
        print(f"{name:>20}: relative completeness gap {shown}, {seconds:.1f} s")
        panels.append((name, explanation, shown))
    image = panels[0][1].image
    columns = (len(panels) + 2) // 2
    fig = new_figure((2.7 * columns, 6.2))
    axes = fig.subplots(2, columns).ravel()
    axes[0].imshow(image)
    axes[0].set_title(f"{args.sample}: {panels[0][1].target_label}", fontsize=9)
    for ax, (name, explanation, shown) in zip(axes[1:], panels, strict=True):
        mask = attribution_mask(explanation.attributions)
        ax.imshow(overlay(image, mask, alpha=0.7))
        ax.set_title(f"{TITLES[name]}\n{NOTES.get(name, 'gap')} {shown}", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    output = args.output or ROOT / "docs" / "images" / f"family-{args.sample}.png"
    save_figure(fig, output, dpi=110)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
