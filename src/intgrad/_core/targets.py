"""Which scalar of the model's output is explained: the ``target`` forms and the selection.

Target forms (Captum's, all accepted): ``None`` for models with one value per example; an int
(the same output for every example; it indexes the flattened per-example output); a tuple of
ints (a multi-dimensional index, the same for every example); a list with one int or one tuple
per example; a tensor or array that is 0-d or has one element (the same for every example), or
has one entry per example.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from intgrad._core.primitives import ArrayOps

__all__ = [
    "OUTPUT_NAMES",
    "check_targets",
    "normalise_targets",
    "resolve_target",
    "select_outputs",
    "validate_output",
]

OUTPUT_NAMES = ("probability",)
"""Named output transforms: ``"probability"`` is the softmax over the last axis."""


def validate_output(output: object) -> str | Callable[[Any], Any] | None:
    """Check the ``output`` argument: ``None``, ``"probability"`` or a callable."""
    if output is None or callable(output) or output in OUTPUT_NAMES:
        return output
    raise ValueError(
        f"output must be None (raw outputs), 'probability' or a callable; got {output!r}"
    )


def _index_tuple(value: object) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise TypeError("target must be an int, a tuple of ints, a sequence or None, got a bool")
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        return tuple(int(v) for v in value)
    raise TypeError(f"target entries must be integers or tuples of integers, got {value!r}")


def normalise_targets(
    target: object, num_examples: int, to_numpy: Callable[[object], np.ndarray] | None = None
) -> tuple[np.ndarray, ...]:
    """``target`` as one int64 array of shape (examples,) per index; () for ``None``.

    Args:
        target: any of the forms in this module's docstring.
        num_examples: the batch size.
        to_numpy: converts a framework tensor to NumPy (the backend's ``to_numpy``).

    Raises:
        ValueError, TypeError: a malformed target, with what was expected.
    """
    if target is None:
        return ()
    if isinstance(target, (int, np.integer, tuple, bool)):
        rows = [_index_tuple(target)] * num_examples
    elif isinstance(target, list):
        if len(target) != num_examples:
            raise ValueError(
                f"target list must have one entry per example ({num_examples}), got {len(target)}"
            )
        rows = [_index_tuple(t) for t in target]
    else:
        array = np.asarray(to_numpy(target) if to_numpy is not None else target)
        if not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"target entries must be integers, got dtype {array.dtype}")
        if array.size == 1:
            rows = [(int(array.reshape(-1)[0]),)] * num_examples
        elif array.ndim == 1 and array.shape[0] == num_examples:
            rows = [(int(v),) for v in array]
        else:
            raise ValueError(
                f"target must be an int or have one entry per example ({num_examples}); "
                f"got shape {tuple(array.shape)}"
            )
    if len({len(r) for r in rows}) > 1:
        raise ValueError("target tuples must all have the same length")
    columns = np.array(rows, dtype=np.int64).reshape(num_examples, -1)
    if (columns < 0).any():
        raise ValueError(f"target must be >= 0, got {int(columns.min())}")
    return tuple(np.ascontiguousarray(columns[:, j]) for j in range(columns.shape[1]))


def check_targets(targets: tuple[np.ndarray, ...], output_shape: tuple[int, ...]) -> None:
    """``ValueError`` when a target is out of range of the per-example output shape.

    The shape errors (no target for a vector output, the wrong number of indices) are raised by
    :func:`select_outputs` itself; index values can only be checked on the host, here.
    """
    sizes = (int(np.prod(output_shape)),) if len(targets) == 1 else output_shape
    for position, (column, size) in enumerate(zip(targets, sizes, strict=False)):
        if column.size and int(column.max()) >= size:
            where = "" if len(targets) == 1 else f" at index position {position}"
            raise ValueError(
                f"target {int(column.max())}{where} is out of range: the model returns "
                f"{size} outputs per example"
            )


def select_outputs(
    ops: ArrayOps,
    outputs: Any,
    row_targets: tuple[Any, ...],
    output: str | Callable[[Any], Any] | None,
    shapes: dict[tuple[int, ...], tuple[int, ...]] | None = None,
) -> Any:
    """The selected output per row, shape (rows,), still on the autodiff tape.

    Indices are clamped into range here (compiled steps cannot raise); the caller checks the
    targets against the output shape recorded in ``shapes`` with :func:`check_targets`.

    Args:
        ops: the backend's primitives.
        outputs: what the model returned for a chunk, shape (rows, ...).
        row_targets: the targets of each row, one int array of shape (rows,) per index.
        output: ``None`` (raw), ``"probability"`` (softmax over the last axis) or a callable.
        shapes: where to record the per-example output shape (keyed by itself).
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
    rows, per_example = shape[0], tuple(shape[1:])
    if shapes is not None:
        shapes[per_example] = per_example
    if not row_targets:
        if int(np.prod(per_example)) != 1:
            raise ValueError(
                f"the model returns {int(np.prod(per_example))} outputs per example (shape "
                f"{per_example}); pass target= to choose the one to explain"
            )
        return ops.reshape(outputs, (rows,))
    if len(row_targets) == 1:
        return ops.take_columns(ops.reshape(outputs, (rows, -1)), row_targets[0])
    if len(row_targets) != len(per_example):
        raise ValueError(
            f"target has {len(row_targets)} indices but the model's output per example has "
            f"shape {per_example}"
        )
    selected = outputs
    for column in row_targets:
        selected = ops.take_columns(selected, column)
    return selected


def resolve_target(target: object, labels: Sequence[str], classes: int) -> int:
    """A class index from an index or a label name (case-insensitive).

    Raises:
        ValueError: an unknown label or an index out of range; the message lists the labels.
    """
    names = ", ".join(repr(label) for label in labels) or f"0..{classes - 1}"
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target must be a class index or label name, got {target!r}")
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < classes:
            raise ValueError(f"target {int(target)} is out of range for {classes} classes")
        return int(target)
    if isinstance(target, str):
        lowered = [label.lower() for label in labels]
        if target.lower() in lowered:
            return lowered.index(target.lower())
        if target.strip().isdigit():
            return resolve_target(int(target), labels, classes)
        raise ValueError(f"unknown label {target!r}; the model's labels are {names}")
    raise TypeError(f"target must be a class index or label name, got {type(target).__name__}")
