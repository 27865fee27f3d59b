"""Calls from several threads on one model or one session give the sequential results.

Nothing process-wide (TF32 flags, ``requires_grad`` of the user's parameters, layer hooks)
changes under another thread's feet: the shared settings are held while any call runs and
restored after the last one, and layer hooks act only in the thread that registered them.
TensorFlow and JAX sessions share their compiled steps and their split of a Keras model
between threads; those give the sequential results too.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch

import intgrad
from tests.frameworks import installed_frameworks, make_framework

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


def test_eight_threads_with_auto_steps_on_one_session(net: _TextNet) -> None:
    explainer = intgrad.Explainer(net, layer=net.embedding)
    jobs = [(seed, seed % 2) for seed in range(THREADS)]

    def work(job):
        seed, target = job
        ids, mask = _inputs(seed)
        result = explainer.attribute(
            ids,
            target=target,
            steps="auto",
            tolerance=1e-4,  # tight enough that some examples refine past the first level
            additional_forward_args=(mask,),
            baselines=0,
        )
        return result.attributions.numpy(), result.delta, result.steps_per_example

    sequential = [work(job) for job in jobs]
    concurrent = _run_in_threads(work, jobs)
    for (a, da, sa), (b, db, sb) in zip(sequential, concurrent, strict=True):
        np.testing.assert_array_equal(sa, sb)  # the planner took the same decisions
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(da, db, atol=1e-12)
    assert len({int(s.max()) for _, _, s in sequential}) > 1  # the jobs refined differently
    assert all(p.requires_grad for p in net.parameters())
    assert not any(m._forward_hooks for m in net.modules())


@pytest.fixture(params=[name for name in installed_frameworks() if name != "torch"])
def tf_or_jax(request: pytest.FixtureRequest) -> Any:
    """TensorFlow or JAX (JAX with x64 on while the test runs)."""
    adapter = make_framework(request.param)
    yield adapter
    getattr(adapter, "close", lambda: None)()


def _mlp_and_layer(framework: Any, with_layer: bool) -> tuple[Any, object]:
    """A 6 → 8 → 3 tanh network and, with ``with_layer``, its hidden activations as the layer."""
    generator = np.random.default_rng(7)
    weights = [
        (generator.normal(size=(6, 8)), generator.normal(size=8)),
        (generator.normal(size=(8, 3)), generator.normal(size=3)),
    ]
    model = framework.mlp(weights)
    if not with_layer:
        return model, None
    if framework.name == "tensorflow":
        return model, model.layers[0]
    jnp = framework.jnp
    (w1, b1), (w2, b2) = ((jnp.asarray(w), jnp.asarray(b)) for w, b in weights)
    return model, (lambda x: jnp.tanh(x @ w1 + b1), lambda hidden: hidden @ w2 + b2)


@pytest.mark.parametrize("with_layer", [False, True], ids=["inputs", "layer"])
def test_eight_threads_on_one_tensorflow_or_jax_session(tf_or_jax: Any, with_layer: bool) -> None:
    framework = tf_or_jax
    model, layer = _mlp_and_layer(framework, with_layer)
    explainer = intgrad.Explainer(model, layer=layer)
    generator = np.random.default_rng(11)
    jobs = [(generator.normal(size=(3, 6)), seed % 3) for seed in range(THREADS * 2)]

    def work(job):
        x, target = job
        result = explainer.attribute(
            framework.tensor(x, "float64"), target=target, steps=8, baselines=0
        )
        return framework.numpy(result.attributions), result.delta

    sequential = [work(job) for job in jobs]
    concurrent = _run_in_threads(work, jobs)
    for (a, da), (b, db) in zip(sequential, concurrent, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(da, db, atol=1e-12)
    # Different targets and inputs: the results are not all one.
    assert not np.allclose(sequential[0][0], sequential[1][0])
