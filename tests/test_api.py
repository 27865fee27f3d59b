"""The public API: argument validation and error messages, for every installed backend."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import intgrad
from intgrad import integrated_gradients


def _model(framework: Any, rng: np.random.Generator, classes: int = 3) -> Any:
    layers = [
        (rng.normal(size=(4, 5)), np.zeros(5)),
        (rng.normal(size=(5, classes)), np.zeros(classes)),
    ]
    return framework.mlp(layers, "tanh")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"steps": 0}, ValueError, "steps must be >= 1"),
        ({"method": "simpson"}, ValueError, "method must be one of"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be a positive int"),
        ({"target": 3}, ValueError, "target 3 is out of range: the model returns 3 outputs"),
        ({"target": -1}, ValueError, "target must be >= 0"),
        ({"target": [0, 1, 2]}, ValueError, "one entry per example"),
        ({"target": [0.5, 1.5]}, TypeError, "target entries must be integers"),
        ({"target": None}, ValueError, "pass target= to choose the one to explain"),
        ({"output": "logits"}, ValueError, "output must be None"),
        ({"baselines": "purple"}, ValueError, "baselines must be one of"),
        ({"baselines": np.zeros((2, 3))}, ValueError, "does not broadcast"),
        ({"backend": "mxnet"}, ValueError, "backend must be one of"),
    ],
)
def test_argument_errors(framework: Any, rng, kwargs: dict, error: type, message: str) -> None:
    model = _model(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 4)), "float64")
    arguments = {"target": 0, **kwargs}
    with pytest.raises(error, match=message):
        integrated_gradients(model, x, **arguments)


def test_non_floating_inputs(framework: Any, rng) -> None:
    x = framework.tensor(np.ones((2, 4)), "int64")
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a floating-point tensor"):
        integrated_gradients(_model(framework, rng), x, target=0)


def test_mismatched_batch_sizes(framework: Any, rng) -> None:
    model = framework.two_inputs(rng.normal(size=(3, 2)), rng.normal(size=(4, 2)))
    inputs = (framework.tensor(np.ones((2, 3))), framework.tensor(np.ones((3, 4))))
    with pytest.raises(ValueError, match="same batch size"):
        integrated_gradients(model, inputs, target=0, additional_forward_args=(1.0,))


def test_nan_outputs_are_reported(framework: Any) -> None:
    model = framework.elementwise("square", float("nan"))
    with pytest.raises(ValueError, match=r"contain NaN or inf for example\(s\) \[0, 1\]"):
        integrated_gradients(model, framework.tensor(np.ones((2, 3)), "float64"))


def test_unknown_framework_is_reported() -> None:
    with pytest.raises(TypeError, match="cannot tell which framework"):
        integrated_gradients(lambda x: x, [np.ones((2, 3))])


def test_delta_can_be_skipped(framework: Any, rng) -> None:
    x = framework.tensor(rng.normal(size=(2, 4)), "float64")
    result = integrated_gradients(_model(framework, rng), x, target=1, return_delta=False)
    assert result.delta is None and result.f_input is None and result.relative_delta is None
    assert result.forward_evaluations == 0 and result.steps == 50
    assert result.method == "gausslegendre" and result.target.tolist() == [1, 1]


def test_relative_delta(framework: Any, rng) -> None:
    x = framework.tensor(rng.normal(size=(2, 4)), "float64")
    result = integrated_gradients(_model(framework, rng), x, target=1, steps=4)
    expected = np.abs(result.delta) / np.abs(result.f_input - result.f_baseline)
    np.testing.assert_allclose(result.relative_delta, expected)


def test_probability_output_is_the_softmax(framework: Any, rng) -> None:
    weights = [(rng.normal(size=(4, 3)), rng.normal(size=3))]
    logits_model = framework.mlp(weights, "none")
    softmax_model = framework.mlp(weights, "none", softmax=True)
    x = framework.tensor(rng.normal(size=(2, 4)), "float64")
    via_output = integrated_gradients(logits_model, x, target=2, output="probability", steps=8)
    via_model = integrated_gradients(softmax_model, x, target=2, steps=8)
    np.testing.assert_allclose(
        framework.numpy(via_output.attributions),
        framework.numpy(via_model.attributions),
        rtol=1e-12,
    )
    assert via_output.f_input.min() > 0 and via_output.f_input.max() < 1


def test_captum_style_front_end(framework: Any, rng) -> None:
    model = _model(framework, rng)
    x = framework.tensor(rng.normal(size=(2, 4)), "float64")
    explainer = intgrad.IntegratedGradients(model)
    attributions, delta = explainer.attribute(
        x, target=0, n_steps=20, internal_batch_size=3, return_convergence_delta=True
    )
    direct = integrated_gradients(model, x, target=0, steps=20)
    np.testing.assert_allclose(framework.numpy(attributions), framework.numpy(direct.attributions))
    # XLA may round F(x) differently for another chunk size: deltas are ~1e-15 here.
    np.testing.assert_allclose(delta, direct.delta, atol=1e-12)
    only = explainer.attribute(x, target=0, n_steps=20)
    np.testing.assert_allclose(framework.numpy(only), framework.numpy(direct.attributions))
    averaged = intgrad.IntegratedGradients(model, multiply_by_inputs=False).attribute(
        x, target=0, n_steps=20
    )
    # The path-averaged gradient; times x − x′ (x′ = 0) it is the attribution.
    np.testing.assert_allclose(
        framework.numpy(averaged) * framework.numpy(x),
        framework.numpy(direct.attributions),
        rtol=1e-10,
    )


def test_import_loads_no_framework() -> None:
    code = (
        "import sys, intgrad; "
        "loaded = [m for m in ('torch', 'tensorflow', 'jax', 'matplotlib') if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""


def test_public_names() -> None:
    assert set(intgrad.__all__) >= {
        "integrated_gradients",
        "IntegratedGradients",
        "Attribution",
        "quadrature_rule",
        "METHODS",
    }
    assert intgrad.METHODS == (
        "riemann_left",
        "riemann_right",
        "riemann_middle",
        "riemann_trapezoid",
        "gausslegendre",
    )


def test_progress_reports_every_chunk(framework: Any, rng) -> None:
    calls: list[tuple[int, int]] = []
    x = framework.tensor(rng.normal(size=(2, 4)), "float64")
    integrated_gradients(
        _model(framework, rng),
        x,
        target=0,
        steps=5,
        batch_size=4,
        baselines=["black", "white"],
        progress=lambda done, total: calls.append((done, total)),
    )
    # 2 examples × 5 steps × 2 baselines = 20 rows, both baselines in one pass, chunks of 4.
    assert calls == [(4, 20), (8, 20), (12, 20), (16, 20), (20, 20)]


def test_gpu_levers_are_torch_only(framework: Any, rng) -> None:
    model = framework.mlp([(rng.normal(size=(3, 2)), rng.normal(size=2))])
    x = framework.tensor(rng.normal(size=(2, 3)), "float64")
    if framework.name == "torch":
        result = integrated_gradients(model, x, target=0, steps=4, allow_tf32=True)
        assert result.steps == 4
        return
    options = (
        {"autocast": "bfloat16"},
        {"compile_model": True},
        {"allow_tf32": True},
        {"channels_last": True},
    )
    for option in options:
        with pytest.raises(ValueError, match="available with the torch backend only"):
            integrated_gradients(model, x, target=0, steps=4, **option)
