"""JAX backend: the core's few array operations on ``jax.Array``, ``jax.jit``-compiled per call.

A model is a function ``f(x, *extra) -> outputs`` closing over its parameters, or a pair
``(apply_fn, params)`` called as ``apply_fn(params, x, *extra)`` (Flax, Equinox, Haiku style).
Each chunk's work — interpolate, run the model, select the output, ``jax.grad``, scatter-add the
weighted gradients into the accumulators — is one jitted function compiled once per call: chunks
are padded to a fixed number of rows (padding rows point past the last example and are dropped),
and parameters, inputs and baselines are arguments, not constants baked
into the compiled program, so every baseline of a call reuses the same executable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.backend import Acceleration, ChunkRecord, Rows
from intgrad._core.baselines import BaselineRule, ConstantBaseline, ExplicitBaseline
from intgrad._core.integrate import DEFAULT_CHUNK_ELEMENTS
from intgrad.backends._common import refuse_acceleration, select_outputs

__all__ = ["JaxBackend"]


def _jax() -> Any:
    import jax

    return jax


def _jnp() -> Any:
    import jax.numpy as jnp

    return jnp


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


class _Split:
    """A pytree cut into its arrays (jit arguments) and everything else (static constants)."""

    def __init__(self, tree: Any, top_level: bool = False) -> None:
        jax = _jax()
        # ``top_level``: split a tuple into its items only, not into their contents.
        is_leaf = (lambda value: value is not tree) if top_level else None
        leaves, self._treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_leaf)
        self.positions = tuple(i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array))
        self.arrays = tuple(leaves[i] for i in self.positions)
        self._static = [None if i in self.positions else leaf for i, leaf in enumerate(leaves)]

    def join(self, arrays: Sequence[Any]) -> Any:
        """The tree again, with ``arrays`` (traced, perhaps gathered) in the arrays' places."""
        leaves = list(self._static)
        for position, array in zip(self.positions, arrays, strict=True):
            leaves[position] = array
        return _jax().tree_util.tree_unflatten(self._treedef, leaves)


