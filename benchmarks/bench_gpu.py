"""intgrad against Captum on a CUDA GPU, and intgrad's GPU levers (chunk size, autocast, compile).

Runs on a machine with an NVIDIA GPU (the project's CI has none; see docs/benchmarks-gpu.md for
the figures from one run). Same protocol as ``bench_captum.py``: the embedded EfficientNet-Lite0,
the sample photos padded to 224×224, target = the top class's probability, black baseline, both
tools on the same model object, timings alternated and synchronised with the device.

    python benchmarks/bench_gpu.py --part core     # chunk sweep, 4 figures, autocast (~3 min)
    python benchmarks/bench_gpu.py --part compile  # torch.compile, fp32 and bf16 (~4 min)
    python benchmarks/bench_gpu.py --report-only   # rewrite the markdown from the JSON

Each part writes ``benchmarks-gpu-<part>.json`` into ``--output-dir`` (default ``docs/``);
``--report-only`` turns the JSON files there into ``docs/benchmarks-gpu.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients

import intgrad
from intgrad.images import load_model, load_sample, prepare_image, top_k_predictions

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("chelsea", "coffee", "rocket", "astronaut")
BAR_L2, BAR_GAP = 0.03, 0.01
CAPTUM_LADDER = (32, 64, 96, 128, 160, 192, 256)
CHUNK_SWEEP = (8, 16, 32, 64, 128, 256)


@dataclass
class Photo:
    name: str
    pixels: torch.Tensor  # (1, 3, 224, 224) float32 on the device
    target: int
    reference: torch.Tensor  # (1, 3, 224, 224) float64 on the device
    change: float  # F(x) − F(x′) in float64


def synchronised(call: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of wall time for ``call()``, the device's queue drained before and after."""
    torch.cuda.synchronize()
    started = time.perf_counter()
    value = call()
    torch.cuda.synchronize()
    return time.perf_counter() - started, value


def accuracy(attributions: torch.Tensor, photo: Photo) -> tuple[float, float]:
    """Relative L2 error against the reference, and the relative completeness gap."""
    values = attributions.double()
    l2 = float((values - photo.reference).norm() / photo.reference.norm())
    gap = float(abs(values.sum() - photo.change) / abs(photo.change))
    return l2, gap


def ours(
    model: torch.nn.Module, photo: Photo, steps: int | str, **options: Any
) -> tuple[float, torch.Tensor, int]:
    seconds, result = synchronised(
        lambda: intgrad.integrated_gradients(
            model, photo.pixels, target=photo.target, steps=steps, output="probability", **options
        )
    )
    return seconds, result.attributions, result.steps


def captum(
    model: torch.nn.Module, photo: Photo, steps: int, batch: int | None = None
) -> tuple[float, torch.Tensor]:
    explainer = CaptumIntegratedGradients(lambda images: torch.softmax(model(images), dim=-1))
    seconds, (attributions, _) = synchronised(
        lambda: explainer.attribute(
            photo.pixels,
            target=photo.target,
            n_steps=steps,
            method="gausslegendre",
            internal_batch_size=batch,
            return_convergence_delta=True,
        )
    )
    return seconds, attributions


def load_photos(device: torch.device) -> tuple[torch.nn.Module, list[Photo]]:
    loaded = load_model()
    targets, pixels = [], []
    for name in NAMES:
        image, _ = prepare_image(load_sample(name), loaded.input_size)
        targets.append(top_k_predictions(loaded, image, 1)[0][0].index)
        pixels.append(torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None])))
    model = loaded.module.to(device)
    photos = []
    for name, target, tensor in zip(NAMES, targets, pixels, strict=True):
        tensor = tensor.to(device)
        reference = intgrad.integrated_gradients(
            model,
            tensor,
            target=target,
            steps=1025,
            method="riemann_trapezoid",
            output="probability",
            batch_size=128,
        )
        with torch.no_grad():
            both = torch.cat([tensor, torch.zeros_like(tensor)])
            probabilities = torch.softmax(model(both).double(), dim=-1)[:, target]
        change = float(probabilities[0] - probabilities[1])
        photos.append(Photo(name, tensor, target, reference.attributions.double(), change))
        print(f"reference {name}: target {target}, delta {reference.delta[0]:+.2e}", flush=True)
    return model, photos


