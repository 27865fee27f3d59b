"""intgrad against Captum on the embedded EfficientNet-Lite0 and six photos.

Every figure is a ratio measured in this one run, the two tools alternating, on the same model
object, the same photos (padded to 224×224), target = the top class's probability, black
baseline. The photos: scikit-image's chelsea, coffee, rocket and astronaut (the samples of
``intgrad.images.load_sample``) and scikit-learn's china and flower
(``sklearn.datasets.load_sample_image``). Writes ``docs/benchmarks.md``, ``docs/benchmarks.json``
and ``docs/images/benchmark-error-vs-time.png`` when every section ran; with ``--only`` it
prints the report and writes ``docs/benchmarks-partial.json`` instead. Nothing is cached.

    .venv/bin/python benchmarks/bench_captum.py            # six photos (about 30 min)
    .venv/bin/python benchmarks/bench_captum.py --quick    # chelsea and china, fewer repeats
    .venv/bin/python benchmarks/bench_captum.py --only matched --photos astronaut,flower
    .venv/bin/python benchmarks/bench_captum.py --report-only   # rewrite the .md from the .json

The estimate is for the 2-core CPU of docs/benchmarks.md (2 torch threads; from a one-photo
smoke run): about 6 min are the six 1025-step references, 10 min equal settings, 5 min matched
accuracy, 5 min throughput. ``--quick`` takes about 12 min.

Sections (``--only`` takes their names, repeated or comma-separated):
1. ``equal``: equal settings (Gauss–Legendre, 128 steps): time of intgrad / time of Captum;
   ``chunks``: intgrad's time per step at several chunk sizes.
2. ``matched``: matched accuracy. The bars: relative L2 ≤ 3 % against a 1025-step trapezoid
   reference (``--reference-steps``) and completeness gap ≤ 1 %. Captum with
   ``internal_batch_size=32`` at the fewest Gauss–Legendre steps of 32/64/128/256 meeting both
   bars (else 256, marked) against intgrad ``steps="auto"`` at its default tolerance; whether
   intgrad's result meets both bars is measured, not estimated.
3. ``memory``: peak RSS of a fresh process at 1000 steps against 50 steps (default batch size).
4. ``throughput``: 16 photos (the photos cycled), ``steps="auto"``, in one
   ``explain_images`` call against one call per photo, and the gradient evaluations of each.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients

import intgrad
from intgrad.backends.torch import CPU_CHUNK_ELEMENTS
from intgrad.images import (
    ImageExplainer,
    explain_image,
    explain_images,
    load_model,
    load_sample,
    prepare_image,
    sample_names,
    top_k_predictions,
)

ROOT = Path(__file__).resolve().parents[1]
BAR_L2, BAR_GAP = 0.03, 0.01
GOAL_GEOMEAN, GOAL_LARGEST, GOAL_THROUGHPUT, GOAL_EQUAL = 0.2, 0.5, 1.5, 0.5
CAPTUM_LADDER = (32, 64, 128, 256)
CAPTUM_BATCH = 32  # Captum's internal_batch_size in the matched-accuracy section
FIXED_LADDER = (16, 32, 64, 128)
CHUNK = CPU_CHUNK_ELEMENTS // (3 * 224 * 224)  # intgrad's default rows per chunk for a photo
CHUNK_SWEEP = (2, 3, 4, 6, 8, 16, 32)
SKLEARN_PHOTOS = ("china", "flower")
PHOTOS = (*sample_names(), *SKLEARN_PHOTOS)
QUICK_PHOTOS = ("chelsea", "china")
SECTIONS = ("equal", "chunks", "matched", "memory", "throughput")
PHOTO_SOURCES = {
    **{name: "scikit-image" for name in sample_names()},
    **{name: "scikit-learn" for name in SKLEARN_PHOTOS},
}


@dataclass
class Photo:
    name: str
    pixels: torch.Tensor  # (1, 3, 224, 224) float32 in [0, 1]
    target: int
    reference: np.ndarray | None  # (1, 3, 224, 224) float64; None when no section needs it


@dataclass
class Run:
    seconds: float
    l2: float
    gap: float
    steps: int


def load_photo(name: str) -> np.ndarray:
    """A photo as float32 RGB (height, width, 3) in [0, 1], at its own size."""
    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(f"{name}.jpg"), dtype=np.float32) / 255
    return load_sample(name)


def _meets(l2: float, gap: float) -> bool:
    return l2 <= BAR_L2 and gap <= BAR_GAP


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def _accuracy(attributions: np.ndarray, photo: Photo, change: float) -> tuple[float, float]:
    gap = float(abs(attributions.sum() - change) / abs(change))
    if photo.reference is None:
        return math.nan, gap
    reference = photo.reference
    l2 = float(np.linalg.norm(attributions - reference) / np.linalg.norm(reference))
    return l2, gap


def _change(model: torch.nn.Module, photo: Photo) -> float:
    with torch.no_grad():
        both = torch.cat([photo.pixels, torch.zeros_like(photo.pixels)])
        probabilities = torch.softmax(model(both).double(), dim=-1)[:, photo.target]
    return float(probabilities[0] - probabilities[1])


def run_intgrad(
    model: torch.nn.Module, photo: Photo, steps: int | str, change: float, **options: Any
) -> Run:
    def call() -> intgrad.Attribution:
        return intgrad.integrated_gradients(
            model, photo.pixels, target=photo.target, steps=steps, output="probability", **options
        )

    seconds, result = _timed(call)
    l2, gap = _accuracy(result.attributions.double().numpy(), photo, change)
    return Run(seconds, l2, gap, result.steps)


def run_captum(
    model: torch.nn.Module, photo: Photo, steps: int, change: float, batch: int | None = None
) -> Run:
    def probability(images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(images), dim=-1)

    explainer = CaptumIntegratedGradients(probability)

    def call() -> Any:
        return explainer.attribute(
            photo.pixels,
            target=photo.target,
            n_steps=steps,
            method="gausslegendre",
            internal_batch_size=batch,
            return_convergence_delta=True,
        )

    seconds, (attributions, _) = _timed(call)
    l2, gap = _accuracy(attributions.double().numpy(), photo, change)
    return Run(seconds, l2, gap, steps)


def load_photos(model: Any, names: list[str], reference_steps: int | None) -> list[Photo]:
    """The photos at the model's size, their top class and (unless None) their reference."""
    return [photo_of(model, name, load_photo(name), reference_steps) for name in names]


