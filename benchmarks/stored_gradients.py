"""Quadrature rules compared on gradients stored once along the path of one photo.

Evaluates the gradient of the top class probability at ``--points`` equally spaced alphas
(black baseline, embedded EfficientNet-Lite0), keeps them all in memory (about 1.2 GB for 2049
points), takes Simpson's rule over them as the reference, and then scores the uniform trapezoid
rule and Gauss–Legendre at many step counts without running the model again (gradients between
stored points are interpolated linearly). It shows how fast each rule's relative L2 error and
completeness gap fall on that photo, which is what limits any adaptive stopping rule.

    .venv/bin/python benchmarks/stored_gradients.py --photo astronaut   # about 2 minutes

Writes ``docs/stored-gradients-<photo>.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from intgrad.images import load_model, load_sample, prepare_image, top_k_predictions

ROOT = Path(__file__).resolve().parents[1]
BAR_L2 = 0.03
STEP_COUNTS = (9, 13, 17, 25, 33, 37, 41, 43, 45, 49, 65, 97, 129)


class StoredPath:
    """F and ∂F/∂x at equally spaced alphas from 0 to 1 for one photo (black baseline)."""

    def __init__(self, photo: str, points: int) -> None:
        loaded = load_model()
        image, _ = prepare_image(load_sample(photo), loaded.input_size)
        target = top_k_predictions(loaded, image, 1)[0][0].index
        model = loaded.module.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))
        self.alphas = np.linspace(0.0, 1.0, points)
        self.gradients = np.empty((points, x[0].numel()), dtype=np.float32)
        self.outputs = np.empty(points)
        for start in range(0, points, 6):
            alphas = torch.tensor(self.alphas[start : start + 6], dtype=torch.float32)
            path = (alphas.view(-1, 1, 1, 1) * x).requires_grad_(True)
            probability = torch.softmax(model(path), dim=-1)[:, target]
            (gradient,) = torch.autograd.grad(probability.sum(), path)
            self.gradients[start : start + 6] = gradient.reshape(len(alphas), -1).numpy()
            self.outputs[start : start + 6] = probability.detach().numpy()
        self.pixels = x.reshape(-1).double().numpy()
        simpson = np.ones(points)
        simpson[1:-1:2], simpson[2:-1:2] = 4.0, 2.0
        self.reference = (simpson / (3 * (points - 1))) @ self.gradients * self.pixels
        self.change = self.outputs[-1] - self.outputs[0]
        self.target = target

    def score(self, nodes: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
        """Relative L2 error against the reference and signed relative completeness gap."""
        position = np.clip(nodes, 0.0, 1.0) * (len(self.alphas) - 1)
        left = np.minimum(np.floor(position).astype(int), len(self.alphas) - 2)
        share = (position - left)[:, None]
        gradients = self.gradients[left] * (1 - share) + self.gradients[left + 1] * share
        attributions = (weights @ gradients) * self.pixels
        l2 = np.linalg.norm(attributions - self.reference) / np.linalg.norm(self.reference)
        return float(l2), float((attributions.sum() - self.change) / abs(self.change))


def trapezoid(steps: int) -> tuple[np.ndarray, np.ndarray]:
    weights = np.full(steps, 1.0 / (steps - 1))
    weights[[0, -1]] /= 2.0
    return np.linspace(0.0, 1.0, steps), weights


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (nodes + 1.0) / 2.0, weights / 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="astronaut")
    parser.add_argument("--points", type=int, default=2049, help="odd, for Simpson's rule")
    args = parser.parse_args()
    stored = StoredPath(args.photo, args.points)
    rules = {"trapezoid": trapezoid, "Gauss–Legendre": gauss_legendre}
    scores = {
        name: {n: stored.score(*rule(n)) for n in STEP_COUNTS} for name, rule in rules.items()
    }
    lines = [
        f"# Rules on stored gradients: {args.photo}",
        "",
        f"Produced by `.venv/bin/python benchmarks/stored_gradients.py --photo {args.photo}"
        f" --points {args.points}`: target {stored.target}, F(x) − F(x′) = {stored.change:.4f},"
        f" reference = Simpson's rule over {args.points} stored gradients.",
        "",
        "| steps | " + " | ".join(f"{name} L2 | {name} gap" for name in rules) + " |",
        "|---|" + "---|---|" * len(rules),
    ]
    for n in STEP_COUNTS:
        cells = " | ".join(
            f"{scores[name][n][0]:.4f} | {scores[name][n][1]:+.4f}" for name in rules
        )
        lines.append(f"| {n} | {cells} |")
    lines.append("")
    for name in rules:
        meeting = [n for n in STEP_COUNTS if scores[name][n][0] <= BAR_L2]
        gaps = [scores[name][n][1] for n in STEP_COUNTS if 13 <= n <= 97]
        slope = np.polyfit(
            np.log(STEP_COUNTS), np.log([scores[name][n][0] for n in STEP_COUNTS]), 1
        )
        lines.append(
            f"- {name}: fewest listed steps with L2 ≤ 3 %: {meeting[0] if meeting else 'none'};"
            f" gap from 13 to 97 steps between {100 * min(gaps):+.1f} % and"
            f" {100 * max(gaps):+.1f} %; L2 ≈ {np.exp(slope[1]):.2f} · steps^{slope[0]:.2f}."
        )
    lines.append("")
    path = ROOT / "docs" / f"stored-gradients-{args.photo}.md"
    path.write_text("\n".join(lines))
    print(path.read_text())


if __name__ == "__main__":
    main()
