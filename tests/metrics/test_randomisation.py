"""Model randomisation: copies that differ and leave the original bitwise intact; the check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intgrad import Explainer
from intgrad.metrics import (
    model_randomisation,
    parameter_layers,
    randomised_copy,
    randomised_params,
    spearman,
    ssim,
)
from tests.metrics._models import Linear, mlp_layers


def _torch_mlp(rng: np.random.Generator, features: int = 32) -> Any:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(features, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    ).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.as_tensor(rng.normal(size=tuple(parameter.shape))))
    return model


def test_torch_copies_differ_and_leave_the_original_untouched(rng: np.random.Generator) -> None:
    model = _torch_mlp(rng)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert parameter_layers(model) == ("0", "2")
    copy = randomised_copy(model, seed=1)
    top = randomised_copy(model, seed=1, layers=["2"])
    for name, value in model.state_dict().items():
        assert value.equal(before[name]), name  # bitwise
        assert not copy.state_dict()[name].equal(value)
    assert top.state_dict()["0.weight"].equal(before["0.weight"])
    assert not top.state_dict()["2.weight"].equal(before["2.weight"])
    # Seeded per (seed, layer, tensor): the top layer is drawn the same in both copies.
    assert top.state_dict()["2.weight"].equal(copy.state_dict()["2.weight"])
    again = randomised_copy(model, seed=1)
    assert all(again.state_dict()[k].equal(v) for k, v in copy.state_dict().items())
    other = randomised_copy(model, seed=2)
    assert not other.state_dict()["0.weight"].equal(copy.state_dict()["0.weight"])
    # A redraw keeps each tensor's scale: N(0, σ²) with σ the original's standard deviation.
    drawn = copy.state_dict()["0.weight"].std().item()
    assert drawn == pytest.approx(before["0.weight"].std().item(), rel=0.1)


def test_keras_copies_differ_and_leave_the_original_untouched(rng: np.random.Generator) -> None:
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, activation="tanh", name="hidden"),
            keras.layers.Dense(3, name="logits"),
        ]
    )
    for layer, (w, b) in zip(model.layers, mlp_layers(rng), strict=True):
        layer.set_weights([w.astype("float32"), b.astype("float32")])
    before = [w.copy() for w in model.get_weights()]
    assert parameter_layers(model) == ("hidden", "logits")
    copy = randomised_copy(model, seed=0, layers=["logits"])
    for original, kept in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(original, kept)  # bitwise
    hidden, logits = copy.layers
    np.testing.assert_array_equal(hidden.get_weights()[0], before[0])
    assert not np.array_equal(logits.get_weights()[0], before[2])
    x = rng.normal(size=(2, 6)).astype("float32")
    assert not np.allclose(np.asarray(copy(x)), np.asarray(model(x)))


def test_parameter_trees_and_jax_pairs(rng: np.random.Generator) -> None:
    params = [{"w": rng.normal(size=(3, 2)), "b": np.zeros(2)}, {"w": rng.normal(size=(2, 1))}]
    assert parameter_layers(params) == ("0", "1")
    fresh = randomised_params(params, seed=3, layers=["1"])
    assert fresh[0] is params[0]
    assert not np.array_equal(fresh[1]["w"], params[1]["w"])
    everything = randomised_params(params, seed=3)
    np.testing.assert_array_equal(everything[0]["b"], np.zeros(2))  # constants stay as they are
    np.testing.assert_array_equal(everything[1]["w"], fresh[1]["w"])
    named = randomised_params({"dense": {"kernel": params[0]["w"]}}, seed=0)
    assert named["dense"]["kernel"].shape == (3, 2)

    def apply(p, x):
        return x @ p[0]["w"]

    pair = randomised_copy((apply, params), seed=3)
    assert pair[0] is apply and not np.array_equal(pair[1][0]["w"], params[0]["w"])


def test_a_jax_pair_is_randomised_and_checked(rng: np.random.Generator) -> None:
    jnp = pytest.importorskip("jax.numpy")
    layers = mlp_layers(rng, features=16)
    params = [{"w": jnp.asarray(w, "float32"), "b": jnp.asarray(b, "float32")} for w, b in layers]

    def apply(p, x):
        return jnp.tanh(x @ p[0]["w"] + p[0]["b"]) @ p[1]["w"] + p[1]["b"]

    copy = randomised_copy((apply, params), seed=2, layers=["1"])
    assert copy[1][0] is params[0] and isinstance(copy[1][1]["w"], type(params[1]["w"]))
    assert not np.array_equal(np.asarray(copy[1][1]["w"]), np.asarray(params[1]["w"]))
    x = jnp.asarray(rng.choice([-1.0, 1.0], size=(3, 16)), "float32")
    check = model_randomisation((apply, params), x, target=0, seed=2)
    assert check.stages == ("1", "0") and check.spearman_abs.shape == (2, 3)
    assert check.all_differ  # measured |ρ| ≤ 0.33


def test_the_check_flags_a_randomised_torch_model(rng: np.random.Generator) -> None:
    model = _torch_mlp(rng)
    torch = pytest.importorskip("torch")
    # Inputs of one magnitude, so |x ⊙ gradient| ranks by the gradient alone.
    x = torch.as_tensor(rng.choice([-1.0, 1.0], size=(4, 32)))
    attribution = Explainer(model).attribute(x, target=0, steps=16)
    check = model_randomisation(model, x, attribution, seed=1)
    assert check.stages == ("2", "0") and check.randomised == (("2",), ("2", "0"))
    assert check.cascade and check.ssim is None and check.spearman_abs.shape == (2, 4)
    assert check.all_differ and check.differs.all()
    assert (np.abs(check.spearman_abs) < 0.5).all()  # measured |ρ| ≤ 0.37
    assert (check.top_k_overlap < 1.0).all()
    independent = model_randomisation(model, x, attribution, cascade=False, layers=["2"])
    assert independent.stages == ("2",) and not independent.cascade
    same = model_randomisation(model, x, attribution, randomised={"itself": model})
    np.testing.assert_allclose(same.spearman_abs, 1.0, rtol=1e-12)
    np.testing.assert_allclose(same.top_k_overlap, 1.0)
    assert not same.differs.any() and same.stages == ("itself",)


def test_given_copies_of_any_framework_and_ssim_of_image_maps(rng: np.random.Generator) -> None:
    w = rng.normal(size=(6, 6))
    images = rng.normal(size=(2, 6, 6))
    check = model_randomisation(
        Linear(w), images, randomised=[Linear(w), Linear(rng.normal(size=(6, 6)))]
    )
    assert check.stages == ("0", "1") and check.ssim is not None
    np.testing.assert_allclose(check.ssim[0], 1.0, rtol=1e-12)
    np.testing.assert_allclose(check.spearman[0], 1.0, rtol=1e-12)
    assert (check.ssim[1] < 0.5).all()  # measured 0.29, 0.22
    assert check.differs.tolist() == [[False, False], [True, True]]
    pixels = model_randomisation(
        Linear(np.ones((4, 4, 3))),
        rng.normal(size=(1, 4, 4, 3)),
        randomised=[Linear(np.ones((4, 4, 3)))],
        features="pixels",
    )
    assert pixels.ssim is not None and pixels.ssim.shape == (1, 1)


def test_spearman_and_ssim_closed_forms() -> None:
    a = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 2.0], [5.0, 5.0, 5.0, 5.0]])
    b = np.array([[10.0, 20.0, 30.0, 40.0], [2.0, 1.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_allclose(spearman(a, b), [1.0, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(spearman(a, -b), [-1.0, 0.0, 0.0], atol=1e-15)
    present = np.array([[True, True, False, False]] * 3)
    np.testing.assert_allclose(spearman(a, b[:, ::-1], present), [-1.0, 0.0, 0.0], atol=1e-15)
    maps = np.random.default_rng(0).random((2, 8, 8))
    np.testing.assert_allclose(ssim(maps, 3.0 * maps), 1.0, rtol=1e-12)  # scaled to [0, 1]
    assert (ssim(maps, maps[:, ::-1]) < 0.5).all()  # measured 0.27, 0.12


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"top_fraction": 0.0}, ValueError, "top_fraction must be > 0"),
        ({"top_fraction": 2.0}, ValueError, r"top_fraction must lie in \[0, 1\]"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"randomised": []}, ValueError, "randomised must hold at least one model"),
        ({"randomised": [0], "layers": ["a"]}, ValueError, "layers applies to copies made here"),
        ({}, TypeError, "cannot randomise a Linear here: pass randomised= copies"),
    ],
)
def test_model_randomisation_refuses(kwargs, error, message) -> None:
    x = np.ones((2, 3))
    with pytest.raises(error, match=message):
        model_randomisation(Linear(np.ones(3)), x, x, **kwargs)


def test_copy_errors(rng: np.random.Generator) -> None:
    with pytest.raises(TypeError, match="randomised_copy takes a torch module, a Keras model"):
        randomised_copy(Linear(np.ones(3)))
    with pytest.raises(ValueError, match=r"no layer\(s\) \['9'\] with parameters"):
        randomised_copy(_torch_mlp(rng), layers=["9"])
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        randomised_copy(_torch_mlp(rng), seed=1.5)
    with pytest.raises(TypeError, match="params must be a dict, list or tuple of arrays"):
        randomised_params(3.0)
    with pytest.raises(TypeError, match="takes the model itself, not an Explainer"):
        model_randomisation(Explainer(Linear(np.ones(3))), np.ones((1, 3)))
    with pytest.raises(ValueError, match="metrics take one input tensor"):
        model_randomisation(Linear(np.ones(3)), (np.ones((1, 3)),), randomised=[Linear(np.ones(3))])