def photo_of(model: Any, name: str, image: np.ndarray, reference_steps: int | None) -> Photo:
    """``image`` (float RGB in [0, 1], any size) at the model's size, its top class and
    (unless None) its ``reference_steps``-point trapezoid reference."""
    pixels, _ = prepare_image(image, model.input_size)
    target = top_k_predictions(model, pixels, 1)[0][0].index
    tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)[None]))
    if reference_steps is None:
        return Photo(name, tensor, target, None)
    reference = intgrad.integrated_gradients(
        model.module,
        tensor,
        target=target,
        steps=reference_steps,
        method="riemann_trapezoid",
        output="probability",
    )
    print(f"reference for {name}: target {target}, delta {reference.delta[0]:+.2e}", flush=True)
    return Photo(name, tensor, target, reference.attributions.double().numpy())


def equal_settings(model: torch.nn.Module, photos: list[Photo], repeats: int) -> dict:
    rows = {}
    for photo in photos:
        change = _change(model, photo)
        ours, theirs, chunked, plain = [], [], [], []
        for _ in range(repeats):  # alternate so drift hits both tools alike
            ours.append(run_intgrad(model, photo, 128, change))
            theirs.append(run_captum(model, photo, 128, change))
            chunked.append(run_captum(model, photo, 128, change, batch=CHUNK))
            plain.append(run_intgrad(model, photo, 128, change, channels_last=False))
        rows[photo.name] = {
            "intgrad_s": statistics.median(r.seconds for r in ours),
            "intgrad_model_itself_s": statistics.median(r.seconds for r in plain),
            "captum_s": statistics.median(r.seconds for r in theirs),
            "captum_chunked_s": statistics.median(r.seconds for r in chunked),
            "intgrad_l2": ours[0].l2,
            "captum_l2": theirs[0].l2,
        }
        rows[photo.name]["ratio"] = rows[photo.name]["intgrad_s"] / rows[photo.name]["captum_s"]
        print(f"equal settings {photo.name}: {rows[photo.name]}", flush=True)
    return rows


