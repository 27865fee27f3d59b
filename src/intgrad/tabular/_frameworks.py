"""The few framework-specific steps of explaining a table: detect, convert, call the model.

Each framework is imported only when a model of it is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["forward_logits", "framework_of", "to_native", "to_numpy"]

_FORWARD_ROWS = 65_536  # rows per forward pass when predicting


def framework_of(model: object) -> str:
    """``"torch"``, ``"tensorflow"`` or ``"jax"``: the framework of a model (or ``TypeError``)."""
    from intgrad.backends._registry import select_backend

    try:
        name = select_backend(model, []).name
    except TypeError:
        name = "unknown"
    if name not in ("torch", "tensorflow", "jax"):
        raise TypeError(
            f"cannot tell the framework of a {type(model).__name__}: give a torch.nn.Module, "
            "a Keras model or a JAX pair (apply_fn, params)"
        )
    return name


def _torch_device(module: Any) -> Any:
    parameter = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
    return None if parameter is None else parameter.device


def to_native(values: np.ndarray, framework: str, model: Any) -> Any:
    """A float32 array (rows, features) as the framework's tensor (on the model's device)."""
    array = np.ascontiguousarray(values, dtype=np.float32)
    if framework == "torch":
        import torch

        tensor = torch.from_numpy(array)
        device = _torch_device(model)
        return tensor if device is None else tensor.to(device)
    if framework == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(array)
    import jax.numpy as jnp

    return jnp.asarray(array)


def to_numpy(tensor: Any) -> np.ndarray:
    """A framework tensor as a NumPy array (copied off the device)."""
    if hasattr(tensor, "detach"):
        return np.asarray(tensor.detach().cpu().numpy())
    return np.asarray(tensor)


def _call(model: Any, framework: str, inputs: Any) -> Any:
    if framework == "torch":
        import torch

        with torch.no_grad():
            return model(inputs)
    if framework == "jax" and isinstance(model, tuple) and len(model) == 2 and callable(model[0]):
        apply_fn, params = model
        return apply_fn(params, inputs)
    return model(inputs)


def forward_logits(model: Any, framework: str, encoded: np.ndarray) -> np.ndarray:
    """The model's outputs of encoded rows: shape (rows, outputs), float64."""
    chunks = []
    for start in range(0, encoded.shape[0], _FORWARD_ROWS):
        inputs = to_native(encoded[start : start + _FORWARD_ROWS], framework, model)
        chunks.append(to_numpy(_call(model, framework, inputs)).astype(np.float64))
    outputs = np.concatenate(chunks)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] != encoded.shape[0]:
        raise ValueError(
            f"the model must map (rows, features) to (rows, outputs), got shape {outputs.shape} "
            f"for {encoded.shape[0]} rows"
        )
    return outputs