def chunk_sweep(model: torch.nn.Module, photo: Photo) -> list[dict]:
    rows = []
    for chunk in CHUNK_SWEEP:
        ours(model, photo, 256, batch_size=chunk)  # warm-up for this shape
        torch.cuda.reset_peak_memory_stats()
        seconds = statistics.median(ours(model, photo, 256, batch_size=chunk)[0] for _ in range(3))
        rows.append(
            {
                "chunk_rows": chunk,
                "ms_per_step": 1000 * seconds / 256,
                "peak_mib": torch.cuda.max_memory_allocated() / 2**20,
            }
        )
        print(f"chunk sweep: {rows[-1]}", flush=True)
    return rows


def equal_settings(model: torch.nn.Module, photos: list[Photo], repeats: int) -> dict:
    rows = {}
    for photo in photos:
        ours(model, photo, 128)
        captum(model, photo, 128)
        mine, theirs = [], []
        for _ in range(repeats):
            mine.append(ours(model, photo, 128))
            theirs.append(captum(model, photo, 128))
        row = {
            "intgrad_s": statistics.median(r[0] for r in mine),
            "captum_s": statistics.median(r[0] for r in theirs),
            "intgrad_l2": accuracy(mine[0][1], photo)[0],
            "captum_l2": accuracy(theirs[0][1], photo)[0],
        }
        row["ratio"] = row["intgrad_s"] / row["captum_s"]
        rows[photo.name] = row
        print(f"equal settings {photo.name}: {row}", flush=True)
    return rows


def matched_accuracy(model: torch.nn.Module, photos: list[Photo], repeats: int) -> dict:
    rows = {}
    for photo in photos:
        fewest = CAPTUM_LADDER[-1]
        for steps in CAPTUM_LADDER:
            l2, gap = accuracy(captum(model, photo, steps)[1], photo)
            if l2 <= BAR_L2 and gap <= BAR_GAP:
                fewest = steps
                break
        autos, bests = [], []
        for _ in range(repeats):
            autos.append(ours(model, photo, "auto"))
            bests.append(captum(model, photo, fewest))
        auto_l2, auto_gap = accuracy(autos[0][1], photo)
        captum_l2, captum_gap = accuracy(bests[0][1], photo)
        row = {
            "auto_steps": autos[0][2],
            "auto_s": statistics.median(r[0] for r in autos),
            "auto_l2": auto_l2,
            "auto_gap": auto_gap,
            "captum_steps": fewest,
            "captum_s": statistics.median(r[0] for r in bests),
            "captum_l2": captum_l2,
            "captum_gap": captum_gap,
        }
        row["ratio"] = row["auto_s"] / row["captum_s"]
        rows[photo.name] = row
        print(f"matched accuracy {photo.name}: {row}", flush=True)
    return rows


def memory(model: torch.nn.Module, photo: Photo) -> dict:
    """Peak GPU memory at 50 and 1000 steps, with the default chunk and with 50 rows each."""
    peaks = {}
    for steps in (50, 1000):
        for batch in (None, 50):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            ours(model, photo, steps, batch_size=batch)
            peaks[steps, batch] = torch.cuda.max_memory_allocated() / 2**20
    result = {
        "peak_50_mib": peaks[50, None],
        "peak_1000_mib": peaks[1000, None],
        "peak_50_batch50_mib": peaks[50, 50],
        "peak_1000_batch50_mib": peaks[1000, 50],
    }
    result["ratio"] = result["peak_1000_mib"] / result["peak_50_mib"]
    result["ratio_batch50"] = result["peak_1000_batch50_mib"] / result["peak_50_batch50_mib"]
    print(f"memory: {result}", flush=True)
    return result


def throughput(model: torch.nn.Module, photos: list[Photo], count: int, steps: int) -> dict:
    images = torch.cat([photos[i % len(photos)].pixels for i in range(count)])
    targets = [photos[i % len(photos)].target for i in range(count)]

    def batched() -> Any:
        return intgrad.integrated_gradients(
            model, images, target=targets, steps=steps, output="probability"
        )

    def single() -> Any:
        return [
            intgrad.integrated_gradients(
                model, images[i : i + 1], target=targets[i], steps=steps, output="probability"
            )
            for i in range(count)
        ]

    batched()
    single()
    batched_s, single_s = [], []
    for _ in range(3):
        batched_s.append(synchronised(batched)[0])
        single_s.append(synchronised(single)[0])
    result = {
        "images": count,
        "steps": steps,
        "batched_images_per_s": count / statistics.median(batched_s),
        "single_images_per_s": count / statistics.median(single_s),
    }
    result["ratio"] = result["batched_images_per_s"] / result["single_images_per_s"]
    print(f"throughput: {result}", flush=True)
    return result