def chunk_sweep(model: torch.nn.Module, photo: Photo, steps: int = 48) -> dict:
    """Milliseconds per gradient step of intgrad at several chunk sizes (alternated, medians)."""
    change = _change(model, photo)
    times: dict[int, list[float]] = {rows: [] for rows in CHUNK_SWEEP}
    for _ in range(2):
        for rows in CHUNK_SWEEP:
            times[rows].append(run_intgrad(model, photo, steps, change, batch_size=rows).seconds)
    result = {
        "photo": photo.name,
        "steps": steps,
        "rows": [
            {"chunk_rows": rows, "ms_per_step": 1000 * statistics.median(seconds) / steps}
            for rows, seconds in times.items()
        ],
    }
    print(f"chunk sweep {photo.name}: {result}", flush=True)
    return result


def matched_accuracy(model: torch.nn.Module, photos: list[Photo]) -> tuple[dict, dict]:
    """Per photo: intgrad ``steps="auto"`` against Captum at its fewest ladder steps meeting
    both bars; also the error-against-time curves of the figure."""
    rows, curves = {}, {}
    for photo in photos:
        change = _change(model, photo)
        ladder = []
        for steps in CAPTUM_LADDER:
            ladder.append(run_captum(model, photo, steps, change, batch=CAPTUM_BATCH))
            if _meets(ladder[-1].l2, ladder[-1].gap):
                break
        fixed = [run_intgrad(model, photo, steps, change) for steps in FIXED_LADDER]
        # The two timed runs, alternating, twice each; the medians are compared.
        autos, bests = [], []
        for _ in range(2):
            autos.append(run_intgrad(model, photo, "auto", change))
            bests.append(run_captum(model, photo, ladder[-1].steps, change, batch=CAPTUM_BATCH))
        auto = Run(
            statistics.median(r.seconds for r in autos), autos[0].l2, autos[0].gap, autos[0].steps
        )
        best = Run(
            statistics.median(r.seconds for r in bests), bests[0].l2, bests[0].gap, bests[0].steps
        )
        rows[photo.name] = {
            "target": photo.target,
            "auto_steps": auto.steps,
            "auto_steps_runs": [r.steps for r in autos],
            "auto_s": auto.seconds,
            "auto_l2": auto.l2,
            "auto_gap": auto.gap,
            "auto_meets_both": _meets(auto.l2, auto.gap),
            "captum_steps": best.steps,
            "captum_s": best.seconds,
            "captum_l2": best.l2,
            "captum_gap": best.gap,
            "captum_meets_bar": _meets(best.l2, best.gap),
            "ratio": auto.seconds / best.seconds,
        }
        curves[photo.name] = {
            "auto": [asdict(auto)],
            "fixed": [asdict(r) for r in fixed],
            "captum": [asdict(r) for r in ladder],
        }
        print(f"matched accuracy {photo.name}: {rows[photo.name]}", flush=True)
    return rows, curves


# VmHWM is the peak resident set of this process image; ru_maxrss would carry over the parent's
# peak across fork + exec.
_MEMORY_CHILD = """
import re, sys, torch, numpy as np, intgrad
from intgrad.images import load_model, load_sample, prepare_image
model = load_model()
pixels, _ = prepare_image(load_sample("coffee"), model.input_size)
x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)[None]))
intgrad.integrated_gradients(model.module, x, target=967, steps=int(sys.argv[1]),
                             output="probability")
status = open("/proc/self/status").read()
print(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
"""


def memory() -> dict:
    peaks = {}
    for steps in (50, 1000):
        completed = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(steps)],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks[steps] = int(completed.stdout.split()[-1]) / 1024  # KiB → MiB
    result = {
        "rss_50_mib": peaks[50],
        "rss_1000_mib": peaks[1000],
        "ratio": peaks[1000] / peaks[50],
    }
    print(f"memory: {result}", flush=True)
    return result


