"""The same attribution under two revisions of intgrad, alternating, on this machine.

A regression check for changes of the engine: each revision's ``src`` is taken with
``git archive`` into a temporary folder and run in its own process, on the embedded
EfficientNet-Lite0 and one sample photo, Gauss–Legendre 48 steps and ``steps="auto"``, the
revisions alternating; it prints the best of three calls' seconds, the steps and the delta.

    .venv/bin/python benchmarks/compare_revisions.py --base 5884039 [--head HEAD] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys, time
import torch
torch.set_num_threads(2)
import intgrad
from intgrad.images import load_model, load_sample, prepare_image
loaded = load_model("efficientnet-lite0")
pixels, _ = prepare_image(load_sample(sys.argv[1]), (224, 224))
x = torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()
target = int(loaded.module(x).argmax())
steps = sys.argv[2] if sys.argv[2] == "auto" else int(sys.argv[2])
def run():
    return intgrad.integrated_gradients(
        loaded.module, x, target=target, steps=steps, output="probability"
    )
run()
times = []
for _ in range(3):
    start = time.perf_counter()
    result = run()
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": min(times), "steps": int(result.steps),
                  "delta": float(result.delta[0])}))
"""


def _export(revision: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _probe(source: Path, photo: str, steps: str) -> dict[str, float]:
    environment = {**os.environ, "PYTHONPATH": str(source)}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, photo, steps],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier revision")
    parser.add_argument("--head", default="HEAD", help="the later revision")
    parser.add_argument("--photo", default="chelsea")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        sources = {}
        for revision in (args.base, args.head):
            target = Path(folder) / revision.replace("/", "_")
            target.mkdir()
            sources[revision] = _export(revision, target)
        print("| round | revision | steps | seconds | steps used | delta |")
        print("|---|---|---|---|---|---|")
        for round_ in range(1, args.rounds + 1):
            for steps in ("48", "auto"):
                for revision, source in sources.items():
                    figures = _probe(source, args.photo, steps)
                    print(
                        f"| {round_} | {revision} | {steps} | {figures['seconds']:.2f} | "
                        f"{int(figures['steps'])} | {figures['delta']:.6g} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