def levers(
    model: torch.nn.Module, photos: list[Photo], settings: list[tuple[str | None, bool | str]]
) -> list[dict]:
    """GL128 under each (autocast, compile_model) setting, on every photo, against eager fp32."""
    rows = []
    for photo in photos:
        baseline = ours(model, photo, 128)[1].double()
        for autocast, compile_model in settings:
            options = {"autocast": autocast, "compile_model": compile_model}
            first_s, attributions, _ = ours(model, photo, 128, **options)
            times = [ours(model, photo, 128, **options)[0] for _ in range(5)]
            captum_s = statistics.median(captum(model, photo, 128)[0] for _ in range(3))
            l2, gap = accuracy(attributions, photo)
            change = float((attributions.double() - baseline).norm() / baseline.norm())
            rows.append(
                {
                    "photo": photo.name,
                    "autocast": autocast or "float32",
                    "compiled": compile_model,
                    "first_call_s": first_s,
                    "s": statistics.median(times),
                    "captum_s": captum_s,
                    "l2_vs_float32": change,
                    "l2": l2,
                    "gap": gap,
                }
            )
            print(f"levers: {rows[-1]}", flush=True)
    return rows


def precision(model: torch.nn.Module, photos: list[Photo]) -> list[dict]:
    """Arithmetic error alone: GL128 under each setting against GL128 computed in float64.

    The float64 run uses a copy of the model (the benchmark's own object) in float64, so the
    quadrature rule is the same and only the arithmetic differs.
    """
    import copy

    exact_model = copy.deepcopy(model).double()
    settings: list[tuple[bool, str | None, bool | str]] = [
        (True, None, False),
        (False, None, False),
        (False, "float16", False),
        (False, "bfloat16", False),
        (True, None, True),
        (False, None, True),
    ]
    rows = []
    for photo in photos:
        exact = intgrad.integrated_gradients(
            exact_model,
            photo.pixels.double(),
            target=photo.target,
            steps=128,
            output="probability",
            batch_size=64,
        ).attributions
        for tf32, autocast, compile_model in settings:
            if compile_model:
                torch._dynamo.reset()  # compiled code keeps the TF32 choice it was built with
            options = {"autocast": autocast, "compile_model": compile_model, "allow_tf32": tf32}
            _, attributions, _ = ours(model, photo, 128, **options)
            seconds = statistics.median(ours(model, photo, 128, **options)[0] for _ in range(3))
            error = float((attributions.double() - exact).norm() / exact.norm())
            rows.append(
                {
                    "photo": photo.name,
                    "tf32": tf32,
                    "autocast": autocast or "float32",
                    "compiled": compile_model,
                    "s": seconds,
                    "l2_vs_float64": error,
                }
            )
            print(f"precision: {rows[-1]}", flush=True)
    return rows


def machine() -> str:
    properties = torch.cuda.get_device_properties(0)
    return (
        f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB), torch {torch.__version__},"
        f" CUDA {torch.version.cuda}, captum {__import__('captum').__version__}"
    )