def throughput(model: Any, names: list[str], count: int) -> dict:
    """``count`` photos (``names`` cycled), ``steps="auto"``: one batched call against one call
    per photo, on one ImageExplainer (one model object, one session) for both."""
    photos = [names[i % len(names)] for i in range(count)]
    images = [load_photo(name) for name in photos]
    session = ImageExplainer(model)

    def batched() -> list[Any]:
        return explain_images(images, model=session, steps="auto")

    def single() -> list[Any]:
        return [explain_image(image, model=session, steps="auto") for image in images]

    explain_image(images[0], model=session, steps="auto")  # warm-up: first calls pay set-up
    batched_runs, single_runs = [], []
    for _ in range(2):  # alternate, then take medians
        batched_runs.append(_timed(batched))
        single_runs.append(_timed(single))
    batched_s = statistics.median(seconds for seconds, _ in batched_runs)
    single_s = statistics.median(seconds for seconds, _ in single_runs)
    batched_steps = [e.result.steps for e in batched_runs[0][1]]
    single_steps = [e.result.steps for e in single_runs[0][1]]
    result = {
        "images": count,
        "photos": photos,
        "steps": "auto",
        "batched_s": batched_s,
        "single_s": single_s,
        "batched_images_per_s": count / batched_s,
        "single_images_per_s": count / single_s,
        "ratio": single_s / batched_s,
        "batched_evaluations": sum(batched_steps),
        "single_evaluations": sum(single_steps),
        "batched_steps": batched_steps,
        "single_steps": single_steps,
    }
    print(f"throughput: {result}", flush=True)
    return result


