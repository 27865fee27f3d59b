"""Batch-norm folding in the torch backend's private model copy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from intgrad import integrated_gradients
from intgrad.backends._torch_folding import fold_batch_norms
from intgrad.backends.torch import TorchBackend, _ChannelsLast


def _trained_norm(channels: int, seed: int) -> torch.nn.BatchNorm2d:
    """A batch norm with running statistics and affine parameters far from the identity."""
    generator = torch.Generator().manual_seed(seed)
    norm = torch.nn.BatchNorm2d(channels)
    with torch.no_grad():
        norm.running_mean.copy_(torch.randn(channels, generator=generator))
        norm.running_var.copy_(torch.rand(channels, generator=generator) * 3 + 0.2)
        norm.weight.copy_(torch.randn(channels, generator=generator))
        norm.bias.copy_(torch.randn(channels, generator=generator))
    return norm


class _Stack(torch.nn.Module):
    """conv → bn → ReLU twice (the first conv without bias), a linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3, padding=1, bias=False),
            _trained_norm(4, 1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(4, 5, 3, padding=1),
            _trained_norm(5, 2),
            torch.nn.ReLU(),
        )
        self.head = torch.nn.Linear(5 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1))


class _PreNormResidual(torch.nn.Module):
    """The conv's output feeds the norm *and* a skip connection: folding would change the skip."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.bn = _trained_norm(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv(x)
        return (self.bn(features) + features).flatten(1)


class _SharedNorm(torch.nn.Module):
    """One norm module after two convs."""

    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Conv2d(3, 3, 1)
        self.second = torch.nn.Conv2d(3, 3, 1)
        self.bn = _trained_norm(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.bn(self.first(x)) * self.bn(self.second(x))).flatten(1)


class _StandardizedConv(torch.nn.Conv2d):
    """Weight standardization: scaling the weight does not scale the output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        std = w.std(dim=(1, 2, 3), keepdim=True)
        return self._conv_forward(x, (w - mean) / std, self.bias)


def _input_gradient(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[:, 1].sum(), x)
    return gradient


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, 6, 6, generator=torch.Generator().manual_seed(5))


def test_folding_keeps_the_function_and_its_input_gradients(images) -> None:
    model = _Stack().double().eval()
    x = images.double()
    folded = copy.deepcopy(model)
    assert fold_batch_norms(folded, (x,)) == 2
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert folded.body[0].bias is not None  # the first conv gained the norm's shift
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        _input_gradient(folded, x).numpy(), _input_gradient(model, x).numpy(), atol=1e-12
    )
    assert not any(p.requires_grad for p in folded.body[0].parameters())


def test_train_mode_norms_are_left_alone(images) -> None:
    model = _Stack().train()
    before = copy.deepcopy(model.state_dict())
    assert fold_batch_norms(model, (images,)) == 0
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 2
    # The probe ran in train mode (statistics moved), but no weight was touched.
    torch.testing.assert_close(model.body[0].weight, before["body.0.weight"])


@pytest.mark.parametrize("model_class", [_PreNormResidual, _SharedNorm])
def test_a_conv_output_used_elsewhere_or_a_shared_norm_is_not_folded(model_class, images) -> None:
    model = model_class().eval()
    folded = copy.deepcopy(model)
    assert fold_batch_norms(folded, (images,)) == 0
    with torch.no_grad():
        torch.testing.assert_close(folded(images), model(images), rtol=0, atol=0)


def test_a_fold_that_changes_the_output_is_undone(images) -> None:
    model = torch.nn.Sequential(_StandardizedConv(3, 4, 3), _trained_norm(4, 6)).eval()
    folded = copy.deepcopy(model)
    assert fold_batch_norms(folded, (images,)) == 0
    assert isinstance(folded[1], torch.nn.BatchNorm2d)
    torch.testing.assert_close(folded[0].weight, model[0].weight, rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(folded(images), model(images), rtol=0, atol=0)


def test_integer_inputs_are_not_probed() -> None:
    model = torch.nn.Sequential(
        torch.nn.Embedding(10, 3), torch.nn.Unflatten(1, (1, 1)), torch.nn.Flatten()
    )
    assert fold_batch_norms(model, (torch.tensor([[1], [2]]),)) == 0


def test_integrated_gradients_folds_a_private_copy_and_leaves_the_model_alone(images) -> None:
    model = _Stack().eval()
    state = copy.deepcopy(model.state_dict())
    folded = integrated_gradients(model, images, target=1, steps=12)
    itself = integrated_gradients(model, images, target=1, steps=12, channels_last=False)
    np.testing.assert_allclose(
        folded.attributions.numpy(), itself.attributions.numpy(), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(folded.delta, itself.delta, atol=1e-6)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 2
    assert model.body[0].bias is None
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, state[name], rtol=0, atol=0)
    assert all(p.requires_grad for p in model.parameters())
    assert not model.training


def test_the_copy_follows_the_models_mode() -> None:
    model = _Stack().eval()
    x = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(7))
    backend = TorchBackend()
    with backend.model_guard(model, (x,)) as run:
        assert isinstance(run, _ChannelsLast)
        run(x)
        assert run.folded == 2
    model.train()
    with backend.model_guard(model, (x,)) as run:
        assert isinstance(run, _ChannelsLast)
        run(x)
        assert run.folded == 0  # a fresh copy, in train mode
    assert model.training
