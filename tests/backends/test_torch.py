"""PyTorch backend: model state, dtypes, structure, and agreement with Captum."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIntegratedGradients

from intgrad import METHODS, Explainer, integrated_gradients
from intgrad.backends._registry import get_backend
from intgrad.backends.torch import CPU_CHUNK_ELEMENTS, PRIVATE_COPIES, TorchBackend, TorchOps


class TwoInputNet(torch.nn.Module):
    """Two inputs plus an additional forward argument (a per-example scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.image = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh())
        self.vector = torch.nn.Linear(5, 4)
        self.head = torch.nn.Linear(4 * 6 * 6 + 4, 3)
        self.dropout = torch.nn.Dropout(0.5)

    def forward(self, image, vector, scale):
        features = torch.cat([self.image(image).flatten(1), torch.tanh(self.vector(vector))], 1)
        return self.head(self.dropout(features)) * scale


@pytest.fixture
def net() -> TwoInputNet:
    torch.manual_seed(0)
    return TwoInputNet().double().eval()


@pytest.fixture
def inputs() -> tuple:
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(3, 3, 6, 6, generator=generator, dtype=torch.float64)
    vector = torch.randn(3, 5, generator=generator, dtype=torch.float64)
    return image, vector


def _captum(net, inputs, method: str, steps: int, **kwargs):
    explainer = CaptumIntegratedGradients(net)
    return explainer.attribute(inputs, n_steps=steps, method=method, **kwargs)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("steps", [5, 24])
def test_agrees_with_captum(net, inputs, method: str, steps: int) -> None:
    scale = torch.tensor([[1.0], [2.0], [0.5]], dtype=torch.float64)
    targets = [0, 2, 1]
    ours = integrated_gradients(
        net,
        inputs,
        target=targets,
        steps=steps,
        method=method,
        additional_forward_args=(scale,),
        batch_size=7,
    )
    theirs = _captum(
        net,
        inputs,
        method,
        steps,
        target=targets,
        additional_forward_args=(scale,),
        internal_batch_size=7,
    )
    # Captum's trapezoid weights sum to 1 − 1/n; ours to 1.
    correction = steps / (steps - 1) if method == "riemann_trapezoid" else 1.0
    for mine, reference in zip(ours.attributions, theirs, strict=True):
        np.testing.assert_allclose(
            mine.numpy(), reference.numpy() * correction, rtol=1e-5, atol=1e-12
        )


def test_model_state_is_untouched_on_success_and_error(net, inputs) -> None:
    net.train()
    net.head.eval()
    net.vector.weight.requires_grad_(False)
    flags = {name: p.requires_grad for name, p in net.named_parameters()}
    modes = {name: m.training for name, m in net.named_modules()}
    scale = torch.ones(3, 1, dtype=torch.float64)

    integrated_gradients(net, inputs, target=0, steps=4, additional_forward_args=(scale,))
    assert {n: p.requires_grad for n, p in net.named_parameters()} == flags
    assert {n: m.training for n, m in net.named_modules()} == modes
    assert all(p.grad is None for p in net.parameters())

    with pytest.raises(ValueError, match="out of range"):
        integrated_gradients(net, inputs, target=7, steps=4, additional_forward_args=(scale,))
    assert {n: p.requires_grad for n, p in net.named_parameters()} == flags
    assert {n: m.training for n, m in net.named_modules()} == modes


def test_parameters_are_frozen_during_the_call(inputs) -> None:
    seen: list[bool] = []

    class Spy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(5, 2).double()

        def forward(self, x):
            seen.append(self.linear.weight.requires_grad)
            return self.linear(x)

    spy = Spy()
    integrated_gradients(spy, inputs[1], target=1, steps=3)
    assert seen and not any(seen)
    assert spy.linear.weight.requires_grad


