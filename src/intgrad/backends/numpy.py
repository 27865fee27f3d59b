"""The NumPy reference backend: the core's primitives on ``numpy.ndarray``, analytic gradients.

It exists to test the core — the chunk loop, the planners, the paths, the checks — without any
framework, on functions whose gradients and integrals are known in closed form. A model is any
object with ``__call__(*inputs) -> outputs`` of shape (rows, ...) and
``vjp(inputs, cotangent) -> tuple of gradients``, one per input (see :class:`ClosedForm`).
The output transforms (softmax, selecting a target) are differentiated here by the chain rule.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from intgrad._core.arguments import ArgumentLayout
from intgrad._core.backend import Acceleration, LayerBinding
from intgrad._core.baselines import (
    BaselineRule,
    ConstantBaseline,
    ExplicitBaseline,
    check_broadcastable,
)
from intgrad._core.chunks import DEFAULT_CHUNK_ELEMENTS
from intgrad._core.layers import is_layer_pair, layer_pair, split_binding
from intgrad.backends._common import refuse_acceleration

__all__ = ["HESSIAN_STEP", "ClosedForm", "NumpyBackend", "NumpyOps"]

HESSIAN_STEP = 1e-3
"""The step of the reference backend's central-difference Hessian-vector products."""


class ClosedForm(Protocol):
    """A function with a hand-written vector-Jacobian product."""

    def __call__(self, *inputs: np.ndarray) -> np.ndarray: ...

    def vjp(self, inputs: tuple[np.ndarray, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        """The gradient of ``Σ cotangent · self(*inputs)`` with respect to each input."""
        ...


class _Traced:
    """A value and how to pull a cotangent of it back to the path points."""

    def __init__(self, value: np.ndarray, backward: Callable[[np.ndarray], tuple[np.ndarray, ...]]):
        self.value = value
        self.backward = backward

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)


def _value(x: Any) -> np.ndarray:
    return x.value if isinstance(x, _Traced) else np.asarray(x)


class NumpyOps:
    """:class:`~intgrad._core.primitives.ArrayOps` on NumPy arrays."""

    name = "numpy"
    pads_chunks = False

    def from_host(self, values: np.ndarray, like: Any = None) -> np.ndarray:
        values = np.asarray(values)
        if like is not None and np.issubdtype(values.dtype, np.floating):
            return values.astype(like.dtype)
        return values.copy()

    def to_host(self, values: Any) -> np.ndarray:
        value = _value(values)
        return value.copy() if np.issubdtype(value.dtype, np.integer) else value.astype(np.float64)

    def take(self, values: np.ndarray, index: np.ndarray) -> np.ndarray:
        return values[index]

    def concat(self, values: tuple[np.ndarray, ...]) -> np.ndarray:
        return np.concatenate(values, axis=0)

    def per_row(self, column: np.ndarray, like: np.ndarray) -> np.ndarray:
        return column.astype(like.dtype).reshape((-1,) + (1,) * (like.ndim - 1))

    def zeros(self, like: np.ndarray) -> np.ndarray:
        return np.zeros(like.shape, np.promote_types(like.dtype, np.float32))

    def cast(self, values: np.ndarray, like: np.ndarray) -> np.ndarray:
        return values.astype(like.dtype)

    def scatter_add(self, accumulator: np.ndarray, index: np.ndarray, rows: np.ndarray) -> Any:
        np.add.at(accumulator, index, rows)
        return accumulator

    def row_sums(self, values: np.ndarray) -> np.ndarray:
        return values.reshape(values.shape[0], -1).astype(np.float64).sum(axis=1)

    def value_and_grad(
        self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        result = f(points)
        if not isinstance(result, _Traced):  # does not depend on the points
            return np.asarray(result), tuple(np.zeros_like(p) for p in points)
        grads = result.backward(np.ones_like(result.value))
        return result.value, tuple(g.astype(p.dtype) for g, p in zip(grads, points, strict=True))

    def value(self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]) -> np.ndarray:
        return _value(f(points))

    def hessian_vector(
        self,
        f: Callable[[tuple[Any, ...]], Any],
        points: tuple[Any, ...],
        tangents: tuple[Any, ...],
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        # The reference backend has first derivatives only: H·t is the central difference of
        # the gradient along t, exact (to rounding) for models whose gradient is at most
        # quadratic — the closed forms the core is tested on (xᵀAx, products of features).
        values, grads = self.value_and_grad(f, points)
        step = HESSIAN_STEP
        ahead = tuple(p + step * t for p, t in zip(points, tangents, strict=True))
        behind = tuple(p - step * t for p, t in zip(points, tangents, strict=True))
        _, g_ahead = self.value_and_grad(f, ahead)
        _, g_behind = self.value_and_grad(f, behind)
        products = tuple((a - b) / (2 * step) for a, b in zip(g_ahead, g_behind, strict=True))
        return values, grads, products

    def exp(self, values: np.ndarray) -> np.ndarray:
        return np.exp(values)

    def einsum(self, subscripts: str, *operands: np.ndarray) -> np.ndarray:
        return np.einsum(subscripts, *operands)

    def compile(self, step: Any) -> Any:
        return step

    def softmax(self, outputs: Any) -> Any:
        value = _value(outputs)
        shifted = np.exp(value - value.max(axis=-1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
        if not isinstance(outputs, _Traced):
            return probabilities

        def backward(c: np.ndarray) -> tuple[np.ndarray, ...]:
            inner = probabilities * (c - (c * probabilities).sum(axis=-1, keepdims=True))
            return outputs.backward(inner)

        return _Traced(probabilities, backward)

    def shape(self, values: Any) -> tuple[int, ...]:
        return tuple(_value(values).shape)

    def reshape(self, values: Any, shape: tuple[int, ...]) -> Any:
        value = _value(values)
        reshaped = value.reshape(shape)
        if not isinstance(values, _Traced):
            return reshaped
        return _Traced(reshaped, lambda c: values.backward(c.reshape(value.shape)))

    def take_columns(self, outputs: Any, columns: np.ndarray) -> Any:
        value = _value(outputs)
        rows = np.arange(value.shape[0])
        index = np.minimum(columns, value.shape[1] - 1)
        picked = value[rows, index]
        if not isinstance(outputs, _Traced):
            return picked

        def backward(c: np.ndarray) -> tuple[np.ndarray, ...]:
            full = np.zeros_like(value)
            full[rows, index] = c
            return outputs.backward(full)

        return _Traced(picked, backward)


class _Program:
    """Evaluates a :class:`ClosedForm` model at the points, tracing it for the chain rule."""

    key: Hashable | None = None
    fixed: tuple[Any, ...] = ()

    def __init__(self, model: ClosedForm, layout: ArgumentLayout) -> None:
        self._model, self._layout = model, layout

    def outputs(
        self, points: tuple[Any, ...], row_args: tuple[Any, ...], fixed: tuple[Any, ...]
    ) -> _Traced:
        extras = self._layout.join(row_args, fixed)
        model = self._model
        arguments = (*points, *extras)

        def backward(c: np.ndarray) -> tuple[np.ndarray, ...]:
            return tuple(model.vjp(arguments, c)[: len(points)])

        return _Traced(np.asarray(model(*arguments)), backward)


class NumpyBackend:
    """The reference backend: NumPy arrays, :class:`ClosedForm` models."""

    name = "numpy"

    def __init__(self) -> None:
        self._ops = NumpyOps()

    def ops(self, inputs: tuple[Any, ...]) -> NumpyOps:
        return self._ops

    def is_native(self, value: object) -> bool:
        return isinstance(value, np.ndarray)

    def accepts_model(self, model: object) -> bool:
        return callable(getattr(model, "vjp", None))

    def accelerated(self, acceleration: Acceleration) -> NumpyBackend:
        refuse_acceleration(self.name, acceleration)
        return self

    def chunk_elements(self, inputs: tuple[Any, ...]) -> int:
        return DEFAULT_CHUNK_ELEMENTS

    def prepare_inputs(
        self, inputs: Sequence[Any], allow_integer: bool = False
    ) -> tuple[np.ndarray, ...]:
        prepared = []
        for position, value in enumerate(inputs):
            array = np.asarray(value)
            integer = np.issubdtype(array.dtype, np.integer)
            if not np.issubdtype(array.dtype, np.floating) and not (allow_integer and integer):
                raise TypeError(
                    f"inputs[{position}] must be a floating-point array, got {array.dtype}"
                )
            prepared.append(array)
        return tuple(prepared)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def make_baseline(self, rule: BaselineRule, inputs: np.ndarray) -> np.ndarray:
        if isinstance(rule, ConstantBaseline):
            return np.full_like(inputs, rule.value)
        if isinstance(rule, ExplicitBaseline):
            value = np.asarray(rule.value, dtype=inputs.dtype)
            check_broadcastable(value.shape, inputs.shape)
            return np.broadcast_to(value, inputs.shape).copy()
        return rule.sample(inputs.astype(np.float64)).astype(inputs.dtype)

    @contextmanager
    def model_guard(self, model: Any, inputs: tuple[Any, ...]) -> Iterator[Any]:
        if not callable(getattr(model, "vjp", None)):
            raise TypeError(
                "the numpy backend needs a model with __call__ and vjp (see ClosedForm); got "
                f"{type(model).__name__}"
            )
        yield model

    def program(self, model_fn: Any, layout: ArgumentLayout) -> _Program:
        return _Program(model_fn, layout)

    def layer_program(
        self,
        model_fn: Any,
        layer: object,
        to_layer_input: bool,
        layout: ArgumentLayout,
        extras: tuple[Any, ...],
        inputs: tuple[Any, ...],
        baseline_inputs: Sequence[tuple[Any, ...]],
    ) -> LayerBinding:
        if not is_layer_pair(layer) or to_layer_input:
            raise ValueError("the numpy backend attributes to a layer given as (embed_fn, head_fn)")
        embed, head = layer_pair(layer)
        return split_binding(self, embed, head, layout, inputs, baseline_inputs)
