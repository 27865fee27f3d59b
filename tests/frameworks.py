"""Small models built from NumPy weights in every installed framework, for backend-agnostic tests.

Each adapter builds the same mathematical function natively, so one test body checks an axiom
for every backend (parametrised by the ``framework`` fixture in ``conftest.py``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Layers = Sequence[tuple[np.ndarray, np.ndarray]]  # (weight (in, out), bias (out,)) per layer


class TorchFramework:
    name = "torch"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def tensor(self, array: Any, dtype: str = "float32") -> Any:
        return self.torch.as_tensor(np.asarray(array, dtype=dtype))

    def numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value.detach().cpu().numpy())

    def _activation(self, name: str) -> Callable[[Any], Any]:
        functional = self.torch.nn.functional
        return {
            "tanh": self.torch.tanh,
            "gelu": functional.gelu,
            "relu": functional.relu,
            "none": lambda v: v,
        }[name]

    def mlp(
        self,
        layers: Layers,
        activation: str = "tanh",
        softmax: bool = False,
        dtype: str = "float64",
    ) -> Any:
        """Dense layers with ``activation`` between them (none after the last), in ``dtype``."""
        torch = self.torch
        modules: list[Any] = []
        for position, (weight, bias) in enumerate(layers):
            linear = torch.nn.Linear(weight.shape[0], weight.shape[1], dtype=getattr(torch, dtype))
            with torch.no_grad():
                linear.weight.copy_(torch.as_tensor(weight.T))
                linear.bias.copy_(torch.as_tensor(bias))
            modules.append(linear)
            if position < len(layers) - 1 and activation != "none":
                modules.append(_TorchLambda(self._activation(activation)))
        if softmax:
            modules.append(torch.nn.Softmax(dim=-1))
        return torch.nn.Sequential(*modules)

    def elementwise(self, kind: str, constant: float) -> Callable[..., Any]:
        """F(x) = Σ_i g(x_i): ``min`` → min(x, c); ``square`` → c·x²; one value per example."""
        torch = self.torch

        def model(x: Any) -> Any:
            flat = x.reshape(x.shape[0], -1)
            if kind == "min":
                return torch.clamp(flat, max=constant).sum(dim=1)
            return (constant * flat**2).sum(dim=1)

        return model

    def two_inputs(self, w1: np.ndarray, w2: np.ndarray) -> Callable[..., Any]:
        """F(a, b, scale) = tanh(a·w1 + b·w2) · scale, outputs (examples, classes)."""
        torch = self.torch
        t1, t2 = torch.as_tensor(w1), torch.as_tensor(w2)

        def model(a: Any, b: Any, scale: Any) -> Any:
            return torch.tanh(a @ t1.to(a.dtype) + b @ t2.to(b.dtype)) * scale

        return model


class _TorchLambda:
    """A module wrapping a function, built lazily so torch is imported only when used."""

    def __new__(cls, fn: Callable[[Any], Any]) -> Any:
        import torch

        class Lambda(torch.nn.Module):
            def forward(self, x: Any) -> Any:
                return fn(x)

        return Lambda()


class TensorFlowFramework:
    name = "tensorflow"

    def __init__(self) -> None:
        import keras
        import tensorflow as tf

        self.tf = tf
        self.keras = keras

    def tensor(self, array: Any, dtype: str = "float32") -> Any:
        return self.tf.convert_to_tensor(np.asarray(array, dtype=dtype))

    def numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value.numpy())

    def mlp(
        self,
        layers: Layers,
        activation: str = "tanh",
        softmax: bool = False,
        dtype: str = "float64",
    ) -> Any:
        """A Keras Sequential of Dense layers (kernel = weight (in, out)) in ``dtype``."""
        keras = self.keras
        # Keras's "gelu" is the exact (erf) form by default, like torch's.
        names = {"tanh": "tanh", "gelu": "gelu", "relu": "relu", "none": None}
        dense = []
        for position, (weight, _) in enumerate(layers):
            hidden = position < len(layers) - 1
            name = names[activation] if hidden else None
            dense.append(keras.layers.Dense(weight.shape[1], name, dtype=dtype))
        model = keras.Sequential([keras.Input((layers[0][0].shape[0],), dtype=dtype), *dense])
        for layer, (weight, bias) in zip(dense, layers, strict=True):
            layer.set_weights([np.asarray(weight, dtype), np.asarray(bias, dtype)])
        if softmax:
            model.add(keras.layers.Softmax(axis=-1, dtype=dtype))
        return model

    def elementwise(self, kind: str, constant: float) -> Callable[..., Any]:
        """F(x) = Σ_i g(x_i): ``min`` → min(x, c); ``square`` → c·x²; one value per example."""
        tf = self.tf

        def model(x: Any) -> Any:
            flat = tf.reshape(x, [tf.shape(x)[0], -1])
            # tf.constant, not tf.cast: a Python float cast goes through float32 first.
            c = tf.constant(constant, dtype=x.dtype)
            if kind == "min":
                return tf.reduce_sum(tf.minimum(flat, c), axis=1)
            return tf.reduce_sum(c * flat**2, axis=1)

        return model

    def two_inputs(self, w1: np.ndarray, w2: np.ndarray) -> Callable[..., Any]:
        """F(a, b, scale) = tanh(a·w1 + b·w2) · scale, outputs (examples, classes)."""
        tf = self.tf
        t1, t2 = tf.constant(w1), tf.constant(w2)

        def model(a: Any, b: Any, scale: Any) -> Any:
            mixed = tf.matmul(a, tf.cast(t1, a.dtype)) + tf.matmul(b, tf.cast(t2, b.dtype))
            return tf.tanh(mixed) * tf.cast(scale, mixed.dtype)

        return model


class JaxFramework:
    name = "jax"

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        # The shared tests compute in float64 like the other frameworks, which JAX only does
        # with x64 on; ``close`` puts the previous setting back.
        self._x64 = bool(jax.config.read("jax_enable_x64"))
        jax.config.update("jax_enable_x64", True)
        self.jax = jax
        self.jnp = jnp

    def close(self) -> None:
        """Restore ``jax_enable_x64`` as it was before this adapter was made."""
        self.jax.config.update("jax_enable_x64", self._x64)

    def tensor(self, array: Any, dtype: str = "float32") -> Any:
        return self.jnp.asarray(np.asarray(array, dtype=dtype))

    def numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def _activation(self, name: str) -> Callable[[Any], Any]:
        nn = self.jax.nn
        return {
            "tanh": self.jnp.tanh,
            "gelu": lambda v: nn.gelu(v, approximate=False),
            "relu": nn.relu,
            "none": lambda v: v,
        }[name]

    def mlp(
        self,
        layers: Layers,
        activation: str = "tanh",
        softmax: bool = False,
        dtype: str = "float64",
    ) -> Any:
        """A function closing over the weights (in ``dtype``), as ``TorchFramework.mlp``."""
        jnp = self.jnp
        params = [(jnp.asarray(w, dtype), jnp.asarray(b, dtype)) for w, b in layers]
        act = self._activation(activation)

        def model(x: Any) -> Any:
            for position, (weight, bias) in enumerate(params):
                x = x @ weight + bias
                if position < len(params) - 1:
                    x = act(x)
            return self.jax.nn.softmax(x, axis=-1) if softmax else x

        return model

    def elementwise(self, kind: str, constant: float) -> Callable[..., Any]:
        """F(x) = Σ_i g(x_i): ``min`` → min(x, c); ``square`` → c·x²; one value per example."""
        jnp = self.jnp

        def model(x: Any) -> Any:
            flat = x.reshape(x.shape[0], -1)
            if kind == "min":
                return jnp.minimum(flat, constant).sum(axis=1)
            return (constant * flat**2).sum(axis=1)

        return model

    def two_inputs(self, w1: np.ndarray, w2: np.ndarray) -> Callable[..., Any]:
        """F(a, b, scale) = tanh(a·w1 + b·w2) · scale, outputs (examples, classes)."""
        jnp = self.jnp
        t1, t2 = jnp.asarray(w1), jnp.asarray(w2)

        def model(a: Any, b: Any, scale: Any) -> Any:
            return jnp.tanh(a @ t1.astype(a.dtype) + b @ t2.astype(b.dtype)) * scale

        return model


_ADAPTERS: dict[str, tuple[str, Callable[[], Any]]] = {
    "torch": ("torch", TorchFramework),
    "tensorflow": ("tensorflow", TensorFlowFramework),
    "jax": ("jax", JaxFramework),
}


def installed_frameworks() -> list[str]:
    """Names of frameworks whose packages are importable here."""
    return [name for name, (module, _) in _ADAPTERS.items() if importlib.util.find_spec(module)]


def make_framework(name: str) -> Any:
    return _ADAPTERS[name][1]()
