"""Pick the backend for a call from the inputs, the model, or an explicit name."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from intgrad._core.backend import Backend

__all__ = ["BACKEND_NAMES", "get_backend", "select_backend"]

# name → (backend module, backend class, framework module, pip extra that installs it)
_BACKENDS = {
    "torch": ("intgrad.backends.torch", "TorchBackend", "torch", "torch"),
    "tensorflow": ("intgrad.backends.tensorflow", "TensorFlowBackend", "tensorflow", "tensorflow"),
    "jax": ("intgrad.backends.jax", "JaxBackend", "jax", "jax"),
}

BACKEND_NAMES: tuple[str, ...] = tuple(_BACKENDS)
"""The framework backends a user picks from."""

_REFERENCE = ("intgrad.backends.numpy", "NumpyBackend", "numpy", "")
"""The NumPy reference backend: chosen by name, or for a model with a ``vjp`` method."""


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``ImportError`` naming the extra if its framework is absent."""
    if name == "numpy":
        return _instance(_REFERENCE)
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_NAMES)}; got {name!r}")
    module_name, class_name, framework, extra = _BACKENDS[name]
    try:
        importlib.import_module(framework)
    except ImportError:
        raise ImportError(
            f"the {name} backend needs {framework}: pip install 'intgrad[{extra}]'"
        ) from None
    backend: Backend = getattr(importlib.import_module(module_name), class_name)()
    return backend


def _instance(entry: tuple[str, str, str, str]) -> Backend:
    backend: Backend = getattr(importlib.import_module(entry[0]), entry[1])()
    return backend


def _candidates() -> list[Backend]:
    # A framework that is not imported cannot have made the inputs or the model: only the
    # backends of imported frameworks are asked (and none of them imports anything).
    return [_instance(entry) for entry in _BACKENDS.values() if entry[2] in sys.modules]


def select_backend(model: object, inputs: Sequence[object], name: str | None = None) -> Backend:
    """The backend named ``name``; else the reference backend for a model with a ``vjp``; else
    the one whose tensors ``inputs`` are; else the model's."""
    if name is not None:
        return get_backend(name)
    reference = _instance(_REFERENCE)
    if reference.accepts_model(model):
        return reference
    candidates = _candidates()
    for backend in candidates:
        if any(backend.is_native(x) for x in inputs):
            return backend
    for backend in candidates:
        if backend.accepts_model(model):
            return backend
    raise TypeError(
        "cannot tell which framework to use: inputs are "
        f"{', '.join(sorted({type(x).__name__ for x in inputs}))} and the model is "
        f"{type(model).__name__}; pass tensors of your framework or backend="
        f"{'|'.join(repr(n) for n in BACKEND_NAMES)}"
    )
