"""The few framework-specific steps of explaining a table: detect, convert, call the model.

Each framework is imported only when a model of it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["AffineHead", "affine_head", "forward_logits", "framework_of", "to_native", "to_numpy"]

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


@dataclass(frozen=True)
class AffineHead:
    """A model ``F(x) = G(W x + b)`` split at its first layer, a plain ``nn.Linear``.

    Along the straight path ``x′ + α (x − x′)`` the layer's output moves on the straight path
    ``z′ + α (z − z′)`` of ``z = W x + b``, and ``∂F/∂x = Wᵀ ∂G/∂z``; so the Integrated
    Gradients of the inputs are ``(x − x′) ⊙ Wᵀ ∫ ∂G/∂z dα``: the integral of the rest of the
    model's gradient along the path of ``z``, mapped back once per row instead of once per
    path point. The same nodes and weights give the same quadrature of the same integral
    (Sundararajan, Taly & Yan 2017, eq. 1), without the first layer's forward and input-gradient
    products at every point — for a one-hot MLP most of its work.

    Attributes:
        weight: shape (hidden, inputs), the layer's ``W`` (the user's tensor, never written).
        bias: shape (hidden,), or ``None``.
        rest: the model after the layer (a new ``nn.Sequential`` of the same modules).
    """

    weight: Any
    bias: Any
    rest: Any

    def same_modules(self, other: AffineHead) -> bool:
        """Whether ``other`` splits the same modules (the same tensors, the same rest)."""
        return (
            self.weight is other.weight
            and self.bias is other.bias
            and len(self.rest) == len(other.rest)
            and all(a is b for a, b in zip(self.rest, other.rest, strict=True))
        )

    def apply(self, rows: Any) -> Any:
        """``W x + b`` of rows (rows, inputs), a tensor: shape (rows, hidden), no autograd."""
        import torch

        with torch.no_grad():
            return torch.nn.functional.linear(rows, self.weight, self.bias)

    def input_attributions(self, mean_gradients: Any, inputs: Any, starts: Any) -> np.ndarray:
        """``(x − x′) ⊙ Wᵀ ḡ`` in float64: shape (rows, inputs).

        Args:
            mean_gradients: shape (rows, hidden), the path-averaged ``∂G/∂z`` (tensor).
            inputs: shape (rows, inputs), the rows ``x``.
            starts: shape (rows, inputs) or (1, inputs), their baselines ``x′``.
        """
        import torch

        with torch.no_grad():
            weight = self.weight.detach().to(torch.float64)
            mapped = mean_gradients.detach().to(torch.float64) @ weight
            difference = inputs.to(torch.float64) - starts.to(torch.float64)
            return to_numpy(difference * mapped)


def _hooked(module: Any) -> bool:
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return any(len(getattr(module, name, None) or ()) for name in names)


def _global_hooks() -> bool:
    from torch.nn.modules import module as torch_module

    names = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks")
    return any(len(getattr(torch_module, name, None) or ()) for name in names)


def affine_head(model: Any, framework: str) -> AffineHead | None:
    """The :class:`AffineHead` split of a plain torch ``nn.Sequential`` whose first module is a
    plain ``nn.Linear`` (at least one module after it, no hooks anywhere), else ``None``.

    Subclasses are not split (their ``forward`` may do anything), nor Keras or JAX models.
    """
    if framework != "torch":
        return None
    import torch

    if type(model) is not torch.nn.Sequential or len(model) < 2:
        return None
    first = model[0]
    if type(first) is not torch.nn.Linear or _global_hooks():
        return None
    if any(_hooked(m) for m in (model, *model.modules())):
        return None
    return AffineHead(first.weight, first.bias, model[1:])
