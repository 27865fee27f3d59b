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


def test_attribution_to_a_layer_input(net, batch) -> None:
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
    # The path ends at the hidden layer's input, F(x) is the model's logit.
    np.testing.assert_allclose(to_input.f_input, net(ids, mask)[:, 0].detach().numpy(), rtol=1e-12)


class _Branches(torch.nn.Module):
    """x → a = left(x), b = right(x) (two layers that do not feed each other) → Σ_j a_j·b_j."""

    def __init__(self) -> None:
        super().__init__()
        self.left = torch.nn.Linear(4, 3)
        self.right = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        product = self.left(x) * self.right(x)
        return torch.stack([product.sum(1), product[:, 0]], dim=1)


def test_several_layers_that_do_not_feed_each_other() -> None:
    """On the joint straight path from (a′, b′) to (a, b), ∂(a·b)/∂a = b′ + α(b − b′) is linear
    in α, so the exact attributions are (a − a′)·(b + b′)/2 and (b − b′)·(a + a′)/2, whose sum
    is a·b − a′·b′; any rule with two or more nodes integrates a linear integrand exactly."""
    torch.manual_seed(2)
    net = _Branches().double().eval()
    x = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    result = intgrad.integrated_gradients(
        net, x, layer=(net.left, net.right), target=0, baselines=0, steps=4
    )
    assert isinstance(result.attributions, tuple) and len(result.attributions) == 2
    with torch.no_grad():
        a, b = net.left(x), net.right(x)
        # The baseline x′ = 0: the layers' activations there are their biases.
        a0, b0 = (layer.bias.detach().expand(5, 3) for layer in (net.left, net.right))
    on_left, on_right = (t.numpy() for t in result.attributions)
    np.testing.assert_allclose(on_left, ((a - a0) * (b + b0) / 2).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(on_right, ((b - b0) * (a + a0) / 2).numpy(), rtol=1e-12, atol=1e-14)
    # Completeness over both layers together: F(x) − F(x′) = Σ a·b − Σ a′·b′.
    gap = ((a * b).sum(1) - (a0 * b0).sum(1)).numpy()
    np.testing.assert_allclose(on_left.sum(1) + on_right.sum(1), gap, rtol=1e-12)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)
    # A tuple of one layer keeps the tuple form (Captum's list of one).
    one = intgrad.integrated_gradients(net, x, layer=(net.left,), target=0, baselines=0, steps=4)
    assert isinstance(one.attributions, tuple) and len(one.attributions) == 1
    np.testing.assert_allclose(
        one.attributions[0].numpy(), ((a - a0) * b).numpy(), rtol=1e-12, atol=1e-14
    )


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
