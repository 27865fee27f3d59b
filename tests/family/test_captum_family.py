"""intgrad's GradientShap and NoiseTunnel as drop-ins for Captum 0.9's classes.

Where the math is deterministic (linear models, no noise) ours and Captum's must agree to
Captum's float32 step sizes (``RTOL``). Elsewhere both are Monte Carlo estimates of one
expectation from different draws: they must agree within 4 standard errors of the difference
(√2 × ours, since both have the same variance), with the standard error from our own
estimator at the same settings; the measured largest ratios are noted by each assertion.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
import torch
from captum import attr as captum_attr

import intgrad
from intgrad._captum_family import GradientShap, NoiseTunnel
from intgrad.family.expected import expected_gradients
from intgrad.family.noise import noise_tunnel

RTOL, ATOL = 1e-6, 1e-9


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(1)


def _linear() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2, dtype=torch.float64)


def _mlp() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(4, 2, dtype=torch.float64),
    )


class _TwoInputs(torch.nn.Module):
    """F(a, b) = out(tanh(hidden(a) + gate(b))), 2 logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.hidden = torch.nn.Linear(3, 4, dtype=torch.float64)
        self.gate = torch.nn.Linear(2, 4, dtype=torch.float64)
        self.out = torch.nn.Linear(4, 2, dtype=torch.float64)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(a) + self.gate(b)))


def _data(examples: int = 2, rows: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = _generator()
    x = torch.randn(examples, 3, generator=g, dtype=torch.float64)
    return x, torch.randn(rows, 3, generator=g, dtype=torch.float64)


def _seeded(call: Any, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    np.random.seed(seed)  # Captum's baseline and α draws
    return call()


def _close(ours: Any, theirs: Any) -> None:
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), RTOL, ATOL)


@pytest.mark.parametrize("multiply_by_inputs", [True, False])
def test_gradient_shap_is_exact_on_a_linear_model(multiply_by_inputs: bool):
    net = _linear()
    x, background = _data(rows=1)
    weight = net.weight.detach()[1]
    kwargs: dict[str, Any] = {"n_samples": 4, "target": 1, "return_convergence_delta": True}
    ours, delta = GradientShap(net, multiply_by_inputs).attribute(x, background, **kwargs)
    theirs, captum_delta = _seeded(
        lambda: captum_attr.GradientShap(net, multiply_by_inputs).attribute(x, background, **kwargs)
    )
    expected = (x - background) * weight if multiply_by_inputs else weight.expand(2, 3)
    _close(ours, expected)
    _close(ours, theirs)
    assert delta.shape == captum_delta.shape == (8,) and delta.dtype == torch.float64
    _close(delta, captum_delta)  # Captum's gap of the attributions as returned


@pytest.mark.parametrize("stdevs", [0.0, 0.1])
def test_gradient_shap_agrees_with_captum_in_expectation(stdevs: float):
    net, (x, background) = _mlp(), _data()
    samples = 2000
    ours = _seeded(lambda: GradientShap(net).attribute(x, background, samples, stdevs, target=1))
    theirs = _seeded(
        lambda: captum_attr.GradientShap(net).attribute(x, background, samples, stdevs, target=1)
    )
    error = expected_gradients(
        net, x, background=background, samples=samples, stdevs=stdevs, target=1, seed=0
    ).standard_error
    z = np.abs((ours - theirs).numpy()) / (np.sqrt(2) * error)
    assert z.max() < 4.0  # measured 0.80 with noise
    if stdevs == 0.0:  # then EG's expectation is the mean IG over the background rows
        exact = np.mean(
            [
                intgrad.integrated_gradients(
                    net, x, baselines=background[j : j + 1], target=1, steps=64
                ).attributions.numpy()
                for j in range(background.shape[0])
            ],
            axis=0,
        )
        assert (np.abs(ours.numpy() - exact) / error).max() < 4.0  # measured 1.04
        assert (np.abs(theirs.numpy() - exact) / error).max() < 4.0  # measured 0.91


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_is_exact_on_a_linear_model(nt_type: str):
    # Without multiplying by inputs, IG of a linear model is its weight at any noisy input.
    net, (x, _) = _linear(), _data()
    weight = net.weight.detach()[0].expand(2, 3)
    kwargs: dict[str, Any] = {"nt_type": nt_type, "nt_samples": 6, "stdevs": 0.5, "target": 0}
    ours = NoiseTunnel(intgrad.IntegratedGradients(net, False)).attribute(x, **kwargs)
    theirs = _seeded(
        lambda: captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(net, False)).attribute(
            x, **kwargs
        )
    )
    expected = {"smoothgrad": weight, "smoothgrad_sq": weight**2, "vargrad": 0 * weight}[nt_type]
    _close(ours, expected)
    _close(ours, theirs)


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq"])
def test_noise_tunnel_agrees_with_captum_in_expectation(nt_type: str):
    net, (x, _) = _mlp(), _data()
    kwargs: dict[str, Any] = {"nt_samples": 500, "stdevs": 0.2, "target": 1, "n_steps": 16}
    ours = _seeded(
        lambda: NoiseTunnel(intgrad.IntegratedGradients(net)).attribute(x, nt_type, **kwargs)
    )
    theirs = _seeded(
        lambda: captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(net)).attribute(
            x, nt_type, **kwargs
        )
    )
    error = noise_tunnel(
        net,
        x,
        kind=nt_type,
        samples=500,
        stdev=0.2,
        noise="absolute",
        steps=16,
        target=1,
        seed=0,
    ).standard_error
    z = np.abs((ours - theirs).numpy()) / (np.sqrt(2) * error)
    assert z.max() < 4.0  # measured 1.69 (smoothgrad), 1.58 (smoothgrad_sq)


