"""intgrad.IntegratedGradients and LayerIntegratedGradients as drop-ins for Captum's classes.

Every test runs our class and Captum's on the same small model of our own and compares the
numbers. Captum multiplies gradients by float32 step sizes, so on float64 models the two agree
to about 1e-7 relative (``RTOL``, ``ATOL``). Its trapezoid weights sum to 1 − 1/n where ours
sum to 1 (each of its weights is ours times (n − 1)/n); that factor is compared too.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest
import torch
from captum import attr as captum_attr

import intgrad
from tests.closed_forms import Quadratic

RTOL, ATOL = 1e-6, 1e-9
STEPS = 7
METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle")


def _linear(n_in: int, n_out: int) -> torch.nn.Linear:
    return torch.nn.Linear(n_in, n_out, dtype=torch.float64)


class _Net(torch.nn.Module):
    """x (N, 3) [+ shift (N, 3)] → tanh → 3 logits; ``weights`` (a list of 3 numbers) scales
    the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden, self.out = _linear(3, 4), _linear(4, 3)

    def forward(
        self, x: torch.Tensor, shift: torch.Tensor | None = None, weights: Any = None
    ) -> torch.Tensor:
        if shift is not None:
            x = x + shift
        logits = self.out(torch.tanh(self.hidden(x)))
        return logits if weights is None else logits * torch.as_tensor(weights)


class _TwoInputs(torch.nn.Module):
    """F(a, b, scale) = out(tanh(hidden(a) · b-gate)) · scale: two inputs and a constant."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden, self.gate, self.out = _linear(3, 4), _linear(2, 4), _linear(4, 2)

    def forward(self, a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(a) * torch.sigmoid(self.gate(b)))) * scale


class _Grid(torch.nn.Module):
    """Outputs of shape (N, 2, 3): for targets that are tuples of indices."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _Net()
        self.mix = _linear(3, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.net(x)).reshape(-1, 2, 3)


class _Pair(torch.nn.Module):
    """A module with two inputs and two outputs: (relu(a), tanh(b))."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.relu(a), torch.tanh(b)


class _Branches(torch.nn.Module):
    """Two branches that do not feed each other: ``first(x)`` (one input, one output) and
    ``pair(x, 2x)`` (two inputs, two outputs); their sum → ``out`` → 2 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.pair, self.out = _linear(3, 3), _Pair(), _linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.pair(x, 2.0 * x)
        return self.out(torch.tanh(self.first(x)) + a * b)


