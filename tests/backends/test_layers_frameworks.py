"""Layer attribution in every framework: adaptive steps in the layer space, the same numbers.

One small model, built from the same NumPy weights in torch (a hooked module), Keras (a layer
of the model) and JAX (a pair ``(embed_fn, head_fn)``), is explained at its first hidden
activations; an embedding model does the same from integer token ids. ``steps="auto"`` must
meet its tolerance, agree with a fixed rule of many nodes, and give the same attributions in
every framework (float64 throughout, so the frameworks differ by round-off only).
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np
import pytest

import intgrad
from tests.frameworks import installed_frameworks, make_framework

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TOLERANCE = 1e-4  # steps="auto": tight enough that the planner refines past its first level
REFERENCE_STEPS = 256  # Gauss–Legendre nodes of the fixed-rule reference
_VOCAB, _WIDTH, _CLASSES, _TOKENS = 12, 5, 3, 6


def _mlp_weights(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight (in, out), bias (out,)) of a 4 → 5 → 6 → 3 tanh network."""
    sizes = [4, 5, 6, _CLASSES]
    return [
        (rng.normal(size=(i, o)), 0.5 * rng.normal(size=o)) for i, o in itertools.pairwise(sizes)
    ]


def _mlp_at_first_hidden(framework: Any, weights: list[Any]) -> tuple[Any, object]:
    """(model, layer): the layer's activations are ``tanh(x · W1 + b1)`` in every framework."""
    model = framework.mlp(weights)
    if framework.name == "torch":
        return model, model[1]  # Linear, tanh, Linear, tanh, Linear: the first tanh module
    if framework.name == "tensorflow":
        return model, model.layers[0]  # Dense(activation="tanh")
    jnp = framework.jnp
    (w1, b1), (w2, b2), (w3, b3) = ((jnp.asarray(w), jnp.asarray(b)) for w, b in weights)

    def embed(x: Any) -> Any:
        return jnp.tanh(x @ w1 + b1)

    def head(hidden: Any) -> Any:
        return jnp.tanh(hidden @ w2 + b2) @ w3 + b3

    return model, (embed, head)


def _text_weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "table": rng.normal(size=(_VOCAB, _WIDTH)),
        "w1": rng.normal(size=(_WIDTH, 4)),
        "b1": 0.5 * rng.normal(size=4),
        "w2": rng.normal(size=(4, _CLASSES)),
        "b2": 0.5 * rng.normal(size=_CLASSES),
        "ids": rng.integers(1, _VOCAB, size=(3, _TOKENS)),
    }


def _torch_text_model(weights: dict[str, np.ndarray]) -> tuple[Any, object]:
    import torch

    class Text(torch.nn.Module):
        """ids → embedding → mean over tokens → tanh dense → dense."""

        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(_VOCAB, _WIDTH, dtype=torch.float64)
            self.hidden = torch.nn.Linear(_WIDTH, 4, dtype=torch.float64)
            self.out = torch.nn.Linear(4, _CLASSES, dtype=torch.float64)
            with torch.no_grad():
                self.embedding.weight.copy_(torch.as_tensor(weights["table"]))
                self.hidden.weight.copy_(torch.as_tensor(weights["w1"].T))
                self.hidden.bias.copy_(torch.as_tensor(weights["b1"]))
                self.out.weight.copy_(torch.as_tensor(weights["w2"].T))
                self.out.bias.copy_(torch.as_tensor(weights["b2"]))

        def forward(self, ids: Any) -> Any:
            return self.out(torch.tanh(self.hidden(self.embedding(ids).mean(dim=1))))

    model = Text()
    return model, model.embedding


def _keras_text_model(weights: dict[str, np.ndarray]) -> tuple[Any, object]:
    import keras

    ids = keras.Input((_TOKENS,), dtype="int32")
    embedding = keras.layers.Embedding(_VOCAB, _WIDTH, name="embedding", dtype="float64")
    pooled = keras.layers.GlobalAveragePooling1D(dtype="float64")(embedding(ids))
    hidden = keras.layers.Dense(4, "tanh", dtype="float64", name="hidden")(pooled)
    out = keras.layers.Dense(_CLASSES, dtype="float64", name="out")
    model = keras.Model(ids, out(hidden))
    embedding.set_weights([weights["table"]])
    model.get_layer("hidden").set_weights([weights["w1"], weights["b1"]])
    out.set_weights([weights["w2"], weights["b2"]])
    return model, embedding


