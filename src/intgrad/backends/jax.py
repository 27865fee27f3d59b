"""JAX backend: the core's few array operations on ``jax.Array``, its chunk step ``jax.jit``-ed.

A model is a function ``f(x, *extra) -> outputs``, a pair ``(apply_fn, params)`` called as
``apply_fn(params, x, *extra)`` (Flax, Haiku style), or a callable pytree holding ``jax.Array``
leaves (Equinox style); a layer is a pair ``(embed_fn, head_fn)`` of any of these. The
parameters' arrays are arguments of the compiled step, never constants baked into it (a
function's closure is baked in, as ``jax.jit`` does), and the program's key names only what is
baked in — the function, the parameters' tree structure and non-array leaves, the extra
arguments' layout — so a session compiles its step once per shape and reuses it on every later
call, whatever the parameters' values, targets or baselines.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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
from intgrad._core.layers import split_binding
from intgrad.backends._common import refuse_acceleration

__all__ = ["JaxBackend", "JaxOps"]


def _jax() -> Any:
    import jax

    return jax


def _jnp() -> Any:
    import jax.numpy as jnp

    return jnp


class JaxOps:
    """:class:`~intgrad._core.primitives.ArrayOps` on ``jax.Array``, on the inputs' device."""

    name = "jax"
    pads_chunks = True  # a jitted step retraces for every new row count

    def __init__(self, device: Any = None) -> None:
        self._jax, self._jnp = _jax(), _jnp()
        self.device = device

    def from_host(self, values: np.ndarray, like: Any = None) -> Any:
        values = np.asarray(values)
        if like is not None and np.issubdtype(values.dtype, np.floating):
            values = values.astype(like.dtype)
        # Without x64 JAX stores float64 as float32 and int64 as int32, silently.
        array = self._jnp.asarray(values)  # half the time of device_put to a named device
        # Inside a jitted step (a path's constants) the array is a tracer: it has no device yet.
        traced = isinstance(array, self._jax.core.Tracer)
        if self.device is not None and not traced and array.devices() != {self.device}:
            array = self._jax.device_put(array, self.device)
        return array

    def to_host(self, values: Any) -> np.ndarray:
        host = np.asarray(values)
        return host.astype(np.float64) if self._jnp.issubdtype(host.dtype, np.floating) else host

    def take(self, values: Any, index: Any) -> Any:
        # ``jnp.take`` is jitted inside; an eager ``values[index]`` costs about 1 ms per call.
        return self._jnp.take(values, index, axis=0, mode="clip")

    def concat(self, values: tuple[Any, ...]) -> Any:
        return self._jnp.concatenate(values, axis=0)

    def per_row(self, column: Any, like: Any) -> Any:
        return column.astype(like.dtype).reshape((-1,) + (1,) * (like.ndim - 1))

    def zeros(self, like: Any) -> Any:
        return _zeros_step()(like)

    def cast(self, values: Any, like: Any) -> Any:
        return values.astype(like.dtype)

    def scatter_add(self, accumulator: Any, index: Any, rows: Any) -> Any:
        return accumulator.at[index].add(rows)

    def row_sums(self, values: Any) -> Any:
        return values.reshape(values.shape[0], -1).astype(_widest_float()).sum(axis=1)

    def value_and_grad(
        self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]
    ) -> tuple[Any, tuple[Any, ...]]:
        def total(p: tuple[Any, ...]) -> tuple[Any, Any]:
            values = f(p)
            return values.sum(), values

        (_, values), grads = self._jax.value_and_grad(total, has_aux=True)(points)
        return values, tuple(grads)

    def value(self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]) -> Any:
        return f(points)

    def hessian_vector(
        self,
        f: Callable[[tuple[Any, ...]], Any],
        points: tuple[Any, ...],
        tangents: tuple[Any, ...],
    ) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
        jax = self._jax

        def gradient(p: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
            return jax.grad(lambda q: f(q).sum())(p), f(p)

        # Forward-over-reverse: the cheapest Hessian-vector product (JAX autodiff cookbook).
        tangents = tuple(t.astype(p.dtype) for t, p in zip(tangents, points, strict=True))
        (grads, values), (products, _) = jax.jvp(gradient, (points,), (tangents,))
        return values, tuple(grads), tuple(products)

    def exp(self, values: Any) -> Any:
        return self._jnp.exp(values)

    def einsum(self, subscripts: str, *operands: Any) -> Any:
        return self._jnp.einsum(subscripts, *operands)

    def compile(self, step: Any) -> Any:
        return self._jax.jit(step)

    def softmax(self, outputs: Any) -> Any:
        return self._jax.nn.softmax(outputs, axis=-1)

    def shape(self, values: Any) -> tuple[int, ...]:
        return tuple(values.shape)

    def reshape(self, values: Any, shape: tuple[int, ...]) -> Any:
        return values.reshape(shape)

    def take_columns(self, outputs: Any, columns: Any) -> Any:
        # Clamped explicitly: a traced index cannot raise, and gathers out of range may fill NaN.
        index = self._jnp.clip(columns, 0, outputs.shape[1] - 1)
        return outputs[self._jnp.arange(outputs.shape[0]), index]


@functools.cache
def _zeros_step() -> Callable[[Any], Any]:
    """Jitted zeros of an array's shape in at least float32.

    The session makes these eagerly on every call; a jitted function dispatches in about
    10 µs on a CPU, an eager ``jnp.zeros`` in about 200 µs.
    """
    jnp = _jnp()

    def zeros(like: Any) -> Any:
        return jnp.zeros(like.shape, jnp.promote_types(like.dtype, jnp.float32))

    step: Callable[[Any], Any] = _jax().jit(zeros)
    return step


@functools.cache
def _full_like_step() -> Callable[[Any, Any], Any]:
    """Jitted ``jnp.full_like`` (the value an argument: one compilation per shape and dtype)."""
    step: Callable[[Any, Any], Any] = _jax().jit(_jnp().full_like)
    return step


def _widest_float() -> Any:
    """float64 when ``jax_enable_x64`` is on, else float32."""
    jnp = _jnp()
    return jnp.float64 if _jax().config.read("jax_enable_x64") else jnp.float32


@dataclass(frozen=True)
class _Model:
    """The guarded model: ``apply_fn(params, *inputs, *extra)``, or ``apply_fn(*...)`` alone."""

    apply_fn: Callable[..., Any]
    params: Any
    has_params: bool

    def __call__(self, *args: Any) -> Any:
        return self.call(self.params, *args)

    def call(self, params: Any, *args: Any) -> Any:
        return self.apply_fn(params, *args) if self.has_params else self.apply_fn(*args)


def _is_pair(model: object) -> bool:
    return isinstance(model, tuple) and len(model) == 2 and callable(model[0])


def _call_self(model: Any, *args: Any) -> Any:
    return model(*args)


def _as_model(model: Any) -> _Model:
    """Split a model into a function and the arrays to pass it as jit arguments."""
    if isinstance(model, _Model):
        return model
    if _is_pair(model):
        return _Model(model[0], model[1], True)
    if not callable(model):
        raise TypeError(
            "the model must be a function f(x, *extra) or a pair (apply_fn, params); "
            f"got {type(model).__name__}"
        )
    # A callable pytree (an Equinox module, say) carries its parameters: pass them as
    # arguments too, rather than baking them into the compiled program as constants.
    leaves = _jax().tree_util.tree_leaves(model)
    if leaves != [model] and any(isinstance(leaf, _jax().Array) for leaf in leaves):
        return _Model(_call_self, model, True)
    return _Model(model, None, False)


class _Identity:
    """A key part equal only to itself: it holds its object, so the id is never reused."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and other.value is self.value


def _value_key(value: object) -> Hashable:
    """``value`` as a key part: by type and value where hashable, else by identity."""
    try:
        hash(value)
    except TypeError:
        return _Identity(value)
    return (type(value), value)


class _Split:
    """A pytree cut into its arrays (jit arguments) and everything else (static constants)."""

    def __init__(self, tree: Any) -> None:
        jax = _jax()
        leaves, self._treedef = jax.tree_util.tree_flatten(tree)
        self.positions = tuple(i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array))
        self.arrays = tuple(leaves[i] for i in self.positions)
        self._static = [None if i in self.positions else leaf for i, leaf in enumerate(leaves)]
        self.key = self._key(tree)

    def _key(self, tree: Any) -> Hashable:
        """What the compiled step bakes in: structure, static leaves; array shapes and dtypes."""
        arrays = tuple((tuple(a.shape), str(a.dtype)) for a in self.arrays)
        structure: Hashable = self._treedef
        try:
            hash(structure)
        except TypeError:  # a custom node with unhashable metadata: this very tree, then
            structure = _Identity(tree)
        return (structure, self.positions, arrays, tuple(_value_key(s) for s in self._static))

    def join(self, arrays: Sequence[Any]) -> Any:
        """The tree again, with ``arrays`` (traced) in the arrays' places."""
        leaves = list(self._static)
        for position, array in zip(self.positions, arrays, strict=True):
            leaves[position] = array
        return _jax().tree_util.tree_unflatten(self._treedef, leaves)


class _Program:
    """Calls the model at the path points; its parameters' arrays travel as :attr:`fixed`."""

    def __init__(self, model: _Model, layout: ArgumentLayout) -> None:
        self._model, self._layout = model, layout
        self._params = _Split(model.params)
        self.fixed: tuple[Any, ...] = self._params.arrays
        self.key: Hashable = (
            "jax",
            _value_key(model.apply_fn),
            model.has_params,
            self._params.key,
            layout.key,
        )

    def outputs(
        self, points: tuple[Any, ...], row_args: tuple[Any, ...], fixed: tuple[Any, ...]
    ) -> Any:
        count = len(self._params.positions)
        params, extras = self._params.join(fixed[:count]), fixed[count:]
        return self._model.call(params, *points, *self._layout.join(row_args, extras))


def _layer_parts(layer: object) -> tuple[_Model, _Model] | None:
    """``(embed, head)`` from a pair of functions, callable pytrees or ``(apply_fn, params)``."""
    if not (isinstance(layer, tuple) and len(layer) == 2):
        return None
    if not all(callable(part) or _is_pair(part) for part in layer):
        return None
    return _as_model(layer[0]), _as_model(layer[1])


class JaxBackend:
    """Integrated Gradients on JAX functions, ``(apply_fn, params)`` pairs and callable pytrees."""

    name = "jax"

    def is_native(self, value: object) -> bool:
        jax = sys.modules.get("jax")
        return jax is not None and isinstance(value, jax.Array)

    def accepts_model(self, model: object) -> bool:
        """A pair ``(apply_fn, params)`` or a callable pytree holding ``jax.Array`` leaves."""
        jax = sys.modules.get("jax")
        if jax is None:
            return False
        if _is_pair(model):
            tree = model[1]  # type: ignore[index]
        elif callable(model):
            tree = model
        else:
            return False
        return any(isinstance(leaf, jax.Array) for leaf in jax.tree_util.tree_leaves(tree))

    def accelerated(self, acceleration: Acceleration) -> JaxBackend:
        refuse_acceleration(self.name, acceleration)
        return self

    def ops(self, inputs: tuple[Any, ...]) -> JaxOps:
        devices = inputs[0].devices()
        return JaxOps(next(iter(devices)) if len(devices) == 1 else None)

    def chunk_elements(self, inputs: tuple[Any, ...]) -> int:
        return DEFAULT_CHUNK_ELEMENTS

    def prepare_inputs(self, inputs: Sequence[Any], allow_integer: bool = False) -> tuple[Any, ...]:
        jnp = _jnp()
        prepared = []
        for position, value in enumerate(inputs):
            array = value if self.is_native(value) else np.asarray(value)
            integer = jnp.issubdtype(array.dtype, jnp.integer)
            if not jnp.issubdtype(array.dtype, jnp.floating) and not (allow_integer and integer):
                raise TypeError(
                    f"inputs[{position}] must be a floating-point tensor, got {array.dtype}"
                    + ("" if allow_integer else " (integer inputs need layer=)")
                )
            prepared.append(value if self.is_native(value) else jnp.asarray(array))
        return tuple(prepared)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def make_baseline(self, rule: BaselineRule, inputs: Any) -> Any:
        jax, jnp = _jax(), _jnp()
        if isinstance(rule, ConstantBaseline):
            return _full_like_step()(inputs, rule.value)
        if isinstance(rule, ExplicitBaseline):
            value = jnp.asarray(rule.value, dtype=inputs.dtype)
            return jax.device_put(_broadcast(value, inputs), inputs.sharding)
        drawn = rule.sample(self.to_numpy(inputs).astype(np.float64))
        return jax.device_put(jnp.asarray(drawn, dtype=inputs.dtype), inputs.sharding)

    @contextmanager
    def model_guard(self, model: Any, inputs: tuple[Any, ...]) -> Iterator[Callable[..., Any]]:
        # JAX functions are pure: there is no state to set or restore.
        yield _as_model(model)

    def program(self, model_fn: Callable[..., Any], layout: ArgumentLayout) -> _Program:
        return _Program(_as_model(model_fn), layout)

    def layer_program(
        self,
        model_fn: Callable[..., Any],
        layer: object,
        to_layer_input: bool,
        layout: ArgumentLayout,
        extras: tuple[Any, ...],
        inputs: tuple[Any, ...],
        baseline_inputs: Sequence[tuple[Any, ...]],
    ) -> LayerBinding:
        parts = _layer_parts(layer)
        if parts is None:
            raise TypeError(
                "the jax backend attributes to a layer given as a pair (embed_fn, head_fn) of "
                "functions, callable pytrees or (apply_fn, params) pairs; got "
                f"{type(layer).__name__}"
            )
        if to_layer_input:
            raise ValueError(
                "attribute_to_layer_input needs a layer module; with (embed_fn, head_fn) the "
                "path runs through embed_fn's output"
            )
        embed, head = parts
        return split_binding(self, embed, head, layout, inputs, baseline_inputs)


def _broadcast(value: Any, inputs: Any) -> Any:
    target = tuple(inputs.shape)
    check_broadcastable(tuple(value.shape), target)
    return _jnp().broadcast_to(value, target)