def _summary(core: dict, compiled: dict | None, directory: Path) -> list[str]:
    """The findings in a few lines, with the numbers read from the results."""
    equal = core["equal"].values()
    lines = [
        "What this run says:",
        "",
        f"- **Same time, better attributions.** At equal settings intgrad takes"
        f" {min(r['ratio'] for r in equal):.2f}–{max(r['ratio'] for r in equal):.2f} of"
        " Captum's time, and its L2 error is lower"
        f" ({min(r['intgrad_l2'] for r in equal):.3f}–{max(r['intgrad_l2'] for r in equal):.3f}"
        f" against {min(r['captum_l2'] for r in equal):.3f}–"
        f"{max(r['captum_l2'] for r in equal):.3f}): PyTorch lets cuDNN run float32"
        " convolutions in TF32 by default, and intgrad switches that off for the call"
        " (`allow_tf32=True` keeps it).",
    ]
    precision_path = directory / "benchmarks-gpu-precision.json"
    if precision_path.exists():
        rows = json.loads(precision_path.read_text())["precision"]

        def errors(tf32: bool, autocast: str, compiled: bool) -> str:
            found = [
                r["l2_vs_float64"]
                for r in rows
                if (r["tf32"], r["autocast"], bool(r["compiled"])) == (tf32, autocast, compiled)
            ]
            return f"{100 * min(found):.2f}–{100 * max(found):.2f} %"

        lines.append(
            f"- **Arithmetic error** against float64: TF32 {errors(True, 'float32', False)},"
            f" full float32 {errors(False, 'float32', False)}, float16 autocast"
            f" {errors(False, 'float16', False)}, bfloat16 autocast"
            f" {errors(False, 'bfloat16', False)}. Mixed precision is not worth it on this"
            " model: it gains little time and costs more error than the whole 3 % bar."
        )
    if compiled:
        first = max(r["first_call_s"] for r in compiled["levers"])
        lines.append(
            f"- **torch.compile**: the first call compiles (up to {first:.0f} s here); later"
            " calls run about as fast as eager ones on this small model (table below)."
        )
    lines += [
        "- **`steps='auto'` on a GPU** wins only where Captum needs many steps (rocket):"
        " each of its levels is one model call, and a call of a few rows costs nearly as much"
        " as one of 128 (chunk table), so a single large fixed-step call is usually faster"
        " there. On a GPU, prefer a fixed `steps` unless the error estimate is wanted.",
        "",
    ]
    return lines


def _compiled_name(mode: bool | str) -> str:
    return "yes" if mode is True else "no" if mode is False else mode