def test_works_inside_no_grad_and_keeps_inputs_untouched(net, inputs) -> None:
    image, vector = inputs
    before = image.clone()
    scale = torch.ones(3, 1, dtype=torch.float64)
    with torch.no_grad():
        result = integrated_gradients(
            net, (image, vector), target=1, steps=8, additional_forward_args=(scale,)
        )
    assert torch.equal(image, before) and not image.requires_grad
    assert result.attributions[0].shape == image.shape
    assert result.attributions[0].dtype == torch.float64
    assert not result.attributions[0].requires_grad


def test_plain_callable_and_numpy_inputs_with_backend_name() -> None:
    def model(x):
        return (x**3).sum(dim=1)

    result = integrated_gradients(model, [np.array([[1.0, 2.0]])], backend="torch", steps=8)
    # x³ with a degree-2 gradient: 8 Gauss–Legendre nodes are exact.
    np.testing.assert_allclose(result.attributions[0].numpy(), [[1.0, 8.0]], rtol=1e-12)


def test_a_per_example_numpy_argument_follows_its_example() -> None:
    seen: list[type] = []

    def model(x, mask):
        seen.append(type(mask))
        return (x * torch.as_tensor(mask, dtype=x.dtype)).sum(dim=1)

    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64)
    mask = np.array([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0]])
    result = integrated_gradients(model, x, additional_forward_args=(mask,), steps=4, batch_size=3)
    # Linear in x: the attributions are x · mask exactly, each row with its own mask.
    np.testing.assert_allclose(result.attributions.numpy(), x.numpy() * mask, rtol=1e-12)
    assert set(seen) == {np.ndarray}  # the model gets NumPy rows, as it was given


def test_half_precision_inputs_accumulate_in_float32() -> None:
    linear = torch.nn.Linear(4, 2).to(torch.bfloat16)
    x = torch.ones(2, 4, dtype=torch.bfloat16)
    result = integrated_gradients(linear, x, target=0, steps=16)
    assert result.attributions.dtype == torch.bfloat16
    expected = linear.weight[0].float() * 1.0
    np.testing.assert_allclose(
        result.attributions.float().numpy(), expected.expand(2, 4).detach().numpy(), rtol=1e-2
    )


def test_baselines_explicit_blur_gaussian(inputs) -> None:
    image = inputs[0]

    def model(x):
        return x.flatten(1).sum(dim=1)

    explicit = torch.full((1, 3, 1, 1), 0.25, dtype=torch.float64)
    result = integrated_gradients(model, image, baselines=explicit, steps=2)
    np.testing.assert_allclose(result.attributions.numpy(), image.numpy() - 0.25, rtol=1e-12)

    blurred = integrated_gradients(model, image, baselines="blur", steps=2)
    assert blurred.baselines == ("blur(sigma=5)",)
    noisy = [
        integrated_gradients(model, image, baselines="gaussian", seed=s, steps=2) for s in (3, 3, 4)
    ]
    assert torch.equal(noisy[0].attributions, noisy[1].attributions)
    assert not torch.equal(noisy[0].attributions, noisy[2].attributions)


# -- the GPU levers, checked on the CPU ----------------------------------------------------------


class _SharedLog(list):
    """A list that a private copy of the model shares with the original."""

    def __deepcopy__(self, memo: dict) -> _SharedLog:
        return self