class _Reviews(torch.nn.Module):
    """Token ids (N, 5) → embedding → mean → Linear → 2 logits; an optional bias input that
    does not pass through the embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 4, dtype=torch.float64)
        self.out = _linear(4, 2)

    def forward(self, ids: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.out(self.embedding(ids).mean(dim=1))
        return logits if bias is None else logits + bias


def _seeded(module: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    for parameter in module.parameters():
        torch.nn.init.normal_(parameter, std=0.8)
    return module.eval()


@pytest.fixture
def net() -> torch.nn.Module:
    return _seeded(_Net())


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _both(model: Any, inputs: Any, **kwargs: Any) -> tuple[Any, Any]:  # ours, Captum's
    ours = intgrad.IntegratedGradients(model).attribute(inputs, **kwargs)
    theirs = captum_attr.IntegratedGradients(model).attribute(inputs, **kwargs)
    return ours, theirs


def _assert_same(ours: Any, theirs: Any, scale: float = 1.0) -> None:
    """Same structure (tensor, tuple or list) and values: ``ours · scale ≈ theirs`` to
    ``RTOL``, ``ATOL``."""
    assert type(ours) is type(theirs)
    if isinstance(ours, torch.Tensor):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_allclose(
            ours.detach().numpy() * scale, theirs.detach().numpy(), rtol=RTOL, atol=ATOL
        )
        return
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        _assert_same(mine, other, scale)


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("internal_batch_size", [None, 5])
def test_rules_and_batching_match_captum(net, x, method: str, internal_batch_size) -> None:
    ours, theirs = _both(
        net,
        x,
        target=1,
        n_steps=STEPS,
        method=method,
        internal_batch_size=internal_batch_size,
    )
    _assert_same(ours, theirs)


def test_trapezoid_is_captums_times_n_over_n_minus_one(net, x) -> None:
    # Captum's weights are 1/n (ends 1/2n), summing to 1 − 1/n; ours 1/(n − 1) (ends halved).
    ours, theirs = _both(net, x, target=2, n_steps=STEPS, method="riemann_trapezoid")
    _assert_same(ours, theirs, scale=(STEPS - 1) / STEPS)


def test_default_steps_and_method_are_captums(net, x) -> None:
    ours, theirs = _both(net, x, target=0)  # 50 Gauss–Legendre nodes
    _assert_same(ours, theirs)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "baselines",
    [None, 0.5, "tensor", "one row"],
    ids=["none", "scalar", "tensor", "broadcast-row"],
)
def test_baseline_forms(net, x, baselines) -> None:
    if baselines == "tensor":
        baselines = 0.3 * torch.ones_like(x) - x.flip(0)
    elif baselines == "one row":
        baselines = torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64)
    ours, theirs = _both(net, x, baselines=baselines, target=1, n_steps=STEPS)
    _assert_same(ours, theirs)


def test_tuple_inputs_with_a_baseline_per_input() -> None:
    model = _seeded(_TwoInputs())
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(3, 3, dtype=torch.float64, generator=generator)
    b = torch.randn(3, 2, dtype=torch.float64, generator=generator)
    baselines = (0.25, torch.zeros(1, 2, dtype=torch.float64))
    ours, theirs = _both(
        model, (a, b), baselines=baselines, target=0, additional_forward_args=2.0, n_steps=STEPS
    )
    assert isinstance(ours, tuple) and len(ours) == 2
    _assert_same(ours, theirs)


@pytest.mark.parametrize("form", ["tensor", "tuple", "tuple with a list"])
def test_additional_forward_args_forms(net, x, form: str) -> None:
    shift = 0.1 * torch.arange(12, dtype=torch.float64).reshape(4, 3)
    extra = {
        "tensor": shift,  # one argument that is not a tuple, one row per example
        "tuple": (shift, None),
        "tuple with a list": (shift, [1.0, -2.0, 0.5]),
    }[form]
    ours, theirs = _both(net, x, additional_forward_args=extra, target=0, n_steps=STEPS)
    _assert_same(ours, theirs)


def test_a_bare_list_is_one_argument(net, x) -> None:
    def model(inputs: torch.Tensor, weights: list[float]) -> torch.Tensor:
        return net(inputs, None, weights)

    ours, theirs = _both(
        model, x, additional_forward_args=[1.0, -2.0, 0.5], target=2, n_steps=STEPS
    )
    _assert_same(ours, theirs)


@pytest.mark.parametrize(
    "target",
    [
        1,
        [0, 2, 1, 1],
        torch.tensor(2),
        torch.tensor([1]),
        torch.tensor([2, 0, 1, 0]),
    ],
    ids=["int", "list", "0-d tensor", "one-element tensor", "per-example tensor"],
)
def test_target_forms_on_vector_outputs(net, x, target) -> None:
    ours, theirs = _both(net, x, target=target, n_steps=STEPS)
    _assert_same(ours, theirs)


@pytest.mark.parametrize(
    "target", [(1, 2), [(0, 1), (1, 2), (1, 0), (0, 0)]], ids=["tuple", "list of tuples"]
)
def test_target_forms_on_grid_outputs(x, target) -> None:
    ours, theirs = _both(_seeded(_Grid()), x, target=target, n_steps=STEPS)
    _assert_same(ours, theirs)


def test_no_target_for_one_value_per_example(net, x) -> None:
    def model(inputs: torch.Tensor) -> torch.Tensor:
        return net(inputs)[:, :1].reshape(-1, 1, 1, 1)  # (N, 1, 1, 1)

    ours, theirs = _both(model, x, n_steps=STEPS)
    _assert_same(ours, theirs)


def test_multiply_by_inputs_false(net, x) -> None:
    ours_ig = intgrad.IntegratedGradients(net, multiply_by_inputs=False)
    theirs_ig = captum_attr.IntegratedGradients(net, multiply_by_inputs=False)
    assert ours_ig.multiplies_by_inputs is False and theirs_ig.multiplies_by_inputs is False
    assert intgrad.IntegratedGradients(net).multiplies_by_inputs is True
    baselines = torch.full_like(x, 0.2)
    ours = ours_ig.attribute(x, baselines=baselines, target=1, n_steps=STEPS)
    theirs = theirs_ig.attribute(x, baselines=baselines, target=1, n_steps=STEPS)
    _assert_same(ours, theirs)


# --------------------------------------------------------------------------- delta


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_delta_is_a_tensor_like_captums(x, dtype) -> None:
    model = _seeded(_Net()).to(dtype)
    inputs = x.to(dtype)
    kwargs: dict[str, Any] = {"target": 2, "n_steps": 16, "return_convergence_delta": True}
    _, ours_delta = intgrad.IntegratedGradients(model).attribute(inputs, **kwargs)
    _, theirs_delta = captum_attr.IntegratedGradients(model).attribute(inputs, **kwargs)
    assert isinstance(ours_delta, torch.Tensor)
    assert ours_delta.shape == theirs_delta.shape == (4,)
    assert ours_delta.dtype == theirs_delta.dtype == dtype
    assert ours_delta.device == inputs.device
    # Both are sum(attributions) − (F(x) − F(0)) of nearly the same attributions.
    atol = 1e-5 if dtype == torch.float32 else 1e-9
    np.testing.assert_allclose(ours_delta.numpy(), theirs_delta.numpy(), atol=atol)
    assert float(ours_delta.abs().max()) < 1e-3  # 16 Gauss–Legendre nodes on a smooth model


def test_delta_equals_compute_convergence_delta(net, x) -> None:
    explainer = intgrad.IntegratedGradients(net)
    baselines = (0.1,)
    attributions, delta = explainer.attribute(
        (x,), baselines=baselines, target=[0, 1, 2, 0], n_steps=5, return_convergence_delta=True
    )
    again = explainer.compute_convergence_delta(attributions, baselines, (x,), target=[0, 1, 2, 0])
    assert torch.equal(delta, again)
    # Captum's own method on the same attributions: the same formula.
    theirs = captum_attr.IntegratedGradients(net).compute_convergence_delta(
        attributions, baselines, (x,), target=[0, 1, 2, 0]
    )
    np.testing.assert_allclose(again.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_random_named_baselines_keep_the_engines_own_delta(net, x) -> None:
    # A second evaluation would draw another uniform baseline; the delta is the engine's.
    _, delta = intgrad.IntegratedGradients(net).attribute(
        x, baselines="uniform", target=0, n_steps=16, return_convergence_delta=True
    )
    assert isinstance(delta, torch.Tensor) and delta.shape == (4,)
    assert float(delta.abs().max()) < 1e-4


def test_compute_convergence_delta_checks_the_batch(net, x) -> None:
    with pytest.raises(ValueError, match="attributions\\[0\\] has 2 examples"):
        intgrad.IntegratedGradients(net).compute_convergence_delta(x[:2], None, x, target=0)


# --------------------------------------------------------------------------- Captum's protocol


def test_captums_protocol(net) -> None:
    ours, theirs = intgrad.IntegratedGradients(net), captum_attr.IntegratedGradients(net)
    assert ours.forward_func is net and ours.has_convergence_delta() is True
    # NoiseTunnel calls attribute.__wrapped__(explainer, inputs, **kwargs), as Captum's own.
    unwrapped = ours.attribute.__wrapped__  # type: ignore[attr-defined]
    x = torch.ones(2, 3, dtype=torch.float64)
    _assert_same(unwrapped(ours, x, target=1, n_steps=3), ours.attribute(x, target=1, n_steps=3))
    assert list(inspect.signature(ours.attribute).parameters) == list(
        inspect.signature(theirs.attribute).parameters
    )
    layer_ours = intgrad.LayerIntegratedGradients(net, net.hidden)
    layer_theirs = captum_attr.LayerIntegratedGradients(net, net.hidden)
    assert list(inspect.signature(layer_ours.attribute).parameters) == list(
        inspect.signature(layer_theirs.attribute).parameters
    )
    assert layer_ours.layer is net.hidden and layer_ours.device_ids is None
    for explainer in (ours, layer_ours):
        with pytest.raises(NotImplementedError):
            explainer.attribute_future()


def test_invalid_constructor_arguments(net) -> None:
    with pytest.raises(TypeError, match="forward_func must be callable"):
        intgrad.IntegratedGradients(42)
    with pytest.raises(TypeError, match="multiply_by_inputs must be a bool"):
        intgrad.IntegratedGradients(net, multiply_by_inputs=1)
    with pytest.raises(TypeError, match="device_ids must be None or a list of ints"):
        intgrad.LayerIntegratedGradients(net, net.hidden, device_ids="0")
    assert intgrad.LayerIntegratedGradients(net, net.hidden, device_ids=[0]).device_ids == [0]


@pytest.mark.parametrize("nt_type", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_noise_tunnel_wraps_ours_like_captums(net, x, nt_type: str) -> None:
    kwargs: dict[str, Any] = {
        "nt_type": nt_type,
        "nt_samples": 3,
        "nt_samples_batch_size": 2,
        "stdevs": 0.2,
        "target": 1,
        "baselines": 0.1,
        "n_steps": STEPS,
        "return_convergence_delta": True,
    }
    results = []
    for explainer in (intgrad.IntegratedGradients(net), captum_attr.IntegratedGradients(net)):
        torch.manual_seed(7)  # NoiseTunnel draws its noise from torch's global generator
        results.append(captum_attr.NoiseTunnel(explainer).attribute(x, **kwargs))
    (ours, ours_delta), (theirs, theirs_delta) = results
    _assert_same(ours, theirs)
    assert ours_delta.shape == theirs_delta.shape == (4 * 3,)
    np.testing.assert_allclose(ours_delta.numpy(), theirs_delta.numpy(), atol=1e-9)


# --------------------------------------------------------------------------- layers


def test_embedding_layer_with_integer_ids() -> None:
    model = _seeded(_Reviews())
    ids = torch.randint(0, 10, (3, 5), generator=torch.Generator().manual_seed(3))
    baselines = torch.zeros(1, 5, dtype=torch.long)
    kwargs: dict[str, Any] = {
        "baselines": baselines,
        "target": [1, 0, 1],
        "n_steps": STEPS,
        "return_convergence_delta": True,
    }
    ours, ours_delta = intgrad.LayerIntegratedGradients(model, model.embedding).attribute(
        ids, **kwargs
    )
    theirs, theirs_delta = captum_attr.LayerIntegratedGradients(model, model.embedding).attribute(
        ids, **kwargs
    )
    assert ours.shape == (3, 5, 4)
    _assert_same(ours, theirs)
    # Here the ids are the only input: both deltas are the same gap.
    assert ours_delta.dtype == theirs_delta.dtype == torch.float64
    np.testing.assert_allclose(ours_delta.numpy(), theirs_delta.numpy(), atol=1e-9)


def test_layer_delta_is_the_paths_own_gap() -> None:
    """captum#1413: with an input that bypasses the layer, Captum's delta subtracts F at the
    full baseline inputs; ours is the gap of the path integrated, and shrinks to 0."""
    model = _seeded(_Reviews())
    ids = torch.randint(0, 10, (2, 5), generator=torch.Generator().manual_seed(4))
    bias = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=torch.float64)
    inputs, baselines = (ids, bias), (torch.zeros_like(ids), torch.zeros_like(bias))
    kwargs: dict[str, Any] = {"baselines": baselines, "target": 0, "n_steps": 32}
    ours_lig = intgrad.LayerIntegratedGradients(model, model.embedding)
    attributions, delta = ours_lig.attribute(inputs, return_convergence_delta=True, **kwargs)
    _, theirs_delta = captum_attr.LayerIntegratedGradients(model, model.embedding).attribute(
        inputs, return_convergence_delta=True, **kwargs
    )
    assert float(delta.abs().max()) < 1e-9
    # Captum's gap is ours minus the bias's change of the logit: −(0.5, 2.0).
    np.testing.assert_allclose(theirs_delta.numpy(), [-0.5, -2.0], atol=1e-6)
    # compute_convergence_delta keeps Captum's definition (F at the model inputs).
    again = ours_lig.compute_convergence_delta(attributions, baselines, inputs, target=0)
    np.testing.assert_allclose(again.numpy(), theirs_delta.numpy(), atol=1e-6)


@pytest.mark.parametrize("to_input", [False, True])
def test_a_list_of_two_layers(x, to_input: bool) -> None:
    model = _seeded(_Branches())
    kwargs: dict[str, Any] = {"target": 1, "n_steps": STEPS, "attribute_to_layer_input": to_input}
    ours = intgrad.LayerIntegratedGradients(model, [model.first, model.pair]).attribute(x, **kwargs)
    with pytest.warns(UserWarning, match="Multiple layers provided"):
        captum_lig = captum_attr.LayerIntegratedGradients(model, [model.first, model.pair])
    theirs = captum_lig.attribute(x, **kwargs)
    # A list of two: a tensor for `first`, a tuple of two for `pair` (two inputs or outputs).
    assert isinstance(ours, list) and len(ours) == 2
    assert isinstance(ours[0], torch.Tensor) and isinstance(ours[1], tuple)
    _assert_same(ours, theirs)


def test_one_layer_in_a_list_gives_a_list(net, x) -> None:
    kwargs: dict[str, Any] = {"target": 0, "n_steps": STEPS}
    ours = intgrad.LayerIntegratedGradients(net, [net.hidden]).attribute(x, **kwargs)
    theirs = captum_attr.LayerIntegratedGradients(net, [net.hidden]).attribute(x, **kwargs)
    assert isinstance(ours, list) and len(ours) == 1
    _assert_same(ours, theirs)


def test_layer_with_a_tuple_output_and_no_multiplying(x) -> None:
    model = _seeded(_Branches())
    kwargs: dict[str, Any] = {"target": 0, "n_steps": STEPS, "baselines": 0.3}
    ours = intgrad.LayerIntegratedGradients(model, model.pair, multiply_by_inputs=False).attribute(
        x, **kwargs
    )
    theirs = captum_attr.LayerIntegratedGradients(
        model, model.pair, multiply_by_inputs=False
    ).attribute(x, **kwargs)
    assert isinstance(ours, tuple) and len(ours) == 2
    _assert_same(ours, theirs)


def test_layer_internal_batching_and_grad_kwargs(net, x) -> None:
    kwargs: dict[str, Any] = {"target": [2, 1, 0, 0], "n_steps": STEPS, "internal_batch_size": 8}
    ours = intgrad.LayerIntegratedGradients(net, net.hidden).attribute(
        x, grad_kwargs={"materialize_grads": True}, **kwargs
    )
    theirs = captum_attr.LayerIntegratedGradients(net, net.hidden).attribute(x, **kwargs)
    _assert_same(ours, theirs)
    with pytest.raises(ValueError, match=r"grad_kwargs \['retain_graph'\] are not supported"):
        intgrad.LayerIntegratedGradients(net, net.hidden).attribute(
            x, target=0, grad_kwargs={"retain_graph": True}
        )


def _in_place_net(inplace: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    relu = torch.nn.ReLU(inplace=inplace)
    return torch.nn.Sequential(_linear(3, 4), relu, _linear(4, 2)).eval()


def test_a_layer_before_an_in_place_module(x) -> None:
    # Captum raises here ("a leaf Variable that requires grad is being used in an in-place
    # operation"); ours copies the activations it captures and the points it puts in.
    model, reference = _in_place_net(True), _in_place_net(False)
    kwargs: dict[str, Any] = {"target": 0, "n_steps": STEPS, "baselines": -0.5}
    ours = intgrad.LayerIntegratedGradients(model, model[0]).attribute(x, **kwargs)
    theirs = captum_attr.LayerIntegratedGradients(reference, reference[0]).attribute(x, **kwargs)
    _assert_same(ours, theirs)


class _Dictionary(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"h": x}


def test_layers_must_run_and_hold_tensors(net, x) -> None:
    wrapped = _Dictionary()

    def model(inputs: torch.Tensor) -> torch.Tensor:
        return net(wrapped(inputs)["h"])

    with pytest.raises(TypeError, match=r"layer 0 \(_Dictionary\) returns no tensor"):
        intgrad.LayerIntegratedGradients(model, wrapped).attribute(x, target=0, n_steps=2)
    with pytest.raises(ValueError, match="layer 0 was not called"):
        intgrad.LayerIntegratedGradients(net, wrapped).attribute(x, target=0, n_steps=2)


def test_layer_noise_tunnel(net, x) -> None:
    kwargs: dict[str, Any] = {"nt_type": "smoothgrad", "nt_samples": 2, "stdevs": 0.1}
    kwargs.update(target=0, n_steps=STEPS)
    results = []
    for lig in (
        intgrad.LayerIntegratedGradients(net, net.hidden),
        captum_attr.LayerIntegratedGradients(net, net.hidden),
    ):
        torch.manual_seed(11)
        results.append(captum_attr.NoiseTunnel(lig).attribute(x, **kwargs))
    _assert_same(*results)


# --------------------------------------------------------------------------- other frameworks


def test_non_torch_inputs_go_through_the_engine() -> None:
    """A NumPy model (the reference backend): NumPy attributions and delta."""
    c = np.array([1.0, -2.0, 0.5])
    inputs = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    attributions, delta = intgrad.IntegratedGradients(Quadratic(c)).attribute(
        inputs, baselines=0.5, n_steps=3, return_convergence_delta=True
    )
    assert isinstance(attributions, np.ndarray) and isinstance(delta, np.ndarray)
    # Gauss–Legendre integrates the linear gradient exactly: IG = c (x² − x′²).
    np.testing.assert_allclose(attributions, c * (inputs**2 - 0.25), rtol=1e-12)
    np.testing.assert_allclose(delta, 0.0, atol=1e-12)
    assert delta.shape == (2,) and delta.dtype == np.float64