def write_report(directory: Path, destination: Path) -> None:
    core = json.loads((directory / "benchmarks-gpu-core.json").read_text())
    compiled_path = directory / "benchmarks-gpu-compile.json"
    compiled = json.loads(compiled_path.read_text()) if compiled_path.exists() else None
    lines = [
        "# Benchmarks on a GPU: intgrad against Captum, and the GPU levers",
        "",
        f"Produced by `{core['command']}` (see `benchmarks/bench_gpu.py`) on {core['machine']}.",
        "Same protocol as [the CPU benchmarks](benchmarks.md): embedded EfficientNet-Lite0,"
        " target = top class probability, black baseline, both tools on one model object,"
        " timings alternated, each synchronised with the device, medians reported.",
        "",
        *_summary(core, compiled, directory),
        "## Chunk size (intgrad, Gauss–Legendre 256 steps, chelsea)",
        "",
        "| rows per chunk | ms per step | peak GPU memory, MiB |",
        "|---|---|---|",
    ]
    for row in core["chunks"]:
        lines.append(f"| {row['chunk_rows']} | {row['ms_per_step']:.2f} | {row['peak_mib']:.0f} |")
    lines += [
        "",
        "intgrad's default on a GPU is 2^24 input elements per chunk (111 rows of a 224×224"
        " RGB photo); on the CPU it is 2^20 (6 rows).",
        "",
        "## 1. Equal settings: Gauss–Legendre, 128 steps",
        "",
        "| photo | intgrad s | Captum s | ratio | intgrad L2 | Captum L2 |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in core["equal"].items():
        lines.append(
            f"| {name} | {row['intgrad_s']:.3f} | {row['captum_s']:.3f} | "
            f"**{row['ratio']:.2f}** | {row['intgrad_l2']:.4f} | {row['captum_l2']:.4f} |"
        )
    lines += [
        "",
        "## 2. Matched accuracy: L2 ≤ 3 % and gap ≤ 1 %",
        "",
        "| photo | intgrad auto: steps, s, L2, gap | Captum: fewest steps, s, L2, gap | ratio |",
        "|---|---|---|---|",
    ]
    for name, row in core["matched"].items():
        lines.append(
            f"| {name} | {row['auto_steps']}, {row['auto_s']:.3f}, {row['auto_l2']:.4f},"
            f" {row['auto_gap']:.4f} | {row['captum_steps']}, {row['captum_s']:.3f},"
            f" {row['captum_l2']:.4f}, {row['captum_gap']:.4f} | **{row['ratio']:.2f}** |"
        )
    memory_row, speed = core["memory"], core["throughput"]
    lines += [
        "",
        "## 3. Memory: peak GPU memory at 1000 steps vs 50 steps",
        "",
        f"Default chunk: {memory_row['peak_50_mib']:.0f} MiB at 50 steps,"
        f" {memory_row['peak_1000_mib']:.0f} MiB at 1000 steps"
        f" (`torch.cuda.max_memory_allocated`): ratio **{memory_row['ratio']:.2f}**. At 50"
        " steps the whole path is one chunk of 50 rows; at 1000 steps the chunks hold 100 rows"
        " (the default budget), so the peak follows the chunk, not the steps. With"
        f" `batch_size=50` for both: {memory_row['peak_50_batch50_mib']:.0f} and"
        f" {memory_row['peak_1000_batch50_mib']:.0f} MiB, ratio"
        f" **{memory_row['ratio_batch50']:.3f}**.",
        "",
        "## 4. Throughput: 16 images in one call vs one call per image",
        "",
        f"{speed['batched_images_per_s']:.1f} images/s batched,"
        f" {speed['single_images_per_s']:.1f} images/s one at a time ({speed['steps']} steps):"
        f" ratio **{speed['ratio']:.2f}**.",
        "",
        "## Levers: autocast and torch.compile (Gauss–Legendre, 128 steps)",
        "",
        "`l2 vs float32` compares with the eager float32 result of the same rule; `L2` and"
        " `gap` are against the 1025-step float32 reference, as above.",
        "",
        "| photo | precision | compiled | first call s | s | Captum s | L2 vs float32 | L2 | gap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in core["levers"] + (compiled["levers"] if compiled else []):
        lines.append(
            f"| {row['photo']} | {row['autocast']} | {_compiled_name(row['compiled'])} |"
            f" {row['first_call_s']:.2f} | {row['s']:.3f} | {row['captum_s']:.3f} |"
            f" {row['l2_vs_float32']:.4f} |"
            f" {row['l2']:.4f} | {row['gap']:.4f} |"
        )
    if compiled:
        lines += ["", f"Compiled rows produced by `{compiled['command']}`."]
    precision_path = directory / "benchmarks-gpu-precision.json"
    if precision_path.exists():
        measured = json.loads(precision_path.read_text())
        lines += [
            "",
            "## Arithmetic error alone: each setting against the same rule in float64",
            "",
            f"Produced by `{measured['command']}`. Gauss–Legendre 128 steps; the reference is"
            " the same rule run on a float64 copy of the model, so the number is the error that"
            " the arithmetic adds, with no quadrature error in it.",
            "",
            "| photo | TF32 | precision | compiled | s | L2 vs float64 |",
            "|---|---|---|---|---|---|",
        ]
        for row in measured["precision"]:
            lines.append(
                f"| {row['photo']} | {'on' if row['tf32'] else 'off'} | {row['autocast']} |"
                f" {_compiled_name(row['compiled'])} | {row['s']:.3f} |"
                f" {row['l2_vs_float64']:.4f} |"
            )
    lines.append("")
    destination.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("core", "compile", "precision"), default="core")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "docs")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.report_only:
        write_report(args.output_dir, ROOT / "docs" / "benchmarks-gpu.md")
        return
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA GPU")
    model, photos = load_photos(torch.device("cuda"))
    results: dict[str, Any] = {
        "machine": machine(),
        "command": f"python benchmarks/bench_gpu.py --part {args.part}",
    }
    if args.part == "core":
        results["chunks"] = chunk_sweep(model, photos[0])
        results["equal"] = equal_settings(model, photos, repeats=5)
        results["matched"] = matched_accuracy(model, photos, repeats=3)
        results["memory"] = memory(model, photos[1])
        results["throughput"] = throughput(model, photos, 16, 64)
        eager = [(None, False), ("bfloat16", False), ("float16", False)]
        results["levers"] = levers(model, photos[:2], eager)
    elif args.part == "compile":
        compiled = [(None, True), ("bfloat16", True), (None, "reduce-overhead")]
        results["levers"] = levers(model, photos[:2], compiled)
    else:
        results["precision"] = precision(model, photos[:2])
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"benchmarks-gpu-{args.part}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
