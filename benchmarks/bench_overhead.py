"""Per-call overhead of a reused :class:`intgrad.Explainer`, in torch, TensorFlow and JAX.

The goal (issue 9): the second and later calls of the same shapes cost at most 10 ms more than
the compute they do. "The compute" is measured in the same run as a hand-written loop doing
the same model work in the framework — one forward pass over the end points and one
value-and-gradient pass over the path rows, compiled the same way (``jax.jit``,
``tf.function``, eager torch) — so the difference is what intgrad adds: planning, host
transfers, checks, assembling the result.

    .venv/bin/python benchmarks/bench_overhead.py            # writes docs/benchmarks-overhead.md

A small MLP (16 → 64 → 10, float32), 8 examples, 16 Gauss–Legendre steps, the completeness
check on: 16 end-point rows and 128 gradient rows per call, one chunk each.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import intgrad

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES, FEATURES, HIDDEN, CLASSES, STEPS = 8, 16, 64, 10, 16


def _weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(FEATURES, HIDDEN)).astype(np.float32) / 4,
        np.zeros(HIDDEN, np.float32),
        rng.normal(size=(HIDDEN, CLASSES)).astype(np.float32) / 8,
        np.zeros(CLASSES, np.float32),
    ]


def _rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The end points (x and x′ = 0) and the path points of the call, as intgrad builds them."""
    alphas = intgrad.quadrature_rule("gausslegendre", STEPS).alphas.astype(np.float32)
    ends = np.concatenate([x, np.zeros_like(x)])
    path = (alphas[None, :, None] * x[:, None, :]).reshape(-1, FEATURES)
    return ends, path


def _torch_case(x: np.ndarray) -> tuple[Any, Any, Callable[[], None]]:
    import torch

    torch.set_num_threads(1)
    w1, b1, w2, b2 = (torch.as_tensor(w) for w in _weights())
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, CLASSES)
    )
    with torch.no_grad():
        model[0].weight.copy_(w1.T), model[0].bias.copy_(b1)
        model[2].weight.copy_(w2.T), model[2].bias.copy_(b2)
    model.requires_grad_(False)
    ends, path = (torch.as_tensor(a) for a in _rows(x))
    targets = torch.arange(EXAMPLES) % CLASSES

    def raw() -> None:
        with torch.no_grad():
            torch.softmax(model(ends), -1).gather(1, targets.repeat(2)[:, None]).cpu().numpy()
        points = path.clone().requires_grad_(True)
        out = torch.softmax(model(points), -1).gather(1, targets.repeat_interleave(STEPS)[:, None])
        (grad,) = torch.autograd.grad(out.sum(), points)
        grad.reshape(EXAMPLES, STEPS, FEATURES).sum(1).numpy()

    return model, torch.as_tensor(x), raw


def _tensorflow_case(x: np.ndarray) -> tuple[Any, Any, Callable[[], None]]:
    import keras
    import tensorflow as tf

    w1, b1, w2, b2 = _weights()
    model = keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(HIDDEN, "tanh"), keras.layers.Dense(CLASSES)]
    )
    model.set_weights([w1, b1, w2, b2])
    ends, path = (tf.constant(a) for a in _rows(x))
    targets = tf.constant(np.arange(EXAMPLES) % CLASSES, tf.int32)

    @tf.function
    def forward(points: Any) -> Any:
        return tf.gather(tf.nn.softmax(model(points)), tf.tile(targets, [2]), batch_dims=1)

    @tf.function
    def gradient(points: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(points)
            out = tf.gather(tf.nn.softmax(model(points)), tf.repeat(targets, STEPS), batch_dims=1)
        return tf.reduce_sum(tf.reshape(tape.gradient(out, points), (EXAMPLES, STEPS, -1)), 1)

    def raw() -> None:
        forward(ends).numpy()
        gradient(path).numpy()

    return model, tf.constant(x), raw


def _jax_case(x: np.ndarray) -> tuple[Any, Any, Callable[[], None]]:
    import jax
    import jax.numpy as jnp

    params = [jnp.asarray(w) for w in _weights()]

    def apply(p: Any, v: Any) -> Any:
        return jnp.tanh(v @ p[0] + p[1]) @ p[2] + p[3]

    ends, path = (jnp.asarray(a) for a in _rows(x))
    targets = jnp.asarray(np.arange(EXAMPLES) % CLASSES, jnp.int32)

    @jax.jit
    def forward(p: Any, points: Any) -> Any:
        probabilities = jax.nn.softmax(apply(p, points))
        return jnp.take_along_axis(probabilities, jnp.tile(targets, 2)[:, None], 1)

    @jax.jit
    def gradient(p: Any, points: Any) -> Any:
        def total(v: Any) -> Any:
            probabilities = jax.nn.softmax(apply(p, v))
            return jnp.take_along_axis(probabilities, jnp.repeat(targets, STEPS)[:, None], 1).sum()

        return jax.grad(total)(points).reshape(EXAMPLES, STEPS, -1).sum(1)

    def raw() -> None:
        np.asarray(forward(params, ends))
        np.asarray(gradient(params, path))

    return (apply, params), jnp.asarray(x), raw


CASES = {"torch": _torch_case, "tensorflow": _tensorflow_case, "jax": _jax_case}


def _median_seconds(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, repeats: int) -> dict[str, float]:
    x = np.random.default_rng(1).normal(size=(EXAMPLES, FEATURES)).astype(np.float32)
    model, inputs, raw = CASES[name](x)
    explainer = intgrad.Explainer(model, output="probability")
    targets = np.arange(EXAMPLES) % CLASSES

    def call() -> None:
        explainer.attribute(inputs, target=targets, steps=STEPS)

    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    raw()  # compile the hand-written steps too
    session, compute = [], []
    for _ in range(repeats):  # alternate, so both see the same machine state
        session.append(_median_seconds(call, 1))
        compute.append(_median_seconds(raw, 1))
    later, work = statistics.median(session), statistics.median(compute)
    one_shot = _median_seconds(
        lambda: intgrad.integrated_gradients(
            model, inputs, target=targets, steps=STEPS, output="probability"
        ),
        max(3, repeats // 10),
    )
    return {
        "first": first,
        "later": later,
        "compute": work,
        "overhead": later - work,
        "one_shot": one_shot,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks-overhead.md")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows = []
    for name in CASES:
        if importlib.util.find_spec(name) is None:
            continue
        figures = measure(name, args.repeats)
        rows.append(
            f"| {name} | {figures['first'] * 1e3:.0f} | {figures['later'] * 1e3:.2f} | "
            f"{figures['compute'] * 1e3:.2f} | {figures['overhead'] * 1e3:.2f} | "
            f"{figures['one_shot'] * 1e3:.1f} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        [
            "| framework | first call (ms) | later calls (ms) | same compute by hand (ms) | "
            "overhead (ms) | one-shot `integrated_gradients` (ms) |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    text = (
        "# Per-call overhead of a reused `Explainer`\n\n"
        "Reproduce with `.venv/bin/python benchmarks/bench_overhead.py` (one run, medians of "
        f"{args.repeats} alternating calls; torch pinned to 1 thread). A {FEATURES}→{HIDDEN}→"
        f"{CLASSES} MLP, {EXAMPLES} examples, {STEPS} Gauss–Legendre steps, softmax target, "
        "completeness check on. *Later calls* are calls 2 onwards of one session with the same "
        "shapes; *same compute by hand* does the same forward and gradient passes in a loop "
        "written directly in the framework, compiled the same way; *overhead* is the "
        "difference. Goal: at most 10 ms.\n\n" + table + "\n"
    )
    args.output.write_text(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