def _jax_text_model(framework: Any, weights: dict[str, np.ndarray]) -> tuple[Any, object]:
    jnp = framework.jnp
    p = {k: jnp.asarray(v) for k, v in weights.items() if k != "ids"}

    def embed(ids: Any) -> Any:
        return p["table"][ids]

    def head(vectors: Any) -> Any:
        return jnp.tanh(vectors.mean(axis=1) @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    return (lambda ids: head(embed(ids))), (embed, head)


def _text_model(framework: Any, weights: dict[str, np.ndarray]) -> tuple[Any, object]:
    if framework.name == "torch":
        return _torch_text_model(weights)
    if framework.name == "tensorflow":
        return _keras_text_model(weights)
    return _jax_text_model(framework, weights)


def _ids(framework: Any, weights: dict[str, np.ndarray]) -> Any:
    return framework.tensor(weights["ids"], "int32" if framework.name != "torch" else "int64")


def _relative_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per example: ‖a − b‖ / ‖b‖ over all features."""
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.linalg.norm(flat_a - flat_b, axis=1) / np.linalg.norm(flat_b, axis=1)


def _check_auto_against_reference(framework: Any, model: Any, layer: object, inputs: Any) -> Any:
    """``steps="auto"`` meets its tolerance and agrees with the fixed many-node reference."""
    target = [0, 2, 1]
    auto = intgrad.integrated_gradients(
        model, inputs, layer=layer, target=target, baselines=0, steps="auto", tolerance=TOLERANCE
    )
    fixed = intgrad.integrated_gradients(
        model, inputs, layer=layer, target=target, baselines=0, steps=REFERENCE_STEPS
    )
    assert auto.method == "auto" and auto.relative_delta is not None
    assert (auto.relative_delta <= TOLERANCE).all()
    # A nonlinear head: the first level's 25 evaluations do not reach the tolerance.
    assert auto.steps > 25
    np.testing.assert_allclose(fixed.delta, 0.0, atol=1e-10)
    np.testing.assert_allclose(auto.f_input, fixed.f_input, rtol=1e-12)
    np.testing.assert_allclose(auto.f_baseline, fixed.f_baseline, rtol=1e-12)
    # The planner's own bound on the attributions' relative L2 error: 3 × the tolerance.
    ours, reference = framework.numpy(auto.attributions), framework.numpy(fixed.attributions)
    assert (_relative_l2(ours, reference) <= 3 * TOLERANCE).all()
    return auto


def test_auto_steps_in_a_layer_space(framework: Any, rng: np.random.Generator) -> None:
    weights = _mlp_weights(rng)
    model, layer = _mlp_at_first_hidden(framework, weights)
    x = framework.tensor(rng.normal(size=(3, 4)), "float64")
    auto = _check_auto_against_reference(framework, model, layer, x)
    assert auto.attributions.shape == (3, 5)


def test_auto_steps_from_integer_ids(framework: Any, rng: np.random.Generator) -> None:
    weights = _text_weights(rng)
    model, layer = _text_model(framework, weights)
    auto = _check_auto_against_reference(framework, model, layer, _ids(framework, weights))
    assert auto.attributions.shape == (3, _TOKENS, _WIDTH)


@pytest.fixture
def torch_framework() -> Any:
    pytest.importorskip("torch")
    return make_framework("torch")


@pytest.fixture(params=[name for name in installed_frameworks() if name != "torch"])
def other_framework(request: pytest.FixtureRequest) -> Any:
    """TensorFlow or JAX, compared with torch as the reference."""
    adapter = make_framework(request.param)
    yield adapter
    getattr(adapter, "close", lambda: None)()


@pytest.mark.parametrize("steps", [16, "auto"])
def test_the_same_layer_attributions_in_every_framework(
    other_framework: Any, torch_framework: Any, rng: np.random.Generator, steps: int | str
) -> None:
    weights = _mlp_weights(rng)
    x = rng.normal(size=(3, 4))
    results = []
    for chosen in (torch_framework, other_framework):
        model, layer = _mlp_at_first_hidden(chosen, weights)
        result = intgrad.integrated_gradients(
            model, chosen.tensor(x, "float64"), layer=layer, target=1, baselines=0, steps=steps
        )
        results.append((chosen.numpy(result.attributions), result))
    (expected, reference), (ours, result) = results
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.delta, reference.delta, atol=1e-12)
    assert result.steps == reference.steps


def test_the_same_token_attributions_in_every_framework(
    other_framework: Any, torch_framework: Any, rng: np.random.Generator
) -> None:
    weights = _text_weights(rng)
    results = []
    for chosen in (torch_framework, other_framework):
        model, layer = _text_model(chosen, weights)
        result = intgrad.integrated_gradients(
            model,
            _ids(chosen, weights),
            layer=layer,
            target=[0, 2, 1],
            baselines=0,
            steps="auto",
            tolerance=TOLERANCE,
        )
        results.append((chosen.numpy(result.attributions), result))
    (expected, reference), (ours, result) = results
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.delta, reference.delta, atol=1e-12)
    assert result.steps_per_example is not None and reference.steps_per_example is not None
    np.testing.assert_array_equal(result.steps_per_example, reference.steps_per_example)


# -- several layers at once: torch only ---------------------------------------------------------


def _keras_branches() -> tuple[Any, Any, Any]:
    """(model, left, right): ``left(x) + right(x)``; the Dense layers do not feed each other."""
    keras = pytest.importorskip("keras")
    x = keras.Input((4,), dtype="float64")
    left = keras.layers.Dense(4, name="left", dtype="float64")
    right = keras.layers.Dense(4, name="right", dtype="float64")
    return keras.Model(x, keras.layers.Add(dtype="float64")([left(x), right(x)])), left, right


@pytest.mark.parametrize("form", ["tuple of one", "list of two", "tuple of names", "three"])
def test_several_keras_layers_are_refused(form: str) -> None:
    tf = pytest.importorskip("tensorflow")
    model, left, right = _keras_branches()
    layer = {
        "tuple of one": (left,),
        "list of two": [left, right],
        "tuple of names": ("left", "right"),
        "three": (left, right, model.layers[-1]),
    }[form]
    with pytest.raises(
        TypeError, match=r"layer must be a Keras layer of the model, its name, or a pair"
    ):
        intgrad.integrated_gradients(model, tf.ones((2, 4), tf.float64), layer=layer, target=0)


def test_a_tuple_of_two_keras_layers_is_refused() -> None:
    # Not a split (embed_fn, head_fn): that would explain right(left(x)), another model.
    tf = pytest.importorskip("tensorflow")
    model, left, right = _keras_branches()
    with pytest.raises(TypeError, match=r"several layers at once need torch"):
        intgrad.integrated_gradients(
            model, tf.ones((2, 4), tf.float64), layer=(left, right), target=0, steps=4
        )
