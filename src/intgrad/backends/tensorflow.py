"""TensorFlow backend: the core's few tensor operations on ``tf.Tensor``, compiled per call.

Each chunk's work — interpolate, run the model, select the output, differentiate with a
``tf.GradientTape``, scatter-add the weighted gradients into the accumulators — is one
``tf.function`` traced once per call: chunks are padded to a fixed number of rows (padding rows
are masked out), so the last, shorter chunk does not trigger a retrace, and the inputs and
baselines are arguments rather than captured constants, so every baseline of a call reuses the
same graph. Models are Keras models, ``tf.Module``s, callables on tensors, SavedModel
directories and (with ``tensorflow_hub``) TF-Hub handles.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from intgrad._core.backend import Acceleration, ChunkRecord, Rows
from intgrad._core.baselines import BaselineRule, ConstantBaseline, ExplicitBaseline
from intgrad._core.integrate import DEFAULT_CHUNK_ELEMENTS
from intgrad.backends._common import refuse_acceleration, select_outputs

__all__ = ["TensorFlowBackend", "load_model"]

_HUB_HINT = "loading a TF-Hub handle needs tensorflow_hub: pip install tensorflow-hub"


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _is_hub_handle(handle: str) -> bool:
    return "://" in handle


def _is_saved_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def load_model(handle: str) -> Callable[..., Any]:
    """Load a SavedModel directory or a TF-Hub handle (a URL) and return its callable.

    Raises:
        ImportError: a URL was given but ``tensorflow_hub`` is not installed.
        ValueError: the path holds no SavedModel, the handle cannot be reached, or the loaded
            object has nothing to call.
    """
    if _is_hub_handle(handle):
        try:
            import tensorflow_hub as hub
        except ImportError:
            raise ImportError(_HUB_HINT) from None
        try:
            loaded = hub.load(handle)
        except Exception as error:  # hub raises many kinds (OSError, HTTPError, ValueError)
            raise ValueError(f"could not reach {handle}: {error}") from error
    elif _is_saved_model_dir(handle):
        loaded = _tf().saved_model.load(handle)
    else:
        raise ValueError(f"no SavedModel at {handle!r}: the directory has no saved_model.pb")
    return _callable_of(loaded, handle)


def _callable_of(loaded: Any, handle: str) -> Callable[..., Any]:
    # The closures below hold ``loaded`` itself: its functions alone would outlive the
    # variables they read, which TensorFlow deletes with the object.
    if callable(loaded):
        return loaded
    if callable(getattr(loaded, "serve", None)):  # Keras 3 ``model.export``

        def serve(*inputs: Any) -> Any:
            return loaded.serve(*inputs)

        return serve
    if "serving_default" in getattr(loaded, "signatures", {}):
        return _signature_caller(loaded)
    raise ValueError(f"the SavedModel at {handle!r} has no __call__, serve or serving_default")


def _signature_caller(loaded: Any) -> Callable[..., Any]:
    names = list(loaded.signatures["serving_default"].structured_input_signature[1])

    def call(*inputs: Any) -> Any:
        signature = loaded.signatures["serving_default"]
        outputs = signature(**dict(zip(names, inputs, strict=True)))
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    return call


def _keras_layer_type() -> Any:
    keras = sys.modules.get("keras")
    if keras is None or not hasattr(keras, "Layer"):
        return None
    backend = getattr(keras, "backend", None)
    if backend is not None and backend.backend() != "tensorflow":
        return None
    return keras.Layer


class TensorFlowBackend:
    """Integrated Gradients on Keras models, ``tf.Module``s, SavedModels and callables."""

    name = "tensorflow"

    def __init__(self) -> None:
        self._programs: dict[tuple[Any, ...], _Program] = {}

    def is_native(self, value: object) -> bool:
        tf = sys.modules.get("tensorflow")
        return tf is not None and isinstance(value, (tf.Tensor, tf.Variable))

    def accepts_model(self, model: object) -> bool:
        if isinstance(model, str):
            return _is_saved_model_dir(model)
        tf = sys.modules.get("tensorflow")
        if tf is None:
            return False
        layer = _keras_layer_type()
        known = (tf.Module, tf.types.experimental.PolymorphicFunction)
        return isinstance(model, known) or (layer is not None and isinstance(model, layer))

    def accelerated(self, acceleration: Acceleration) -> TensorFlowBackend:
        refuse_acceleration(self.name, acceleration)
        return self

    def chunk_elements(self, inputs: tuple[Any, ...]) -> int:
        return DEFAULT_CHUNK_ELEMENTS

    def prepare_inputs(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        tf = _tf()
        prepared = []
        for position, value in enumerate(inputs):
            tensor = (
                tf.convert_to_tensor(value)
                if self.is_native(value)
                else tf.convert_to_tensor(np.asarray(value))
            )
            if not tensor.dtype.is_floating:
                raise TypeError(
                    f"inputs[{position}] must be a floating-point tensor, got {tensor.dtype.name}"
                )
            prepared.append(tensor)
        return tuple(prepared)

    def to_numpy(self, value: Any) -> np.ndarray:
        if self.is_native(value):
            return np.asarray(value.numpy())
        return np.asarray(value)

    def make_baseline(self, rule: BaselineRule, inputs: Any) -> Any:
        tf = _tf()
        with tf.device(inputs.device):
            if isinstance(rule, ConstantBaseline):
                return tf.fill(tf.shape(inputs), tf.constant(rule.value, dtype=inputs.dtype))
            if isinstance(rule, ExplicitBaseline):
                value = rule.value if self.is_native(rule.value) else np.asarray(rule.value)
                return _broadcast(tf.cast(value, inputs.dtype), inputs)
            drawn = rule.sample(self.to_numpy(inputs).astype(np.float64))
            return tf.convert_to_tensor(drawn, dtype=inputs.dtype)

    @contextmanager
    def model_guard(self, model: Any, inputs: tuple[Any, ...]) -> Iterator[Callable[..., Any]]:
        # Nothing to set or restore: TensorFlow computes input gradients without touching
        # ``trainable`` flags, and the model is called exactly as the user gave it.
        if isinstance(model, str):
            yield load_model(model)
        elif not callable(model):
            raise TypeError(f"the model must be callable, got {type(model).__name__}")
        else:
            yield _pack_keras_inputs(model)

    def evaluator(
        self,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        baselines: tuple[Any, ...],
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        additional_forward_args: tuple[Any, ...],
        chunk_rows: int,
    ) -> TensorFlowPathEvaluator:
        program = self._program(model_fn, inputs, targets, output, additional_forward_args)
        return TensorFlowPathEvaluator(program, inputs, baselines, chunk_rows)

    def _program(
        self,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        extras: tuple[Any, ...],
    ) -> _Program:
        # One traced graph per call: every baseline of a call shares model, targets and extras.
        key = (
            id(model_fn),
            None if targets is None else targets.tobytes(),
            id(output) if callable(output) else output,
            tuple(id(arg) for arg in extras),
            tuple((tuple(x.shape), x.dtype.name) for x in inputs),
        )
        if key not in self._programs:
            self._programs[key] = _Program(model_fn, targets, output, extras, self.is_native)
        return self._programs[key]

    def mean(self, attributions: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
        tf = _tf()
        return tuple(
            tf.reduce_mean(tf.stack(group), axis=0) for group in zip(*attributions, strict=True)
        )


def _pack_keras_inputs(model: Any) -> Callable[..., Any]:
    """A Keras model with several inputs takes them as one list, not as positional arguments."""
    layer = _keras_layer_type()
    declared = getattr(model, "inputs", None) if layer is not None else None
    if not isinstance(declared, list) or len(declared) < 2:
        return model
    count = len(declared)

    def call(*args: Any) -> Any:
        return model(list(args[:count]), *args[count:])

    return call


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
    return _tf().broadcast_to(value, target)


def _padded(rows: Rows, size: int, num_examples: int) -> tuple[Any, Any, Any]:
    """Rows as tensors of exactly ``size`` rows; padding rows have the index ``num_examples``."""
    tf = _tf()
    padded = rows.padded(size, example_index=num_examples)
    return (
        tf.constant(padded.example_index.astype(np.int32)),
        tf.constant(padded.alphas),
        tf.constant(padded.weights),
    )


class _Program:
    """The traced chunk step and forward pass of one call (shared by its evaluators)."""

    def __init__(
        self,
        model_fn: Callable[..., Any],
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        extras: tuple[Any, ...],
        is_native: Callable[[object], bool],
    ) -> None:
        tf = _tf()
        self._tf = tf
        self._model_fn = model_fn
        self._targets = targets
        self._output = output
        self._extras = extras
        self._is_native = is_native
        self.sizes: dict[str, int] = {}
        # ``partial`` gives each program its own identity in TensorFlow's retracing statistics,
        # which are otherwise keyed by code object and would warn when a loop makes many calls.
        self.accumulate = tf.function(functools.partial(self._accumulate))
        self.forward = tf.function(functools.partial(self._forward))

    def rows_for(self, kind: str, length: int, chunk_rows: int) -> int:
        """The fixed row count of ``kind``'s graph: the first chunk's length (the largest)."""
        size = self.sizes.setdefault(kind, length)
        if length > size:  # only if the core sends a longer chunk later; retraces once
            size = self.sizes[kind] = max(length, chunk_rows)
        return size

    def _points(
        self, baselines: tuple[Any, ...], differences: tuple[Any, ...], gather: Any, alphas: Any
    ) -> tuple[Any, ...]:
        tf = self._tf
        points = []
        for baseline, difference in zip(baselines, differences, strict=True):
            shaped = tf.reshape(tf.cast(alphas, baseline.dtype), [-1] + [1] * (baseline.ndim - 1))
            points.append(tf.gather(baseline, gather) + shaped * tf.gather(difference, gather))
        return tuple(points)

    def _selected(self, points: tuple[Any, ...], gather: Any, num_examples: int) -> Any:
        tf = self._tf
        extras = tuple(
            tf.gather(arg, gather)
            if self._is_native(arg) and arg.shape.rank and arg.shape[0] == num_examples
            else arg
            for arg in self._extras
        )
        outputs = self._model_fn(*points, *extras)
        rows = int(gather.shape[0])
        if self._targets is None:
            return select_outputs(_TfOutputOps(rows, None), outputs, None, self._output)
        row_targets = tf.gather(tf.constant(self._targets), gather)
        # select_outputs checks the range on the per-example targets (NumPy, at trace time);
        # the rows' own targets are symbolic, so the ops object carries them to ``take``.
        ops = _TfOutputOps(rows, row_targets)
        return select_outputs(ops, outputs, self._targets, self._output)

    def _accumulate(
        self,
        state: tuple[Any, ...],
        baselines: tuple[Any, ...],
        differences: tuple[Any, ...],
        index: Any,
        alphas: Any,
        weights: Any,
    ) -> tuple[tuple[Any, ...], Any, Any]:
        tf = self._tf
        num_examples = int(baselines[0].shape[0])
        gather = tf.minimum(index, num_examples - 1)
        points = self._points(baselines, differences, gather, alphas)
        with tf.GradientTape() as tape:
            tape.watch(points)
            selected = self._selected(points, gather, num_examples)
        grads = tape.gradient(selected, points, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        new_state = tuple(
            _add_rows(tf, acc, tf.cast(grad, acc.dtype), weights, index, num_examples)
            for acc, grad in zip(state, grads, strict=True)
        )
        return new_state, tf.cast(selected, tf.float64), _mean_per_row(tf, grads)

    def _forward(
        self, baselines: tuple[Any, ...], differences: tuple[Any, ...], index: Any, alphas: Any
    ) -> Any:
        tf = self._tf
        num_examples = int(baselines[0].shape[0])
        gather = tf.minimum(index, num_examples - 1)
        points = self._points(baselines, differences, gather, alphas)
        return tf.cast(self._selected(points, gather, num_examples), tf.float64)


def _add_rows(tf: Any, acc: Any, grads: Any, weights: Any, index: Any, num_examples: int) -> Any:
    """``acc[index[r]] += weights[r] · grads[r]`` row after row; padding rows add nothing.

    A scatter-add rather than a per-chunk segment sum: each row is added straight into the
    accumulator in row order, so the result does not depend on where chunks begin and end.
    """
    shape = [-1] + [1] * (grads.ndim - 1)
    valid = tf.reshape(index < num_examples, shape)
    updates = tf.where(valid, grads * tf.reshape(tf.cast(weights, acc.dtype), shape), 0)
    rows = tf.minimum(index, num_examples - 1)[:, None]
    return tf.tensor_scatter_nd_add(acc, rows, updates)


def _mean_per_row(tf: Any, grads: Sequence[Any]) -> Any:
    rows = tf.shape(grads[0])[0]
    total = sum(tf.reduce_sum(tf.reshape(tf.cast(g, tf.float64), [rows, -1]), 1) for g in grads)
    count = sum(int(np.prod(g.shape[1:])) for g in grads)
    return total / count


class TensorFlowPathEvaluator:
    """Interpolate, differentiate and accumulate for one baseline (see ``PathEvaluator``)."""

    def __init__(
        self,
        program: _Program,
        inputs: tuple[Any, ...],
        baselines: tuple[Any, ...],
        chunk_rows: int,
    ) -> None:
        tf = _tf()
        self._tf = tf
        self._program = program
        self._inputs = inputs
        self._baselines = baselines
        self._differences = tuple(x - b for x, b in zip(inputs, baselines, strict=True))
        self._chunk_rows = chunk_rows
        self._num_examples = int(inputs[0].shape[0])
        self._device = inputs[0].device
        # Accumulate in at least float32 so half-precision inputs don't lose the sum.
        self._acc_dtypes = tuple(
            tf.float64 if x.dtype == tf.float64 else tf.float32 for x in inputs
        )

    def zeros(self) -> tuple[Any, ...]:
        tf = self._tf
        with tf.device(self._device):
            return tuple(
                tf.zeros(x.shape, d) for x, d in zip(self._inputs, self._acc_dtypes, strict=True)
            )

    def accumulate(
        self, state: tuple[Any, ...], rows: Rows, record: bool
    ) -> tuple[tuple[Any, ...], ChunkRecord | None]:
        size = self._program.rows_for("accumulate", len(rows), self._chunk_rows)
        index, alphas, weights = _padded(rows, size, self._num_examples)
        with self._tf.device(self._device):
            state, selected, mean_grads = self._program.accumulate(
                state, self._baselines, self._differences, index, alphas, weights
            )
        if not record:
            return state, None
        count = len(rows)
        return state, ChunkRecord(
            outputs=selected.numpy()[:count], mean_gradients=mean_grads.numpy()[:count]
        )

    def forward(self, rows: Rows) -> np.ndarray:
        size = self._program.rows_for("forward", len(rows), self._chunk_rows)
        index, alphas, _ = _padded(rows, size, self._num_examples)
        with self._tf.device(self._device):
            selected = self._program.forward(self._baselines, self._differences, index, alphas)
        return np.asarray(selected.numpy()[: len(rows)])

    def _per_example(self, scale: np.ndarray, like: Any) -> Any:
        tf = self._tf
        return tf.reshape(tf.constant(scale, like.dtype), [-1] + [1] * (like.shape.rank - 1))

    def combine(
        self,
        first: tuple[Any, ...],
        first_scale: np.ndarray,
        second: tuple[Any, ...],
        second_scale: Any,
    ) -> tuple[Any, ...]:
        with self._tf.device(self._device):
            return tuple(
                a * self._per_example(first_scale, a) + b * self._per_example(second_scale, b)
                for a, b in zip(first, second, strict=True)
            )

    def measure(self, state: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        tf = self._tf
        with tf.device(self._device):
            flat = [
                tf.reshape(
                    tf.cast(acc * tf.cast(difference, acc.dtype), tf.float64),
                    [self._num_examples, -1],
                )
                for acc, difference in zip(state, self._differences, strict=True)
            ]
            sums = sum(tf.reduce_sum(f, 1) for f in flat)
            squares = sum(tf.reduce_sum(f * f, 1) for f in flat)
        return np.asarray(sums.numpy()), np.sqrt(np.asarray(squares.numpy()))

    def finish(self, state: tuple[Any, ...]) -> tuple[tuple[Any, ...], np.ndarray]:
        tf = self._tf
        with tf.device(self._device):
            attributions = tuple(
                tf.cast(acc * tf.cast(difference, acc.dtype), x.dtype)
                for acc, difference, x in zip(state, self._differences, self._inputs, strict=True)
            )
            per_example = sum(
                tf.reduce_sum(tf.reshape(tf.cast(a, tf.float64), [self._num_examples, -1]), 1)
                for a in attributions
            )
        return attributions, np.asarray(per_example.numpy())


class _TfOutputOps:
    """The operations ``select_outputs`` needs, inside a traced graph of ``rows`` rows."""

    def __init__(self, rows: int, row_targets: Any) -> None:
        self._tf = _tf()
        self._rows = rows
        self._row_targets = row_targets

    def softmax(self, outputs: Any) -> Any:
        return self._tf.nn.softmax(outputs, axis=-1)

    def shape(self, outputs: Any) -> tuple[int, ...]:
        dims = list(outputs.shape)
        if dims and dims[0] is None:  # e.g. a SavedModel signature with a free batch axis
            dims[0] = self._rows
        if any(d is None for d in dims):
            raise ValueError(f"the model's outputs have an unknown shape {outputs.shape}")
        return tuple(dims)

    def reshape(self, outputs: Any, shape: tuple[int, ...]) -> Any:
        return self._tf.reshape(outputs, shape)

    def take(self, outputs: Any, targets: np.ndarray) -> Any:
        # ``targets`` (per example, NumPy) served the range check; the rows' targets are symbolic.
        return self._tf.gather(outputs, self._row_targets, batch_dims=1)
