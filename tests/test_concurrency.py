"""Calls from several threads on one model or one session give the sequential results.

Nothing process-wide (TF32 flags, ``requires_grad`` of the user's parameters, layer hooks)
changes under another thread's feet: the shared settings are held while any call runs and
restored after the last one, and layer hooks act only in the thread that registered them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import intgrad

THREADS = 8


class _TextNet(torch.nn.Module):
    """Token ids → embedding → masked mean → two logits; records the flags it ran under."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(20, 6)
        self.head = torch.nn.Sequential(
            torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)
        )
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.seen.append((torch.backends.cudnn.allow_tf32, self.head[0].weight.requires_grad))
        vectors = self.embedding(ids) * mask[..., None]
        return self.head(vectors.sum(1) / mask.sum(1, keepdim=True))


@pytest.fixture
def net() -> _TextNet:
    torch.manual_seed(0)
    return _TextNet().double().eval()


def _inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 20, (3, 7), generator=generator)
    mask = torch.ones(3, 7, dtype=torch.float64)
    mask[seed % 3, 4:] = 0
    return ids, mask


def _run_in_threads(work, jobs):
    torch.set_num_threads(1)  # 8 threads on 2 cores: keep each call single-threaded
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(work, jobs))
    finally:
        torch.set_num_threads(2)


def test_eight_threads_on_one_session_match_sequential_calls(net: _TextNet) -> None:
    explainer = intgrad.Explainer(net, layer=net.embedding)
    jobs = [(seed, seed % 2) for seed in range(THREADS * 2)]

    def work(job):
        seed, target = job
        ids, mask = _inputs(seed)
        result = explainer.attribute(
            ids, target=target, steps=16, additional_forward_args=(mask,), baselines=0
        )
        return result.attributions.numpy(), result.delta

    sequential = [work(job) for job in jobs]
    torch.backends.cudnn.allow_tf32 = True
    net.seen.clear()
    concurrent = _run_in_threads(work, jobs)
    for (a, da), (b, db) in zip(sequential, concurrent, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(da, db, atol=1e-12)
    # Every forward pass of every thread ran with TF32 off and the parameters frozen ...
    assert set(net.seen) == {(False, False)}
    # ... and the user's settings are back once all calls ended.
    assert torch.backends.cudnn.allow_tf32
    assert all(p.requires_grad for p in net.parameters())
    assert not any(m._forward_hooks for m in net.modules())


def test_eight_threads_on_one_model_with_separate_calls(net: _TextNet) -> None:
    head = net.head
    x = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    def work(target: int) -> torch.Tensor:
        return intgrad.integrated_gradients(head, x, target=target % 2, steps=12).attributions

    sequential = [work(t).numpy() for t in range(THREADS)]
    concurrent = _run_in_threads(work, range(THREADS))
    for a, b in zip(sequential, concurrent, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12)
    assert all(p.requires_grad for p in head.parameters())
