"""What every backend does the same way: choosing the scalar per row that gets differentiated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from intgrad._core.backend import Acceleration

__all__ = [
    "OUTPUT_NAMES",
    "OutputOps",
    "refuse_acceleration",
    "select_outputs",
    "validate_output",
]

OUTPUT_NAMES = ("probability",)


class OutputOps(Protocol):
    """The four tensor operations :func:`select_outputs` needs from a backend."""

    def softmax(self, outputs: Any) -> Any: ...

    def shape(self, outputs: Any) -> tuple[int, ...]: ...

    def reshape(self, outputs: Any, shape: tuple[int, ...]) -> Any: ...

    def take(self, outputs: Any, targets: np.ndarray) -> Any: ...


def validate_output(output: object) -> str | Callable[[Any], Any] | None:
    """Check the ``output`` argument: ``None``, ``"probability"`` or a callable."""
    if output is None or callable(output) or output in OUTPUT_NAMES:
        return output
    raise ValueError(
        f"output must be None (raw outputs), 'probability' or a callable; got {output!r}"
    )


def select_outputs(
    ops: OutputOps,
    outputs: Any,
    targets: np.ndarray | None,
    output: str | Callable[[Any], Any] | None,
) -> Any:
    """The selected output per row, shape (rows,), still on the autodiff tape.

    Args:
        ops: the backend's tensor operations.
        outputs: what the model returned for a chunk, shape (rows, ...).
        targets: shape (rows,), int64, an index into each row's flattened outputs, or ``None``
            when the model returns one value per row.
        output: ``None`` (raw), ``"probability"`` (softmax over the last axis) or a callable
            applied to the raw outputs.
    """
    if isinstance(outputs, (tuple, list, dict)):
        raise TypeError(
            f"the model returned a {type(outputs).__name__}; pass output= a callable that "
            "picks the tensor to explain"
        )
    if output == "probability":
        outputs = ops.softmax(outputs)
    elif callable(output):
        outputs = output(outputs)
    shape = ops.shape(outputs)
    if len(shape) == 0:
        raise ValueError("the model must return one row of outputs per example, got a scalar")
    rows = shape[0]
    if targets is None:
        if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
            return ops.reshape(outputs, (rows,))
        raise ValueError(
            f"the model returns {int(np.prod(shape[1:]))} outputs per example (shape "
            f"{shape[1:]}); pass target= to choose the one to explain"
        )
    flat = ops.reshape(outputs, (rows, -1))
    width = ops.shape(flat)[1]
    if targets.size and int(targets.max()) >= width:
        raise ValueError(
            f"target {int(targets.max())} is out of range: the model returns {width} outputs "
            "per example"
        )
    return ops.take(flat, targets)


def refuse_acceleration(backend_name: str, acceleration: Acceleration) -> None:
    """``ValueError`` when a lever is requested from a backend that has none.

    TensorFlow and JAX already compile every chunk's step (``tf.function``, ``jax.jit``);
    mixed precision there belongs to the model (Keras policies, the parameters' dtype).
    """
    acceleration.checked()
    if acceleration.requested:
        raise ValueError(
            "autocast, compile_model, allow_tf32 and channels_last are available with the"
            " torch backend only;"
            f" the {backend_name} backend compiles each step already (use the model's own"
            " mixed precision instead of autocast)"
        )