class JaxBackend:
    """Integrated Gradients on JAX functions, ``(apply_fn, params)`` pairs and callable pytrees."""

    name = "jax"

    def __init__(self) -> None:
        self._programs: dict[tuple[Any, ...], _Program] = {}

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

    def chunk_elements(self, inputs: tuple[Any, ...]) -> int:
        return DEFAULT_CHUNK_ELEMENTS

    def prepare_inputs(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        jnp = _jnp()
        prepared = []
        for position, value in enumerate(inputs):
            array = value if self.is_native(value) else np.asarray(value)
            if not jnp.issubdtype(array.dtype, jnp.floating):
                raise TypeError(
                    f"inputs[{position}] must be a floating-point tensor, got {array.dtype}"
                )
            prepared.append(value if self.is_native(value) else jnp.asarray(array))
        return tuple(prepared)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def make_baseline(self, rule: BaselineRule, inputs: Any) -> Any:
        jax, jnp = _jax(), _jnp()
        if isinstance(rule, ConstantBaseline):
            return jnp.full_like(inputs, rule.value)
        if isinstance(rule, ExplicitBaseline):
            value = jnp.asarray(rule.value, dtype=inputs.dtype)
            return jax.device_put(_broadcast(value, inputs), inputs.sharding)
        drawn = rule.sample(self.to_numpy(inputs).astype(np.float64))
        return jax.device_put(jnp.asarray(drawn, dtype=inputs.dtype), inputs.sharding)

    @contextmanager
    def model_guard(self, model: Any, inputs: tuple[Any, ...]) -> Iterator[Callable[..., Any]]:
        # JAX functions are pure: there is no state to set or restore.
        yield _as_model(model)

    def evaluator(
        self,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        baselines: tuple[Any, ...],
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        additional_forward_args: tuple[Any, ...],
        chunk_rows: int,
    ) -> JaxPathEvaluator:
        model = model_fn if isinstance(model_fn, _Model) else _as_model(model_fn)
        # One compiled program per call: every baseline shares model, targets and extras.
        key = (
            id(model_fn),
            None if targets is None else targets.tobytes(),
            id(output) if callable(output) else output,
            tuple(id(arg) for arg in additional_forward_args),
        )
        if key not in self._programs:
            self._programs[key] = _Program(model, targets, output, additional_forward_args)
        return JaxPathEvaluator(self._programs[key], inputs, baselines, chunk_rows)

    def mean(self, attributions: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
        jnp = _jnp()
        return tuple(jnp.stack(group).mean(axis=0) for group in zip(*attributions, strict=True))


def _broadcast(value: Any, inputs: Any) -> Any:
    shape, target = tuple(value.shape), tuple(inputs.shape)
    try:
        broadcast = np.broadcast_shapes(shape, target)
    except ValueError:
        broadcast = None
    if broadcast != target:
        raise ValueError(
            f"baseline of shape {shape} does not broadcast to the input's shape {target}"
        )
    return _jnp().broadcast_to(value, target)


def _padded(rows: Rows, size: int, num_examples: int) -> tuple[np.ndarray, ...]:
    """Rows as arrays of exactly ``size`` rows; padding rows get index ``num_examples``."""
    padded = rows.padded(size, example_index=num_examples)
    return padded.example_index.astype(np.int32), padded.alphas, padded.weights


class _Program:
    """The compiled chunk step and forward pass of one call (shared by its evaluators).

    The jitted functions take ``(params, baselines, differences, extras, index, alphas[,
    weights])`` where ``params`` and ``extras`` are the arrays of the model's parameters and of
    the extra arguments; everything else about them is static.
    """

    def __init__(
        self,
        model: _Model,
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        extras: tuple[Any, ...],
    ) -> None:
        jax = _jax()
        self._model = model
        self._targets = targets
        self._output = output
        self._params = _Split(model.params)
        self._extras = _Split(extras, top_level=True)
        self.arguments = (self._params.arrays, self._extras.arrays)
        self.sizes: dict[str, int] = {}
        self.accumulate = jax.jit(self._accumulate)
        self.forward = jax.jit(self._forward)

    def rows_for(self, kind: str, length: int, chunk_rows: int) -> int:
        """The fixed row count of ``kind``'s program: the first chunk's length (the largest)."""
        size = self.sizes.setdefault(kind, length)
        if length > size:  # only if the core sends a longer chunk later; recompiles once
            size = self.sizes[kind] = max(length, chunk_rows)
        return size

    def _call(
        self, arguments: tuple[Any, Any], points: tuple[Any, ...], gather: Any, num: int
    ) -> Any:
        param_arrays, extra_arrays = arguments
        # Extra arrays with one entry per example follow their example along the path.
        rows = [a[gather] if a.ndim > 0 and a.shape[0] == num else a for a in extra_arrays]
        extras = self._extras.join(rows)
        outputs = self._model.call(self._params.join(param_arrays), *points, *extras)
        if self._targets is None:
            return select_outputs(_JaxOutputOps(None), outputs, None, self._output)
        # select_outputs checks the range on the per-example targets (NumPy, at trace time);
        # the rows' own targets are traced, so the ops object carries them to ``take``.
        ops = _JaxOutputOps(_jnp().asarray(self._targets.astype(np.int32))[gather])
        return select_outputs(ops, outputs, self._targets, self._output)

    def _points(
        self, baselines: tuple[Any, ...], differences: tuple[Any, ...], gather: Any, alphas: Any
    ) -> tuple[Any, ...]:
        return tuple(
            b[gather] + alphas.astype(b.dtype).reshape((-1,) + (1,) * (b.ndim - 1)) * d[gather]
            for b, d in zip(baselines, differences, strict=True)
        )

    def _accumulate(
        self,
        state: tuple[Any, ...],
        arguments: tuple[Any, Any],
        baselines: tuple[Any, ...],
        differences: tuple[Any, ...],
        index: Any,
        alphas: Any,
        weights: Any,
    ) -> tuple[tuple[Any, ...], Any, Any]:
        jax, jnp = _jax(), _jnp()
        num = baselines[0].shape[0]
        gather = jnp.minimum(index, num - 1)

        def total(points: tuple[Any, ...]) -> tuple[Any, Any]:
            selected = self._call(arguments, points, gather, num)
            return selected.sum(), selected

        points = self._points(baselines, differences, gather, alphas)
        grads, selected = jax.grad(total, has_aux=True)(points)
        new_state = tuple(
            _add_rows(acc, g.astype(acc.dtype), weights, index)
            for acc, g in zip(state, grads, strict=True)
        )
        return new_state, selected, _mean_per_row(grads)

    def _forward(
        self,
        arguments: tuple[Any, Any],
        baselines: tuple[Any, ...],
        differences: tuple[Any, ...],
        index: Any,
        alphas: Any,
    ) -> Any:
        num = baselines[0].shape[0]
        gather = _jnp().minimum(index, num - 1)
        points = self._points(baselines, differences, gather, alphas)
        return self._call(arguments, points, gather, num)


def _add_rows(acc: Any, grads: Any, weights: Any, index: Any) -> Any:
    """``acc[index[r]] += weights[r] · grads[r]`` row after row; padding rows are dropped.

    A scatter-add rather than a per-chunk segment sum: each row is added straight into the
    accumulator, so the result does not depend on where chunks begin and end.
    """
    shaped = weights.astype(grads.dtype).reshape((-1,) + (1,) * (grads.ndim - 1))
    return acc.at[index].add(grads * shaped, mode="drop")


def _mean_per_row(grads: Sequence[Any]) -> Any:
    total = sum(g.reshape(g.shape[0], -1).sum(axis=1) for g in grads)
    count = sum(int(np.prod(g.shape[1:])) for g in grads)
    return total / count


def _widest_float() -> Any:
    """float64 when ``jax_enable_x64`` is on, else float32."""
    jnp = _jnp()
    return jnp.float64 if _jax().config.jax_enable_x64 else jnp.float32


class JaxPathEvaluator:
    """Interpolate, differentiate and accumulate for one baseline (see ``PathEvaluator``)."""

    def __init__(
        self,
        program: _Program,
        inputs: tuple[Any, ...],
        baselines: tuple[Any, ...],
        chunk_rows: int,
    ) -> None:
        jnp = _jnp()
        self._program = program
        self._inputs = inputs
        self._baselines = baselines
        self._differences = tuple(x - b for x, b in zip(inputs, baselines, strict=True))
        self._chunk_rows = chunk_rows
        self._num_examples = int(inputs[0].shape[0])
        # Accumulate in at least float32 so half-precision inputs don't lose the sum.
        self._acc_dtypes = tuple(jnp.promote_types(x.dtype, jnp.float32) for x in inputs)

    def zeros(self) -> tuple[Any, ...]:
        jnp = _jnp()
        return tuple(
            jnp.zeros_like(x, dtype=d) for x, d in zip(self._inputs, self._acc_dtypes, strict=True)
        )

    def accumulate(
        self, state: tuple[Any, ...], rows: Rows, record: bool
    ) -> tuple[tuple[Any, ...], ChunkRecord | None]:
        size = self._program.rows_for("accumulate", len(rows), self._chunk_rows)
        state, selected, mean_grads = self._program.accumulate(
            state,
            self._program.arguments,
            self._baselines,
            self._differences,
            *_padded(rows, size, self._num_examples),
        )
        if not record:
            return state, None
        count = len(rows)
        return state, ChunkRecord(
            outputs=_host(selected)[:count], mean_gradients=_host(mean_grads)[:count]
        )

    def forward(self, rows: Rows) -> np.ndarray:
        size = self._program.rows_for("forward", len(rows), self._chunk_rows)
        index, alphas, _ = _padded(rows, size, self._num_examples)
        selected = self._program.forward(
            self._program.arguments, self._baselines, self._differences, index, alphas
        )
        return _host(selected)[: len(rows)]

    def combine(
        self,
        first: tuple[Any, ...],
        first_scale: np.ndarray,
        second: tuple[Any, ...],
        second_scale: Any,
    ) -> tuple[Any, ...]:
        jnp = _jnp()

        def per_example(scale: np.ndarray, like: Any) -> Any:
            return jnp.asarray(scale, like.dtype).reshape((-1,) + (1,) * (like.ndim - 1))

        return tuple(
            a * per_example(first_scale, a) + b * per_example(second_scale, b)
            for a, b in zip(first, second, strict=True)
        )

    def measure(self, state: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        wide = _widest_float()
        flat = [
            (acc * difference.astype(acc.dtype)).astype(wide).reshape(self._num_examples, -1)
            for acc, difference in zip(state, self._differences, strict=True)
        ]
        sums = sum(f.sum(axis=1) for f in flat)
        squares = sum((f * f).sum(axis=1) for f in flat)
        return _host(sums), np.sqrt(_host(squares))

    def finish(self, state: tuple[Any, ...]) -> tuple[tuple[Any, ...], np.ndarray]:
        attributions = tuple(
            (acc * difference.astype(acc.dtype)).astype(x.dtype)
            for acc, difference, x in zip(state, self._differences, self._inputs, strict=True)
        )
        wide = _widest_float()
        per_example = sum(
            a.astype(wide).reshape(self._num_examples, -1).sum(axis=1) for a in attributions
        )
        return attributions, _host(per_example)


def _host(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


class _JaxOutputOps:
    """The operations ``select_outputs`` needs, on traced arrays."""

    def __init__(self, row_targets: Any) -> None:
        self._row_targets = row_targets

    def softmax(self, outputs: Any) -> Any:
        return _jax().nn.softmax(outputs, axis=-1)

    def shape(self, outputs: Any) -> tuple[int, ...]:
        return tuple(outputs.shape)

    def reshape(self, outputs: Any, shape: tuple[int, ...]) -> Any:
        return outputs.reshape(shape)

    def take(self, outputs: Any, targets: np.ndarray) -> Any:
        # ``targets`` (per example, NumPy) served the range check; the rows' targets are traced.
        return _jnp().take_along_axis(outputs, self._row_targets[:, None], axis=1)[:, 0]
