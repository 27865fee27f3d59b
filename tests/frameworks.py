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


_ADAPTERS: dict[str, tuple[str, Callable[[], Any]]] = {
    "torch": ("torch", TorchFramework),
}


def installed_frameworks() -> list[str]:
    """Names of frameworks whose packages are importable here."""
    return [name for name, (module, _) in _ADAPTERS.items() if importlib.util.find_spec(module)]


def make_framework(name: str) -> Any:
    return _ADAPTERS[name][1]()