def test_noise_tunnel_delta_is_per_copy_in_captums_order():
    # Without noise every copy of an example has the same gap (IG with 2 steps is far from
    # complete), so the order shows: example-major, as Captum's repeat_interleave.
    net, (x, _) = _mlp(), _data(examples=3)
    kwargs: dict[str, Any] = {
        "nt_samples": 4,
        "stdevs": 0.0,
        "target": 1,
        "n_steps": 2,
        "method": "riemann_right",
        "return_convergence_delta": True,
    }
    ours, delta = NoiseTunnel(intgrad.IntegratedGradients(net)).attribute(x, **kwargs)
    theirs, captum_delta = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(net)).attribute(
        x, **kwargs
    )
    _close(ours, theirs)
    _close(delta, captum_delta)
    per_example = delta.reshape(3, 4).numpy()
    np.testing.assert_allclose(per_example, per_example[:, :1].repeat(4, axis=1), rtol=1e-12)
    assert np.abs(np.diff(per_example[:, 0])).min() > 1e-4


def test_draw_baseline_from_distrib():
    net, (x, background) = _linear(), _data(rows=1)
    kwargs: dict[str, Any] = {
        "nt_samples": 3,
        "stdevs": 0.0,
        "draw_baseline_from_distrib": True,
        "baselines": background,
        "target": 1,
    }
    ours = NoiseTunnel(intgrad.IntegratedGradients(net)).attribute(x, **kwargs)
    theirs = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(net)).attribute(x, **kwargs)
    _close(ours, (x - background) * net.weight.detach()[1])
    _close(ours, theirs)


def test_tuple_inputs_structures_and_queries():
    net = _TwoInputs()
    g = _generator()
    a = torch.randn(2, 3, generator=g, dtype=torch.float64)
    b = torch.randn(2, 2, generator=g, dtype=torch.float64)
    background = (torch.zeros(4, 3, dtype=torch.float64), torch.ones(4, 2, dtype=torch.float64))
    shap = GradientShap(net)
    attributions, delta = shap.attribute(
        (a, b), background, n_samples=3, stdevs=(0.1, 0.0), target=0, return_convergence_delta=True
    )
    assert isinstance(attributions, tuple) and [t.shape for t in attributions] == [(2, 3), (2, 2)]
    assert delta.shape == (6,)
    assert shap.has_convergence_delta() and shap.multiplies_by_inputs
    assert hasattr(GradientShap.attribute, "__wrapped__")
    with pytest.raises(NotImplementedError):
        shap.attribute_future()
    tunnel = NoiseTunnel(intgrad.IntegratedGradients(net, multiply_by_inputs=False))
    smoothed = tunnel.attribute((a, b), nt_samples=2, stdevs=(0.1, 0.2), target=1, n_steps=4)
    assert isinstance(smoothed, tuple) and [t.shape for t in smoothed] == [(2, 3), (2, 2)]
    assert tunnel.has_convergence_delta() and not tunnel.multiplies_by_inputs
    with pytest.raises(NotImplementedError):
        tunnel.attribute_future()


