"""Layer attribution in torch: hooks on modules, integer ids, honest completeness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum import attr as captum_attr

import intgrad


class _Reviews(torch.nn.Module):
    """Token ids and a mask → embedding → masked mean → MLP → two logits."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(30, 8)
        self.hidden = torch.nn.Linear(8, 8)
        self.out = torch.nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        vectors = self.embedding(ids) * mask[..., None]
        pooled = vectors.sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.out(torch.tanh(self.hidden(pooled)))


@pytest.fixture
def net() -> _Reviews:
    torch.manual_seed(0)
    return _Reviews().double().eval()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 30, (3, 9), generator=generator)
    mask = torch.ones(3, 9, dtype=torch.float64)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    return ids, mask


def test_embedding_attributions_match_captum_and_add_up(net, batch) -> None:
    ids, mask = batch
    ours = intgrad.integrated_gradients(
        net, ids, layer=net.embedding, target=1, additional_forward_args=(mask,), steps=32
    )
    theirs = captum_attr.LayerIntegratedGradients(net, net.embedding).attribute(
        ids, baselines=torch.zeros_like(ids), target=1, additional_forward_args=(mask,), n_steps=32
    )
    assert ours.attributions.shape == (3, 9, 8)
    # Captum multiplies by float32 step sizes, hence 1e-6.
    np.testing.assert_allclose(ours.attributions.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.delta, 0.0, atol=1e-6)


def test_the_delta_is_honest_when_the_baseline_mask_differs(net, batch) -> None:
    """captum#1413: Captum subtracts F at the full baseline inputs (mask included), a point
    its path never visits, so its gap cannot shrink with steps; ours is F at the path's start."""
    ids, mask = batch
    # Reference tokens of their own, and a full mask: the mask is not on the path.
    baselines = (torch.roll(ids, 1, dims=1), torch.ones_like(mask))
    ours, theirs = [], []
    for steps in (8, 128):
        result = intgrad.integrated_gradients(
            net, (ids, mask), layer=net.embedding, baselines=baselines, target=0, steps=steps
        )
        ours.append(np.abs(result.delta).max())
        _, delta = captum_attr.LayerIntegratedGradients(net, net.embedding).attribute(
            (ids, mask), baselines=baselines, target=0, n_steps=steps, return_convergence_delta=True
        )
        theirs.append(delta.abs().max().item())
    assert max(ours) < 1e-6
    assert min(theirs) > 1e-3 and theirs[1] > 0.5 * theirs[0]  # stuck: not a quadrature error


def test_layer_input_and_several_layers(net, batch) -> None:
    ids, mask = batch
    x = net.embedding(ids).detach()
    pooled = ((x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)).detach()
    to_input = intgrad.integrated_gradients(
        net,
        ids,
        layer=net.hidden,
        attribute_to_layer_input=True,
        target=0,
        additional_forward_args=(mask,),
        steps=64,
    )
    assert to_input.attributions.shape == pooled.shape
    np.testing.assert_allclose(to_input.delta, 0.0, atol=1e-6)
    both = intgrad.integrated_gradients(
        net, ids, layer=(net.embedding,), target=0, additional_forward_args=(mask,), steps=8
    )
    assert isinstance(both.attributions, tuple) and len(both.attributions) == 1


def test_adaptive_steps_in_a_layer_space(net, batch) -> None:
    ids, mask = batch
    result = intgrad.integrated_gradients(
        net, ids, layer=net.embedding, target=1, additional_forward_args=(mask,), steps="auto"
    )
    assert (result.relative_delta <= 0.01).all()
    assert result.steps >= 25


def test_integer_inputs_need_a_layer(net, batch) -> None:
    ids, mask = batch
    with pytest.raises(TypeError, match="integer inputs need layer="):
        intgrad.integrated_gradients(net, ids, target=0, additional_forward_args=(mask,))
    with pytest.raises(TypeError, match=r"layer must be a torch\.nn\.Module"):
        intgrad.integrated_gradients(
            net, ids, layer="embedding", target=0, additional_forward_args=(mask,)
        )
