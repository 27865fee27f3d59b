"""Monte Carlo samples run in blocks of ``batch_size`` rows (NumPy backend).

Memory is bounded by the block, not by K: the peak of traced allocations (NumPy reports its
arrays to ``tracemalloc``) is the same at 8 and at 128 samples, where holding the K·E rows
would take 16 times more. The blocks change nothing else: the noise is still one standard-
normal array (K, E, ...) per input, the moments are those of all K samples, and progress
counts every row once.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from intgrad.family._samples import Block, BlockProgress, SampleMoments, Samples
from intgrad.family.expected import expected_gradients
from intgrad.family.noise import noise_tunnel
from tests.closed_forms import Quadratic, TwoInputs
from tests.family.test_expected import Linear, reference_samples
from tests.family.test_noise import noisy_copies

EXACT = 1e-12
FEATURES = 20_000
"""Features per example in the memory tests: one row of float64 is 160 kB."""


def _peak_bytes(call: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("method", ["expected_gradients", "smoothgrad", "vargrad"])
def test_peak_memory_does_not_grow_with_the_samples(rng: np.random.Generator, method: str):
    w, x = rng.normal(size=FEATURES), rng.normal(size=(1, FEATURES))
    background = rng.normal(size=(3, FEATURES))

    def run(samples: int) -> None:
        if method == "expected_gradients":
            expected_gradients(
                Linear(w), x, background=background, samples=samples, stdevs=0.1, batch_size=4
            )
        else:
            kind = "smoothgrad" if method == "smoothgrad" else "vargrad"
            noise_tunnel(
                Linear(w), x, attribution="gradient", kind=kind, samples=samples, batch_size=4
            )

    few, many = _peak_bytes(lambda: run(8)), _peak_bytes(lambda: run(128))
    all_rows = 128 * FEATURES * 8  # one float64 array of the K·E rows: 20 MB
    assert many < 1.1 * few  # measured 1.00
    assert many < all_rows / 2


def test_blocks_keep_the_noise_of_one_array_per_input(rng: np.random.Generator):
    # Both inputs noisy and 10 rows in blocks of 3: input 1's noise still starts where the
    # whole of input 0's would end.
    u = np.array([1.0, 2.0])
    a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 3))
    background = (rng.normal(size=(4, 2)), rng.normal(size=(4, 3)))
    stdevs = (0.1, 0.3)
    kwargs: dict[str, Any] = {"background": background, "samples": 5, "stdevs": stdevs}
    blocked = expected_gradients(TwoInputs(u), (a, b), seed=9, batch_size=3, **kwargs)
    whole = expected_gradients(TwoInputs(u), (a, b), seed=9, **kwargs)
    per_sample, _ = reference_samples(TwoInputs(u), (a, b), background, 5, 9, stdevs)
    for got, same, want in zip(blocked.attributions, whole.attributions, per_sample, strict=True):
        np.testing.assert_allclose(got, want.mean(axis=0), rtol=EXACT)
        np.testing.assert_array_equal(got, same)
    for got, same in zip(blocked.standard_error, whole.standard_error, strict=True):
        np.testing.assert_array_equal(got, same)
    tunnel = noise_tunnel(
        TwoInputs(u), (a, b), attribution="gradient", samples=3, stdev=stdevs, seed=5, batch_size=2
    )
    copies = noisy_copies((a, b), 3, 5, stdevs, True)
    grads = TwoInputs(u).vjp(tuple(copies), np.ones(6))
    for got, grad, x in zip(tunnel.attributions, grads, (a, b), strict=True):
        np.testing.assert_allclose(got, grad.reshape(3, *x.shape).mean(0), rtol=EXACT)


def test_inner_seeds_are_the_old_one_for_one_block_and_differ_between_blocks(
    rng: np.random.Generator,
):
    x = rng.normal(size=(2, 3))
    seeds: list[int] = []

    def recording(explainer: Any, inputs: Any, *, seed: Any, progress: Any, **rest: Any) -> Any:
        seeds.append(seed)
        return explainer.gradients(inputs, **rest)

    noise_tunnel(Quadratic(np.ones(3)), x, attribution=recording, samples=3, stdev=0.2, seed=4)
    draws = np.random.default_rng(4)
    draws.standard_normal((3, 2, 3))  # the noise, then the inner method's seed
    assert seeds == [int(draws.integers(2**63 - 1))]
    seeds.clear()
    noise_tunnel(
        Quadratic(np.ones(3)),
        x,
        attribution=recording,
        samples=3,
        stdev=0.2,
        seed=4,
        batch_size=2,
    )
    assert len(seeds) == 3 and len(set(seeds)) == 3


def test_progress_counts_every_row_once_across_blocks(rng: np.random.Generator):
    x, background = rng.normal(size=(2, 3)), rng.normal(size=(4, 3))
    calls: list[tuple[int, int]] = []
    expected_gradients(
        Quadratic(np.ones(3)),
        x,
        background=background,
        samples=5,
        batch_size=3,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [done for done, _ in calls] == [3, 6, 9, 10]  # blocks of 3, 3, 3 and 1 slot
    assert all(total == 10 for _, total in calls[:-1]) and calls[-1] == (10, 10)


def test_block_progress_extrapolates_the_rows_after_the_block():
    calls: list[tuple[int, int]] = []
    tracker = BlockProgress(lambda done, total: calls.append((done, total)), rows=6)
    first = tracker.of(Block(0, 2, 2))
    assert first is not None
    first(4, 8)  # 4 units per row: 16 for the 4 rows after it
    first(8, 8)
    second = tracker.of(Block(2, 6, 2))
    assert second is not None
    second(10, 16)
    second(16, 16)
    assert calls == [(4, 24), (8, 24), (18, 24), (24, 24)]
    assert BlockProgress(None, rows=6).of(Block(0, 2, 2)) is None


@pytest.mark.parametrize("most_rows", [1, 2, 5, 7, 100])
def test_moments_are_those_of_all_the_samples_however_blocked(
    rng: np.random.Generator, most_rows: int
):
    # A large offset: E[v²] − E[v]² would lose every digit; the shifted sums keep them.
    plan = Samples(samples=7, examples=3)
    values = 1e6 + rng.normal(size=(plan.rows, 4))
    moments = SampleMoments(plan)
    for block in plan.blocks(most_rows):
        assert block.rows <= most_rows
        moments.add(values[block.span], block)
    by_sample = values.reshape(7, 3, 4)
    np.testing.assert_allclose(moments.mean(), by_sample.mean(0), rtol=1e-15)
    np.testing.assert_allclose(moments.variance(ddof=0), by_sample.var(0), rtol=1e-8)
    np.testing.assert_allclose(
        moments.standard_error(), by_sample.std(0, ddof=1) / np.sqrt(7), rtol=1e-8
    )
    whole = SampleMoments(plan)
    whole.add(values, Block(0, plan.rows, 3))
    np.testing.assert_array_equal(moments.standard_error(), whole.standard_error())


def test_blocks_cover_the_rows_evenly():
    blocks = Samples(samples=5, examples=2).blocks(3)
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    np.testing.assert_array_equal(blocks[1].owners(), [1, 0, 1])
    np.testing.assert_array_equal(Block(1, 4, 2).first_samples(), [0])
    assert len(Samples(samples=4, examples=3).blocks(100)) == 1