def test_single_input_returns_a_tensor_and_callable_baselines():
    net, (x, background) = _mlp(), _data()
    shap = GradientShap(net)
    plain = _seeded(lambda: shap.attribute(x, background, target=0))
    no_argument = _seeded(lambda: shap.attribute(x, lambda: background, target=0))
    with_inputs = _seeded(lambda: shap.attribute(x, lambda inputs: background, target=0))
    assert isinstance(plain, torch.Tensor) and plain.shape == (2, 3)
    _close(no_argument, plain)
    _close(with_inputs, plain)
    tunnel = NoiseTunnel(intgrad.IntegratedGradients(net))
    assert isinstance(tunnel.attribute(x, nt_samples=2, target=0, n_steps=4), torch.Tensor)


def test_torch_seed_makes_calls_repeatable():
    net, (x, background) = _mlp(), _data()
    shap = GradientShap(net)
    first = _seeded(lambda: shap.attribute(x, background, stdevs=0.1, target=0), seed=3)
    again = _seeded(lambda: shap.attribute(x, background, stdevs=0.1, target=0), seed=3)
    other = _seeded(lambda: shap.attribute(x, background, stdevs=0.1, target=0), seed=4)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert (first - other).abs().max() > 1e-3


def test_nt_samples_batch_size_bounds_model_calls():
    net, (x, _) = _mlp(), _data()
    rows: list[int] = []
    hook = net[0].register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    tunnel = NoiseTunnel(intgrad.IntegratedGradients(net))
    kwargs: dict[str, Any] = {"nt_samples": 5, "stdevs": 0.1, "target": 0, "n_steps": 4}
    try:
        bounded = _seeded(lambda: tunnel.attribute(x, nt_samples_batch_size=1, **kwargs))
        assert max(rows) <= 1 * 2 * 4  # one copy of each of the 2 examples at 4 steps
        rows.clear()
        whole = _seeded(lambda: tunnel.attribute(x, **kwargs))
        assert max(rows) > 8
    finally:
        hook.remove()
    torch.testing.assert_close(bounded, whole, rtol=1e-12, atol=1e-14)


def test_errors():
    net, (x, background) = _mlp(), _data()
    with pytest.raises(TypeError, match=r"NoiseTunnel wraps an intgrad\.IntegratedGradients"):
        NoiseTunnel(captum_attr.IntegratedGradients(net))
    tunnel = NoiseTunnel(intgrad.IntegratedGradients(net))
    with pytest.raises(ValueError, match="nt_type must be one of smoothgrad"):
        tunnel.attribute(x, nt_type="smooth", target=0)
    with pytest.raises(TypeError, match="unexpected arguments for IntegratedGradients: steps"):
        tunnel.attribute(x, steps=4, target=0)
    with pytest.raises(ValueError, match="nt_samples must be >= 1"):
        tunnel.attribute(x, nt_samples=0, target=0)
    with pytest.raises(ValueError, match="nt_samples_batch_size must be >= 1"):
        tunnel.attribute(x, nt_samples_batch_size=0, target=0)
    with pytest.raises(ValueError, match="draw_baseline_from_distrib needs baselines"):
        tunnel.attribute(x, draw_baseline_from_distrib=True, target=0)
    with pytest.raises(ValueError, match="stdev has 2 entries but there are 1 inputs"):
        tunnel.attribute(x, stdevs=(0.1, 0.2), target=0)
    shap = GradientShap(net)
    with pytest.raises(ValueError, match="background is required"):
        shap.attribute(x, None, target=0)
    with pytest.raises(ValueError, match="samples must be >= 1"):
        shap.attribute(x, background, n_samples=0, target=0)
    with pytest.raises(ValueError, match=r"background\[0\] has shape \(5, 2\)"):
        shap.attribute(x, background[:, :2], target=0)
    with pytest.raises(TypeError, match="forward_func must be callable"):
        GradientShap(3)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(GradientShap, captum_attr.GradientShap), (NoiseTunnel, captum_attr.NoiseTunnel)],
)
def test_signatures_match_captum(ours: Any, theirs: Any):
    def parameters(function: Any) -> list[tuple[str, Any, Any]]:
        signature = inspect.signature(function)
        return [(p.name, p.default, p.kind) for p in signature.parameters.values()]

    assert parameters(ours.__init__) == parameters(theirs.__init__)
    assert parameters(ours.attribute) == parameters(theirs.attribute)