class _ConvNet(torch.nn.Module):
    """float32 conv + linear net that records the precision settings it ran under."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4 * 5 * 5, 3)
        self.seen = _SharedLog()
        self.layouts = _SharedLog()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.head(torch.tanh(self.conv(images)).flatten(1))
        self.seen.append(
            (
                torch.backends.cudnn.allow_tf32,
                torch.backends.cuda.matmul.allow_tf32,
                torch.is_autocast_enabled("cpu"),
                logits.dtype,
            )
        )
        self.layouts.append(
            (
                id(self),
                self.conv.weight.is_contiguous(memory_format=torch.channels_last),
                images.is_contiguous(memory_format=torch.channels_last),
            )
        )
        return logits


@pytest.fixture
def conv_net() -> _ConvNet:
    torch.manual_seed(3)
    return _ConvNet().eval()


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(4))


def test_autocast_runs_the_model_in_bfloat16_and_sums_in_float32(conv_net, images) -> None:
    exact = integrated_gradients(conv_net, images, target=[0, 2], steps=16)
    conv_net.seen.clear()
    mixed = integrated_gradients(conv_net, images, target=[0, 2], steps=16, autocast="bfloat16")
    assert {seen[2:] for seen in conv_net.seen} == {(True, torch.bfloat16)}
    assert mixed.attributions.dtype == torch.float32
    error = float((mixed.attributions - exact.attributions).norm() / exact.attributions.norm())
    # bfloat16 keeps 8 significant bits: visibly different, still the same attribution.
    assert 1e-5 < error < 0.05
    assert not torch.is_autocast_enabled("cpu")


def test_tf32_is_off_during_the_call_and_the_flags_come_back(conv_net, images) -> None:
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        integrated_gradients(conv_net, images, target=0, steps=4)
        assert {seen[:2] for seen in conv_net.seen} == {(False, False)}
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (
            True,
            True,
        )
        conv_net.seen.clear()
        integrated_gradients(conv_net, images, target=0, steps=4, allow_tf32=True)
        assert {seen[:2] for seen in conv_net.seen} == {(True, True)}
        with pytest.raises(ValueError, match="target"):
            integrated_gradients(conv_net, images, target=7, steps=4)
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class _PaddingBackend(TorchBackend):
    """The torch backend with chunks padded to one size, as compiled models get them."""

    def ops(self, inputs: tuple) -> TorchOps:
        return TorchOps(inputs[0].device, pads_chunks=True)


def test_padded_chunks_change_nothing(conv_net, images) -> None:
    options = dict(target=[1, 0], steps=5, batch_size=4, return_path=True)
    plain = integrated_gradients(conv_net, images, **options)
    conv_net.seen.clear()
    padded = Explainer(conv_net, backend=_PaddingBackend()).attribute(images, **options)
    # 4 end-point rows in one call; 10 gradient rows as 4 + 4 + 2 (a power of two: no padding)
    assert len(conv_net.seen) == 4
    assert padded.path.outputs.shape == (2, 5)  # padding rows are dropped
    np.testing.assert_allclose(
        padded.attributions.numpy(), plain.attributions.numpy(), rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(padded.path.outputs, plain.path.outputs, rtol=1e-6)
    assert padded.steps_per_example.tolist() == [5, 5]
    assert get_backend("torch").chunk_elements((images,)) == CPU_CHUNK_ELEMENTS


def test_cpu_conv_models_run_as_a_private_channels_last_copy(conv_net, images) -> None:
    original = id(conv_net)
    copied = integrated_gradients(conv_net, images, target=[0, 2], steps=8)
    # The copy ran, in channels-last layout; the user's weights kept theirs.
    assert conv_net.layouts
    assert all(layout[1:] == (True, True) for layout in conv_net.layouts)
    assert all(layout[0] != original for layout in conv_net.layouts)
    assert conv_net.conv.weight.is_contiguous()
    assert not conv_net.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(p.requires_grad for p in conv_net.parameters())
    conv_net.layouts.clear()
    itself = integrated_gradients(conv_net, images, target=[0, 2], steps=8, channels_last=False)
    assert {layout for layout in conv_net.layouts} == {(original, False, False)}
    np.testing.assert_allclose(
        copied.attributions.numpy(), itself.attributions.numpy(), rtol=1e-5, atol=1e-7
    )
    assert copied.attributions.is_contiguous()


def test_plain_calls_share_one_private_copy_while_the_model_is_unchanged(conv_net, images) -> None:
    first = integrated_gradients(conv_net, images, target=[0, 2], steps=6)
    kept = PRIVATE_COPIES.kept(conv_net)
    assert kept is not None and kept.module is not conv_net
    again = integrated_gradients(conv_net, images, target=[0, 2], steps=6)
    assert PRIVATE_COPIES.kept(conv_net) is kept  # no second copy, no second folding
    np.testing.assert_array_equal(again.attributions.numpy(), first.attributions.numpy())


@pytest.mark.parametrize(
    "change",
    [
        "in place",  # an optimiser step: the version counter moves
        "through .data",  # old-style code: the version counter misses it, the sum does not
        "new tensor",
        "train mode",
    ],
)
def test_a_changed_model_gets_a_fresh_copy(conv_net, images, change: str) -> None:
    integrated_gradients(conv_net, images, target=[0, 2], steps=6)
    stale = PRIVATE_COPIES.kept(conv_net)
    if change == "in place":
        with torch.no_grad():
            conv_net.conv.weight.mul_(-2.0)
    elif change == "through .data":
        conv_net.conv.weight.data.mul_(-2.0)
    elif change == "new tensor":
        conv_net.conv.weight = torch.nn.Parameter(conv_net.conv.weight.detach() * -2.0)
    else:
        conv_net.train()
        conv_net.head.eval()
    copied = integrated_gradients(conv_net, images, target=[0, 2], steps=6)
    assert PRIVATE_COPIES.kept(conv_net) is not stale
    itself = integrated_gradients(conv_net, images, target=[0, 2], steps=6, channels_last=False)
    np.testing.assert_allclose(
        copied.attributions.numpy(), itself.attributions.numpy(), rtol=1e-5, atol=1e-7
    )


def test_a_private_copy_goes_with_its_model(images) -> None:
    torch.manual_seed(5)
    model = _ConvNet().eval()
    integrated_gradients(model, images, target=0, steps=4)
    gc.collect()  # earlier tests' models, no longer referenced, go first
    before = len(PRIVATE_COPIES)
    assert PRIVATE_COPIES.kept(model) is not None
    del model
    gc.collect()
    assert len(PRIVATE_COPIES) == before - 1


def test_models_with_hooks_are_called_themselves(conv_net, images) -> None:
    called: list[torch.nn.Module] = []
    handle = conv_net.conv.register_forward_hook(lambda module, *_: called.append(module))
    try:
        integrated_gradients(conv_net, images, target=0, steps=4)
        assert called and all(module is conv_net.conv for module in called)
        called.clear()
        integrated_gradients(conv_net, images, target=0, steps=4, channels_last=True)
        assert called and all(module is not conv_net.conv for module in called)
    finally:
        handle.remove()


def test_compiled_model_agrees_with_eager_and_is_left_unchanged(conv_net, images) -> None:
    eager = integrated_gradients(conv_net, images, target=[0, 1], steps=5, batch_size=4)
    compiled = integrated_gradients(
        conv_net, images, target=[0, 1], steps=5, batch_size=4, compile_model=True
    )
    np.testing.assert_allclose(
        compiled.attributions.numpy(), eager.attributions.numpy(), rtol=1e-4, atol=1e-7
    )
    np.testing.assert_allclose(compiled.delta, eager.delta, atol=1e-6)
    assert type(conv_net) is _ConvNet and not conv_net.training
    assert all(p.requires_grad for p in conv_net.parameters())


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"autocast": "int8"}, ValueError, "autocast must be None or one of bfloat16, float16"),
        ({"compile_model": "fastest"}, ValueError, "compile_model must be a bool or one of"),
        ({"allow_tf32": "yes"}, TypeError, "allow_tf32 must be a bool"),
        ({"channels_last": "auto"}, TypeError, "channels_last must be None or a bool"),
    ],
)
def test_acceleration_argument_errors(conv_net, images, options, error, message) -> None:
    with pytest.raises(error, match=message):
        integrated_gradients(conv_net, images, target=0, steps=4, **options)