def plot(curves: dict, path: Path, reference_steps: int) -> None:
    from intgrad.viz.figures import new_figure, save_figure

    figure = new_figure((7, 4.5))
    axes = figure.add_subplot()
    styles = {
        "auto": ("intgrad steps='auto'", "o", "C0"),
        "fixed": ("intgrad fixed Gauss–Legendre", "s", "C1"),
        "captum": (f"Captum Gauss–Legendre, batch {CAPTUM_BATCH}", "^", "C2"),
    }
    for kind, (label, marker, colour) in styles.items():
        for index, (name, runs) in enumerate(curves.items()):
            points = sorted((r["seconds"], r["l2"]) for r in runs[kind])
            axes.plot(
                *zip(*points, strict=True),
                marker=marker,
                color=colour,
                label=label if index == 0 else None,
                alpha=0.8,
            )
            axes.annotate(name, points[-1], fontsize=7, color=colour)
    axes.axhline(BAR_L2, color="grey", linestyle="--", linewidth=1, label="3 % bar")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("seconds per photo")
    axes.set_ylabel(f"relative L2 error vs {reference_steps}-step reference")
    axes.legend(fontsize=8)
    save_figure(figure, path, dpi=110)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model_names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ]
        cpu = model_names[0] if model_names else cpu
    except OSError:
        pass
    return (
        f"{cpu}, {torch.get_num_threads()} torch threads, Python {platform.python_version()},"
        f" torch {torch.__version__}, captum {__import__('captum').__version__}"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _equal_lines(results: dict) -> list[str]:
    lines = [
        "",
        f"## 1. Equal settings: Gauss–Legendre, 128 steps (goal: ratio ≤ {GOAL_EQUAL})",
        "",
        "Each tool with its default batch size (intgrad's default chunk; Captum evaluates all"
        " steps in one batch).",
        "",
        f"| photo | intgrad s | Captum s | ratio | Captum, `internal_batch_size={CHUNK}`, s | "
        "intgrad, `channels_last=False`, s | intgrad L2 | Captum L2 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results["equal"].items():
        lines.append(
            f"| {name} | {row['intgrad_s']:.2f} | {row['captum_s']:.2f} | "
            f"**{row['ratio']:.2f}** | {row['captum_chunked_s']:.2f} | "
            f"{row['intgrad_model_itself_s']:.2f} | "
            f"{row['intgrad_l2']:.4f} | {row['captum_l2']:.4f} |"
        )
    largest = max(row["ratio"] for row in results["equal"].values())
    lines += [
        "",
        f"Largest ratio {largest:.2f}: goal {_verdict(largest <= GOAL_EQUAL)}.",
        "",
        "Most of the gain at equal settings is the chunk size: on this 2-core CPU a forward and"
        f" backward pass over 128 images at once is several times slower per image than over"
        f" {CHUNK} (the Captum column with `internal_batch_size={CHUNK}` shows what a tuned"
        " Captum call does)."
        " The rest is a private copy of the model, channels-last and with its eval-mode batch"
        " norms folded into the convolutions before them (the `channels_last=False` column"
        " calls the model itself), parameter gradients switched off, and accumulating each"
        " chunk as it goes, so memory stays flat.",
    ]
    return lines


def _chunk_lines(chunks: dict) -> list[str]:
    return [
        "",
        f"Chunk size on this CPU (intgrad, Gauss–Legendre {chunks['steps']} steps,"
        f" {chunks['photo']}; the default is {CHUNK} rows):",
        "",
        "| rows per chunk | ms per step |",
        "|---|---|",
        *(f"| {r['chunk_rows']} | {r['ms_per_step']:.1f} |" for r in chunks["rows"]),
    ]


def matched_summary(rows: dict) -> dict:
    """The section's three summary figures, computed from its rows."""
    ratios = {name: row["ratio"] for name, row in rows.items()}
    largest = max(ratios, key=lambda name: ratios[name])
    meeting = [name for name, row in rows.items() if _meets(row["auto_l2"], row["auto_gap"])]
    return {
        "geometric_mean_ratio": math.exp(statistics.fmean(math.log(r) for r in ratios.values())),
        "largest_ratio": ratios[largest],
        "largest_ratio_photo": largest,
        "photos_meeting_both_bars": len(meeting),
        "photos": len(rows),
    }


def _matched_lines(results: dict) -> list[str]:
    rows = results["matched"]
    reference_steps = results.get("reference_steps", 1025)
    ladder = "/".join(str(steps) for steps in CAPTUM_LADDER)
    lines = [
        "",
        "## 2. Matched accuracy: relative L2 ≤ 3 % and completeness gap ≤ 1 %",
        "",
        f"Protocol. The bars: relative L2 error ≤ {BAR_L2 * 100:.0f} % against a reference"
        f" ({reference_steps}-point trapezoid rule, computed by intgrad at the start of the run)"
        f" and completeness gap |Σ attributions − (F(x) − F(x′))| / |F(x) − F(x′)| ≤"
        f' {BAR_GAP * 100:.0f} %, both measured. Captum (`method="gausslegendre"`,'
        f" `internal_batch_size={CAPTUM_BATCH}`) runs at the fewest steps of the ladder"
        f" {ladder} that meet both bars (if none does, at {CAPTUM_LADDER[-1]}, marked †)."
        ' intgrad runs `integrated_gradients(..., steps="auto", output="probability")` at its'
        " default tolerance (it stops when its *estimated* gap ≤ 1 % and estimated L2 ≤ 3 %);"
        " whether its result meets both bars is measured against the reference here. The two"
        " calls are timed alternately, twice each, and the medians compared: ratio = intgrad s /"
        " Captum s. Goals: geometric mean of the ratios ≤"
        f" {GOAL_GEOMEAN}, no ratio above {GOAL_LARGEST}, every photo meeting both bars.",
        "",
        "| photo | intgrad steps | intgrad s | intgrad L2 | intgrad gap | meets both |"
        " Captum steps | Captum s | Captum L2 | Captum gap | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        mark = "" if row["captum_meets_bar"] else " †"
        meets = "yes" if _meets(row["auto_l2"], row["auto_gap"]) else "**no**"
        lines.append(
            f"| {name} | {row['auto_steps']} | {row['auto_s']:.2f} | {row['auto_l2']:.4f} | "
            f"{row['auto_gap']:.4f} | {meets} | {row['captum_steps']}{mark} | "
            f"{row['captum_s']:.2f} | {row['captum_l2']:.4f} | {row['captum_gap']:.4f} | "
            f"**{row['ratio']:.2f}** |"
        )
    summary = matched_summary(rows)
    geomean, largest = summary["geometric_mean_ratio"], summary["largest_ratio"]
    meeting, count = summary["photos_meeting_both_bars"], summary["photos"]
    lines += [
        "",
        f"- Geometric mean of the ratios: **{geomean:.3f}** (goal ≤ {GOAL_GEOMEAN}):"
        f" {_verdict(geomean <= GOAL_GEOMEAN)}.",
        f"- Largest ratio: **{largest:.3f}** ({summary['largest_ratio_photo']}; goal: none above"
        f" {GOAL_LARGEST}): {_verdict(largest <= GOAL_LARGEST)}.",
        f"- intgrad meets both bars on **{meeting} of {count}** photos (goal: all):"
        f" {_verdict(meeting == count)}.",
    ]
    above = [name for name, row in rows.items() if not row["captum_meets_bar"]]
    if above:
        lines.append(
            f"- † Captum's ladder ended above the bars on {', '.join(above)}: its ratio there is"
            " against a less accurate result."
        )
    return lines


def _throughput_lines(speed: dict) -> list[str]:
    count = speed["images"]
    ratio = speed["ratio"]
    same = speed.get("batched_evaluations") == speed.get("single_evaluations")
    lines = [
        "",
        f"## 4. Throughput: {count} photos in one call vs one call per photo"
        f" (goal: ≥ {GOAL_THROUGHPUT})",
        "",
    ]
    if "photos" in speed:
        cycled = ", ".join(dict.fromkeys(speed["photos"]))
        lines += [
            f"`explain_images` of {count} photos ({cycled} cycled) with"
            f" `steps={speed['steps']!r}` against `explain_image` once per photo, on one"
            " `ImageExplainer` (one model object); a warm-up call first, then the two ways"
            " alternately, twice each, medians.",
            "",
        ]
    lines += [
        f"{speed['batched_images_per_s']:.3f} images/s batched, {speed['single_images_per_s']:.3f}"
        f" images/s one at a time: ratio **{ratio:.2f}** (goal ≥ {GOAL_THROUGHPUT}):"
        f" {_verdict(ratio >= GOAL_THROUGHPUT)}.",
    ]
    if "batched_evaluations" in speed:
        lines += [
            "",
            f"Gradient evaluations (sum of each explanation's `result.steps`):"
            f" {speed['batched_evaluations']} batched, {speed['single_evaluations']} one at a"
            f" time — batching {'left the work unchanged' if same else 'changed the work'}"
            f" (ratio of work {speed['single_evaluations'] / speed['batched_evaluations']:.2f}"
            " one at a time / batched).",
        ]
    return lines


def render_report(results: dict, command: str) -> str:
    """The Markdown report of the sections in ``results``."""
    ran = results.get("sections") or [name for name in SECTIONS if name in results]
    names = results.get("photo_names") or list(results.get("matched") or results.get("equal") or [])
    sources = ", ".join(f"{name} ({PHOTO_SOURCES.get(name, '?')})" for name in names)
    lines = [
        "# Benchmarks: intgrad against Captum",
        "",
        f"Produced by `{command}` (see `benchmarks/bench_captum.py`), on {results['machine']}.",
        "Every figure is a ratio measured in that one run, the tools alternating, on the embedded",
        "EfficientNet-Lite0, target = top class probability, black baseline, photos padded to",
        f"224×224: {sources}.",
    ]
    if len(ran) < len(SECTIONS):
        lines += ["", f"Partial run: only {', '.join(ran)}."]
    if "equal" in ran:
        lines += _equal_lines(results)
    if "chunks" in ran:
        lines += _chunk_lines(results["chunks"])
    if "matched" in ran:
        lines += _matched_lines(results)
        if "curves" in results and len(ran) == len(SECTIONS):  # the figure is drawn then
            lines += [
                "",
                "![Relative L2 error against time per photo](images/benchmark-error-vs-time.png)",
            ]
    if "memory" in ran:
        memory_row = results["memory"]
        lines += [
            "",
            "## 3. Memory: peak RSS at 1000 steps vs 50 steps (goal: within 10 %)",
            "",
            f"{memory_row['rss_50_mib']:.0f} MiB at 50 steps, {memory_row['rss_1000_mib']:.0f}"
            f" MiB at 1000 steps: ratio **{memory_row['ratio']:.3f}** (fresh process each,"
            f" default batch): {_verdict(abs(memory_row['ratio'] - 1) <= 0.1)}.",
        ]
    if "throughput" in ran:
        lines += _throughput_lines(results["throughput"])
    return "\n".join([*lines, ""])


def write_report(results: dict, command: str) -> None:
    """All sections: docs/benchmarks.md, .json and the figure; some: print, partial .json."""
    report = render_report(results, command)
    ran = results.get("sections") or [name for name in SECTIONS if name in results]
    if set(ran) >= set(SECTIONS):
        if "curves" in results:
            plot(
                results["curves"],
                ROOT / "docs" / "images" / "benchmark-error-vs-time.png",
                results.get("reference_steps", 1025),
            )
        (ROOT / "docs" / "benchmarks.md").write_text(report)
        (ROOT / "docs" / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    else:
        (ROOT / "docs" / "benchmarks-partial.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report)


def _sections(values: list[str] | None) -> list[str]:
    if not values:
        return list(SECTIONS)
    chosen = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = chosen - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    return [name for name in SECTIONS if name in chosen]


def _photo_names(value: str | None, quick: bool) -> list[str]:
    if value is None:
        return list(QUICK_PHOTOS if quick else PHOTOS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in PHOTOS]
    if unknown or not names:
        raise SystemExit(f"--photos: unknown photo(s) {unknown}; choose from {PHOTOS}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="chelsea and china, fewer repeats")
    parser.add_argument("--photos", help=f"comma-separated photos, from {','.join(PHOTOS)}")
    parser.add_argument(
        "--only",
        action="append",
        metavar="SECTIONS",
        help=f"run only these sections ({'|'.join(SECTIONS)}; repeat or comma-separate)",
    )
    parser.add_argument(
        "--reference-steps",
        type=int,
        default=1025,
        help="trapezoid points of the reference (default 1025; fewer for smoke runs)",
    )
    parser.add_argument(
        "--throughput-images", type=int, default=16, help="photos in the throughput section"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite docs/benchmarks.md from its .json"
    )
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
        write_report(saved, saved["command"])
        return
    sections = _sections(args.only)
    names = _photo_names(args.photos, args.quick)
    started = time.perf_counter()
    model = load_model()
    needs_reference = bool({"equal", "matched"} & set(sections))
    photos = load_photos(model, names, args.reference_steps if needs_reference else None)
    results: dict[str, Any] = {
        "machine": machine(),
        "sections": sections,
        "photo_names": names,
        "reference_steps": args.reference_steps,
        "seconds": {"references": time.perf_counter() - started},
    }
    runs: dict[str, Callable[[], None]] = {
        "chunks": lambda: results.update(chunks=chunk_sweep(model.module, photos[0])),
        "equal": lambda: results.update(
            equal=equal_settings(model.module, photos, repeats=1 if args.quick else 2)
        ),
        "matched": lambda: results.update(
            dict(zip(("matched", "curves"), matched_accuracy(model.module, photos), strict=True))
        ),
        "memory": lambda: results.update(memory=memory()),
        "throughput": lambda: results.update(
            throughput=throughput(model, names, args.throughput_images)
        ),
    }
    for name in ("chunks", "equal", "matched", "memory", "throughput"):
        if name in sections:
            section_started = time.perf_counter()
            runs[name]()
            results["seconds"][name] = time.perf_counter() - section_started
    if "matched" in results:
        results["matched_summary"] = matched_summary(results["matched"])
    results["seconds"]["total"] = time.perf_counter() - started
    print(f"seconds: {results['seconds']}", flush=True)
    argv = " ".join(sys.argv[1:])
    results["command"] = "make bench" + (f" BENCH_ARGS='{argv}'" if argv else "")
    write_report(results, results["command"])


if __name__ == "__main__":
    main()
