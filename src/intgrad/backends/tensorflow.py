"""TensorFlow backend: the core's few tensor operations on ``tf.Tensor``, in ``tf.function``s.

The chunk step (written once, in :mod:`intgrad._core.loop`) is traced by ``tf.function`` once per
session and call shape: every per-call array — end and start points, targets, extra arguments,
the rows — is an argument of the traced step, never a captured constant, so a second call of the
same shapes with other targets or baselines reuses the graph, and chunks are padded to a few
fixed sizes so the last, shorter chunk does not retrace per call. Models are Keras models,
``tf.Module``s, callables on tensors, SavedModel directories and (with ``tensorflow_hub``) TF-Hub
handles. A Keras layer of a functional or Sequential model is attributed to by splitting the
model at the layer into two Keras models.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

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
from intgrad._core.primitives import StepT
from intgrad.backends._common import refuse_acceleration

__all__ = ["TensorFlowBackend", "TensorFlowOps", "load_model"]

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


class TensorFlowOps:
    """:class:`~intgrad._core.primitives.ArrayOps` on ``tf.Tensor``, placed on one device."""

    name = "tensorflow"
    pads_chunks = True

    def __init__(self, device: str) -> None:
        self._tf = _tf()
        self.device = device

    def from_host(self, values: np.ndarray, like: Any = None) -> Any:
        values = np.asarray(values)
        if like is not None and values.dtype.kind == "f":
            values = values.astype(like.dtype.as_numpy_dtype)
        with self._tf.device(self.device):
            return self._tf.constant(values)

    def to_host(self, values: Any) -> np.ndarray:
        array = np.asarray(values.numpy())
        return array.astype(np.float64) if values.dtype.is_floating else array

    def take(self, values: Any, index: Any) -> Any:
        return self._tf.gather(values, index)

    def concat(self, values: tuple[Any, ...]) -> Any:
        return self._tf.concat(list(values), axis=0)

    def per_row(self, column: Any, like: Any) -> Any:
        tf = self._tf
        return tf.reshape(tf.cast(column, like.dtype), [-1] + [1] * (like.shape.rank - 1))

    def zeros(self, like: Any) -> Any:
        tf = self._tf
        dtype = tf.float64 if like.dtype == tf.float64 else tf.float32
        with tf.device(self.device):
            return tf.zeros(like.shape, dtype)

    def cast(self, values: Any, like: Any) -> Any:
        return self._tf.cast(values, like.dtype)

    def scatter_add(self, accumulator: Any, index: Any, rows: Any) -> Any:
        tf = self._tf
        return tf.tensor_scatter_nd_add(accumulator, tf.expand_dims(index, 1), rows)

    def row_sums(self, values: Any) -> Any:
        tf = self._tf
        rows = values.shape[0] if values.shape[0] is not None else tf.shape(values)[0]
        return tf.reduce_sum(tf.reshape(tf.cast(values, tf.float64), [rows, -1]), axis=1)

    def value_and_grad(
        self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]
    ) -> tuple[Any, tuple[Any, ...]]:
        tf = self._tf
        # Gradients with respect to the points only: reads of the model's variables are not
        # recorded.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(points)
            values = f(points)
        grads = tape.gradient(values, points, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        # A SavedModel's function with a free batch axis returns gradients of unknown rows.
        return values, tuple(
            g if g.shape.is_fully_defined() else tf.ensure_shape(g, p.shape)
            for g, p in zip(grads, points, strict=True)
        )

    def value(self, f: Callable[[tuple[Any, ...]], Any], points: tuple[Any, ...]) -> Any:
        return f(points)

    def hessian_vector(
        self,
        f: Callable[[tuple[Any, ...]], Any],
        points: tuple[Any, ...],
        tangents: tuple[Any, ...],
    ) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
        tf = self._tf
        zero = tf.UnconnectedGradients.ZERO
        with tf.GradientTape(watch_accessed_variables=False) as outer:
            outer.watch(points)
            with tf.GradientTape(watch_accessed_variables=False) as inner:
                inner.watch(points)
                values = f(points)
            grads = inner.gradient(values, points, unconnected_gradients=zero)
            directional = tf.add_n(
                [
                    tf.reduce_sum(g * tf.cast(t, g.dtype))
                    for g, t in zip(grads, tangents, strict=True)
                ]
            )
        products = outer.gradient(directional, points, unconnected_gradients=zero)
        return values, tuple(grads), tuple(products)

    def exp(self, values: Any) -> Any:
        return self._tf.exp(values)

    def einsum(self, subscripts: str, *operands: Any) -> Any:
        return self._tf.einsum(subscripts, *operands)

    def compile(self, step: StepT) -> StepT:
        return cast(StepT, _Compiled(self._tf, step))

    def softmax(self, outputs: Any) -> Any:
        return self._tf.nn.softmax(outputs, axis=-1)

    def shape(self, values: Any) -> tuple[int, ...]:
        if values.shape.rank is None or None in values.shape.as_list():
            raise ValueError(f"the model's outputs have an unknown shape {values.shape}")
        return tuple(values.shape.as_list())

    def reshape(self, values: Any, shape: tuple[int, ...]) -> Any:
        return self._tf.reshape(values, shape)

    def take_columns(self, outputs: Any, columns: Any) -> Any:
        tf = self._tf
        index = tf.minimum(tf.cast(columns, tf.int32), outputs.shape[1] - 1)
        return tf.gather(outputs, index, batch_dims=1)


class _Compiled:
    """A step as a ``tf.function``, run on the device of its first array argument.

    ``functools.partial`` gives each step its own identity in TensorFlow's retracing
    statistics, which are otherwise keyed by code object and would warn when a loop makes many
    sessions.
    """

    def __init__(self, tf: Any, step: Callable[..., Any]) -> None:
        self._tf = tf
        self.function = tf.function(functools.partial(step))

    def __call__(self, *args: Any) -> Any:
        tf = self._tf
        first = next(x for x in tf.nest.flatten(args) if hasattr(x, "device"))
        with tf.device(first.device):
            return self.function(*args)


class _Program:
    """Calls the guarded model at the path points (the model's inputs are the path)."""

    fixed: tuple[Any, ...] = ()

    def __init__(self, model_fn: Callable[..., Any], layout: ArgumentLayout) -> None:
        self._model_fn, self._layout = model_fn, layout
        # The user's model (not a per-call wrapper) lives as long as the session that keeps
        # this program, so its id is not reused while the key is cached.
        self.key: Hashable = ("tensorflow", id(_user_model(model_fn)), layout.key)

    def outputs(
        self, points: tuple[Any, ...], row_args: tuple[Any, ...], fixed: tuple[Any, ...]
    ) -> Any:
        extras = _host_dtypes_matched(
            self._layout.join(row_args, fixed), self._layout.host, points[0].dtype
        )
        outputs = self._model_fn(*points, *extras)
        return _with_rows(outputs, points[0].shape[0])


def _host_dtypes_matched(
    extras: tuple[Any, ...], host: tuple[bool, ...], path_dtype: Any
) -> tuple[Any, ...]:
    """``extras`` with each floating NumPy-born array cast to the path's floating dtype.

    A NumPy operand of a TensorFlow op is converted to the other operand's dtype (a float64
    mask times float32 inputs is float32); as an argument of the traced step it arrives as a
    float64 tensor instead, which the op would refuse. Native tensors keep their dtype.
    """
    tf = _tf()
    path = tf.as_dtype(path_dtype)
    if not path.is_floating:
        return extras
    return tuple(
        tf.cast(value, path)
        if from_host and tf.as_dtype(value.dtype).is_floating and tf.as_dtype(value.dtype) != path
        else value
        for value, from_host in zip(extras, host or (False,) * len(extras), strict=True)
    )


def _with_rows(outputs: Any, rows: int) -> Any:
    """``outputs`` with a static row count where the model left it free (a SavedModel
    signature with a ``None`` batch axis), so the output shape is known at trace time."""
    tf = _tf()
    if isinstance(outputs, tf.Tensor) and outputs.shape.rank and outputs.shape[0] is None:
        return tf.ensure_shape(outputs, [rows, *outputs.shape[1:]])
    return outputs


class TensorFlowBackend:
    """Integrated Gradients on Keras models, ``tf.Module``s, SavedModels and callables."""

    name = "tensorflow"

    def __init__(self) -> None:
        # Kept for the session (one backend per Explainer): loaded SavedModels and Keras models
        # split at a layer, so that their compiled steps are found again by the next call.
        self._loaded: dict[str, Callable[..., Any]] = {}
        self._splits: dict[Hashable, tuple[Any, ...]] = {}
        self._lock = threading.Lock()

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

    def ops(self, inputs: tuple[Any, ...]) -> TensorFlowOps:
        return TensorFlowOps(inputs[0].device)

    def prepare_inputs(self, inputs: Sequence[Any], allow_integer: bool = False) -> tuple[Any, ...]:
        tf = _tf()
        prepared = []
        for position, value in enumerate(inputs):
            tensor = (
                tf.convert_to_tensor(value)
                if self.is_native(value)
                else tf.convert_to_tensor(np.asarray(value))
            )
            if not tensor.dtype.is_floating and not (allow_integer and tensor.dtype.is_integer):
                raise TypeError(
                    f"inputs[{position}] must be a floating-point tensor, got {tensor.dtype.name}"
                    + ("" if allow_integer else " (integer inputs need layer=)")
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
                fill = np.asarray(rule.value).astype(inputs.dtype.as_numpy_dtype)
                return tf.fill(tf.shape(inputs), tf.constant(fill))
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
            yield self._load(model)
        elif not callable(model):
            raise TypeError(f"the model must be callable, got {type(model).__name__}")
        else:
            yield _pack_keras_inputs(model)

    def _load(self, handle: str) -> Callable[..., Any]:
        with self._lock:
            if handle not in self._loaded:
                self._loaded[handle] = load_model(handle)
            return self._loaded[handle]

    def program(self, model_fn: Callable[..., Any], layout: ArgumentLayout) -> _Program:
        return _Program(model_fn, layout)

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
        if is_layer_pair(layer):
            if to_layer_input:
                raise ValueError(
                    "attribute_to_layer_input needs a Keras layer, not (embed_fn, head_fn)"
                )
            embed, head = layer_pair(layer)
            _refuse_two_own_layers(_user_model(model_fn), embed, head)
        else:
            embed, head = self._split(_user_model(model_fn), layer, to_layer_input)
        return split_binding(self, embed, head, layout, inputs, baseline_inputs)

    def _split(self, model: Any, layer: object, to_input: bool) -> tuple[Any, Any]:
        """``model`` split at ``layer`` (kept for the session: the head's steps stay compiled)."""
        key = (id(model), layer if isinstance(layer, str) else id(layer), to_input)
        with self._lock:
            kept = self._splits.get(key)
            if kept is None or kept[0] is not model:
                kept = (model, layer, *_split_keras_model(model, layer, to_input))
                self._splits[key] = kept
        return kept[2], kept[3]


def _refuse_two_own_layers(model: Any, embed: object, head: object) -> None:
    """A tuple of two of ``model``'s own layers means "both layers at once" (Captum's form),
    not a split ``(embed_fn, head_fn)``: explaining ``head(embed(x))`` would be another model."""
    own = getattr(model, "layers", None)
    if isinstance(own, list) and all(any(part is known for known in own) for part in (embed, head)):
        raise TypeError(
            "several layers at once need torch; with Keras pass one layer of the model, its"
            " name, or a pair (embed_fn, head_fn) with model(x) == head_fn(embed_fn(x))"
        )


class _PackedInputs:
    """A Keras model with several inputs called with them as positional arguments."""

    def __init__(self, model: Any, count: int) -> None:
        self.model, self.count = model, count

    def __call__(self, *args: Any) -> Any:
        return self.model(list(args[: self.count]), *args[self.count :])


def _pack_keras_inputs(model: Any) -> Callable[..., Any]:
    """A Keras model with several inputs takes them as one list, not as positional arguments."""
    layer = _keras_layer_type()
    declared = getattr(model, "inputs", None) if layer is not None else None
    if not isinstance(declared, list) or len(declared) < 2:
        return cast(Callable[..., Any], model)
    return _PackedInputs(model, len(declared))


def _user_model(model_fn: Callable[..., Any]) -> Any:
    """The model a guarded callable calls (the user's object, the same in every call)."""
    return model_fn.model if isinstance(model_fn, _PackedInputs) else model_fn


_SPLIT_HINT = "pass layer=(embed_fn, head_fn) instead"


def _declared(model: Any, name: str) -> list[Any] | None:
    """A Keras model's symbolic ``inputs`` or ``outputs``, or ``None`` (a subclassed model)."""
    try:
        declared = getattr(model, name, None)
    except (AttributeError, ValueError):
        return None
    return declared if isinstance(declared, list) and declared else None


def _find_layer(model: Any, layer: object) -> Any:
    """``layer`` (a layer or a layer's name) as one of ``model``'s own layers."""
    keras_layer = _keras_layer_type()
    if isinstance(layer, str):
        try:
            return model.get_layer(layer)
        except ValueError:
            raise ValueError(f"the model has no layer named {layer!r}") from None
    if keras_layer is None or not isinstance(layer, keras_layer):
        raise TypeError(
            "layer must be a Keras layer of the model, its name, or a pair "
            f"(embed_fn, head_fn); got {type(layer).__name__}"
        )
    if not any(own is layer for own in model.layers):
        raise ValueError(
            f"layer {layer.name!r} is not one of the model's own layers; {_SPLIT_HINT}"
        )
    return layer


def _split_keras_model(model: Any, layer: object, to_input: bool) -> tuple[Any, Any]:
    """``(embed, head)``: Keras models from the inputs to the layer's output (or input), and
    from there to the model's outputs, so that ``model(x) == head(embed(x))``."""
    inputs, outputs = _declared(model, "inputs"), _declared(model, "outputs")
    keras_layer = _keras_layer_type()
    if keras_layer is None or not isinstance(model, keras_layer) or not inputs or not outputs:
        raise ValueError(
            "layer= a Keras layer needs a functional or Sequential Keras model built on "
            f"keras.Input, got {type(model).__name__}; {_SPLIT_HINT}"
        )
    found = _find_layer(model, layer)
    keras = sys.modules["keras"]
    side = "input" if to_input else "output"
    try:
        point = found.input if to_input else found.output
        embed = keras.Model(inputs[0] if len(inputs) == 1 else inputs, point)
        head = keras.Model(point, outputs[0] if len(outputs) == 1 else outputs)
    except (AttributeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"cannot split the model at layer {found.name!r}: the rest of the model does not "
            f"run from the layer's {side} alone ({reason}); {_SPLIT_HINT}"
        ) from None
    if len(inputs) > 1:
        embed = _PackedInputs(embed, len(inputs))
    if isinstance(point, (list, tuple)):
        head = _PackedInputs(head, len(point))
    return embed, head


def _broadcast(value: Any, inputs: Any) -> Any:
    target = tuple(inputs.shape)
    check_broadcastable(tuple(value.shape), target)
    return _tf().broadcast_to(value, target)
