"""TensorFlow backend: structure, tracing, SavedModel/TF-Hub loading and the tutorial's numbers."""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from intgrad import Explainer, UniformBaseline, integrated_gradients  # noqa: E402
from intgrad.backends import select_backend  # noqa: E402
from intgrad.backends.tensorflow import TensorFlowBackend, TensorFlowOps  # noqa: E402
from tests.frameworks import make_framework  # noqa: E402


def _dense_model(rng: np.random.Generator, features: int = 4, classes: int = 3) -> Any:
    model = keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(5, activation="tanh"),
            keras.layers.Dense(classes),
        ]
    )
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.weights])
    return model


def _cnn(rng: np.random.Generator) -> Any:
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3, padding="same", activation="tanh"),
            keras.layers.Conv2D(4, 3, padding="same", activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    for layer in model.layers:
        layer.set_weights(
            [0.5 * rng.normal(size=w.shape).astype(np.float32) for w in layer.weights]
        )
    return model


@pytest.fixture
def dense(rng: np.random.Generator) -> Any:
    return _dense_model(rng)


@pytest.fixture
def batch(rng: np.random.Generator) -> Any:
    return tf.constant(rng.normal(size=(3, 4)).astype(np.float32))


class _Counting:
    """A plain callable that counts how often TensorFlow runs its Python body (= traces)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0

    def __call__(self, x: Any) -> Any:
        self.calls += 1
        return self.model(x)


# -- structure, dtype, device -------------------------------------------------------------------


def test_single_tensor_in_single_tensor_out(dense: Any, batch: Any) -> None:
    result = integrated_gradients(dense, batch, target=1, steps=8)
    assert isinstance(result.attributions, tf.Tensor)
    assert result.attributions.shape == batch.shape
    assert result.attributions.dtype == tf.float32
    assert result.attributions.device == batch.device
    # Completeness within float32 quadrature error for a smooth 2-layer net and 8 nodes.
    assert np.abs(result.delta).max() < 1e-4


def test_tuple_inputs_with_a_two_input_keras_model(rng: np.random.Generator) -> None:
    left, right = keras.Input((3,)), keras.Input((2,))
    joined = keras.layers.Concatenate()([left, right])
    model = keras.Model([left, right], keras.layers.Dense(2, activation="tanh")(joined))
    a = tf.constant(rng.normal(size=(2, 3)).astype(np.float32))
    b = tf.constant(rng.normal(size=(2, 2)).astype(np.float32))
    result = integrated_gradients(model, (a, b), target=0, steps=16)
    assert isinstance(result.attributions, tuple) and len(result.attributions) == 2
    assert [t.shape for t in result.attributions] == [a.shape, b.shape]
    assert np.abs(result.delta).max() < 1e-5


def test_float64_end_to_end(rng: np.random.Generator) -> None:
    weight = tf.constant(rng.normal(size=(4, 2)))

    def model(x: Any) -> Any:
        return tf.tanh(x @ weight)

    x = tf.constant(rng.normal(size=(2, 4)))
    result = integrated_gradients(model, x, target=1, steps=32)
    assert result.attributions.dtype == tf.float64
    # 32 Gauss–Legendre nodes on an analytic path: float64 round-off only.
    assert np.abs(result.delta).max() < 1e-12


def test_float64_inputs_to_a_float32_keras_model(dense: Any, batch: Any) -> None:
    result = integrated_gradients(dense, tf.cast(batch, tf.float64), target=0, steps=8)
    assert result.attributions.dtype == tf.float64
    reference = integrated_gradients(dense, batch, target=0, steps=8).attributions
    np.testing.assert_allclose(result.attributions.numpy(), reference.numpy(), rtol=1e-5, atol=1e-7)


def test_numpy_inputs_with_a_keras_model(dense: Any, batch: Any) -> None:
    from_numpy = integrated_gradients(dense, batch.numpy(), target=2, steps=8)
    from_tensor = integrated_gradients(dense, batch, target=2, steps=8)
    assert isinstance(from_numpy.attributions, tf.Tensor)
    np.testing.assert_array_equal(from_numpy.attributions.numpy(), from_tensor.attributions.numpy())


def test_model_state_is_untouched(dense: Any, batch: Any) -> None:
    dense.layers[0].trainable = False
    before = [w.numpy().copy() for w in dense.weights]
    integrated_gradients(dense, batch, target=0, steps=4)
    assert [layer.trainable for layer in dense.layers] == [False, True]
    for old, new in zip(before, dense.weights, strict=True):
        np.testing.assert_array_equal(old, new.numpy())


# -- one trace per call ------------------------------------------------------------------------


def test_one_trace_per_chunk_size(dense: Any, batch: Any) -> None:
    counting = _Counting(dense)
    # 3 examples × 10 steps × 3 baselines = 90 rows in chunks of 4: 22 full chunks and a last
    # one of 2 (padded to a power of two, a second size); the 12 end-point rows: 3 chunks of 4.
    result = integrated_gradients(
        counting, batch, target=0, steps=10, batch_size=4, baselines=[0.0, 0.5, "uniform"], seed=1
    )
    assert counting.calls == 3  # the chunk step at 4 and 2 rows, the forward pass at 4
    assert result.steps == 30


class _CountingLayer(keras.layers.Layer):  # type: ignore[name-defined]
    """The identity, counting how often Keras runs its Python body (symbolic calls, traces)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def call(self, x: Any) -> Any:
        self.calls += 1
        return x


def _counted_models(rng: np.random.Generator) -> dict[str, tuple[Any, Any, Any, Any]]:
    """name → (model, layer, inputs, counting layer): a one-input and a two-input Keras model."""
    one = _CountingLayer()
    x = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="tanh", name="hidden")(x)
    # After the layer: the head of the split model is what is traced.
    single = keras.Model(x, keras.layers.Dense(3)(one(hidden)))
    two = _CountingLayer()
    a, b = keras.Input((3,)), keras.Input((2,))
    joined = keras.layers.Dense(4, activation="tanh", name="joined")(
        keras.layers.Concatenate()([two(a), b])
    )
    double = keras.Model([a, b], keras.layers.Dense(3)(joined))
    data = rng.normal(size=(3, 5)).astype(np.float32)
    return {
        "one input": (single, None, tf.constant(data[:, :4]), one),
        "two inputs": (double, None, (tf.constant(data[:, :3]), tf.constant(data[:, 3:])), two),
        "layer": (single, "hidden", tf.constant(data[:, :4]), one),
    }


@pytest.mark.parametrize("case", ["one input", "two inputs", "layer"])
def test_a_reused_explainer_does_not_retrace(rng: np.random.Generator, case: str) -> None:
    model, layer, inputs, counting = _counted_models(rng)[case]
    explainer = Explainer(model, layer=layer)
    first = explainer.attribute(inputs, target=[0, 1, 2], steps=8, baselines=0.0)
    traced = counting.calls
    second = explainer.attribute(inputs, target=[2, 2, 0], steps=8, baselines=0.5)
    assert counting.calls == traced  # other targets and baselines, the same graphs
    assert np.abs(first.delta).max() < 1e-4 and np.abs(second.delta).max() < 1e-4
    explainer.attribute(inputs, target=1, steps=16, baselines=0.5)
    assert counting.calls > traced  # more rows per chunk: a new trace


def test_padded_last_chunk_adds_nothing(dense: Any, batch: Any) -> None:
    whole = integrated_gradients(dense, batch, target=0, steps=10, method="riemann_trapezoid")
    # 30 rows in chunks of at most 8: 8, 8, 8 and a last chunk of 6 padded to 8.
    chunked = integrated_gradients(
        dense, batch, target=0, steps=10, method="riemann_trapezoid", batch_size=8
    )
    np.testing.assert_allclose(
        chunked.attributions.numpy(), whole.attributions.numpy(), rtol=1e-6, atol=1e-7
    )


def test_path_record_has_the_rows_only(dense: Any, batch: Any) -> None:
    result = integrated_gradients(
        dense, batch, target=0, steps=5, batch_size=4, return_path=True, method="riemann_right"
    )
    assert result.path is not None
    assert result.path.outputs.shape == (3, 5)
    np.testing.assert_allclose(result.path.outputs[:, -1], dense(batch).numpy()[:, 0], rtol=1e-3)


# -- arguments ---------------------------------------------------------------------------------


def test_per_example_targets_and_forward_args(rng: np.random.Generator) -> None:
    weight = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))

    def model(x: Any, scale: Any, shift: float) -> Any:
        return tf.tanh(x @ weight) * scale + shift

    x = tf.constant(rng.normal(size=(2, 4)).astype(np.float32))
    scale = tf.constant([[1.0], [3.0]])
    both = integrated_gradients(
        model, x, target=[2, 1], additional_forward_args=(scale, 0.5), steps=8
    )
    for i, target in enumerate([2, 1]):
        one = integrated_gradients(
            model, x[i : i + 1], target=target, additional_forward_args=(scale[i : i + 1], 0.5)
        )
        np.testing.assert_allclose(both.attributions.numpy()[i], one.attributions.numpy()[0], 1e-5)


class _Scaled:
    """``(x, scale) ↦ tanh((x ⊙ scale) @ weight)``, counting how often TF runs its body."""

    def __init__(self, weight: Any) -> None:
        self.weight, self.calls = weight, 0

    def __call__(self, x: Any, scale: Any) -> Any:
        self.calls += 1
        return tf.tanh((x * tf.cast(scale, x.dtype)) @ self.weight)


def _unscaled_ig(weight: Any, points: Any) -> np.ndarray:
    """IG of ``x ↦ tanh((x ⊙ s) @ W)`` at x is IG of ``tanh(· @ W)`` at ``x ⊙ s`` (zero
    baseline: the two paths are the same points)."""
    ones = tf.ones(points.shape[1:], points.dtype)
    result = integrated_gradients(
        _Scaled(weight), points, target=1, steps=8, additional_forward_args=(ones,)
    )
    return np.asarray(result.attributions.numpy())


def test_a_list_argument_is_a_constant_by_value(rng: np.random.Generator, batch: Any) -> None:
    weight = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    model = _Scaled(weight)
    explainer = Explainer(model)
    scale = [1.0, 0.5, 2.0, -1.0]
    first = explainer.attribute(batch, target=1, steps=8, additional_forward_args=(scale,))
    traces, entries = model.calls, len(explainer._steps)
    for _ in range(5):  # an equal list, a new object each call: the same compiled steps
        again = explainer.attribute(batch, target=1, steps=8, additional_forward_args=[*scale])
    assert model.calls == traces and len(explainer._steps) == entries
    np.testing.assert_array_equal(again.attributions.numpy(), first.attributions.numpy())
    scale[:] = [2.0, 2.0, 2.0, 2.0]  # changed in place: another constant, traced anew
    mutated = explainer.attribute(batch, target=1, steps=8, additional_forward_args=(scale,))
    assert model.calls > traces
    expected = _unscaled_ig(weight, 2.0 * batch)
    np.testing.assert_allclose(mutated.attributions.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.abs(mutated.attributions.numpy() - first.attributions.numpy()).max() > 0.1


def test_numpy_arguments_are_arrays_of_the_step(rng: np.random.Generator, batch: Any) -> None:
    weight = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    model = _Scaled(weight)
    explainer = Explainer(model)
    for call in range(5):
        # float64, one row per example: taken per row like a tf.Tensor, never baked in, and
        # float32 in the model, as TensorFlow converts a NumPy operand.
        mask = (rng.uniform(size=(3, 4)) > 0.3).astype(np.float64) * (call + 1)
        result = explainer.attribute(batch, target=1, steps=8, additional_forward_args=(mask,))
        expected = _unscaled_ig(weight, batch * mask.astype(np.float32))
        np.testing.assert_allclose(result.attributions.numpy(), expected, rtol=1e-5, atol=1e-6)
        if call == 0:
            traces, entries = model.calls, len(explainer._steps)
    assert model.calls == traces and len(explainer._steps) == entries
    whole = np.asarray([1.0, -1.0, 0.5, 2.0])  # no example axis: passed whole to every row
    result = explainer.attribute(batch, target=1, steps=8, additional_forward_args=whole)
    expected = _unscaled_ig(weight, batch * whole.astype(np.float32))
    np.testing.assert_allclose(result.attributions.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_an_unhashable_constant_is_refused(rng: np.random.Generator, batch: Any) -> None:
    weight = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    with pytest.raises(TypeError, match=r"additional_forward_args\[0\]: .*Tensor"):
        integrated_gradients(
            _Scaled(weight), batch, target=1, steps=4, additional_forward_args=({"s": tf.ones(4)},)
        )


def test_explicit_and_drawn_baselines(dense: Any, batch: Any) -> None:
    row = np.full((1, 4), 0.25, dtype=np.float32)
    broadcast = integrated_gradients(dense, batch, baselines=row, target=0, steps=8)
    constant = integrated_gradients(dense, batch, baselines=0.25, target=0, steps=8)
    np.testing.assert_allclose(broadcast.attributions.numpy(), constant.attributions.numpy())

    drawn = UniformBaseline(seed=3).sample(batch.numpy().astype(np.float64)).astype(np.float32)
    named = integrated_gradients(dense, batch, baselines="uniform", seed=3, target=0, steps=8)
    given = integrated_gradients(dense, batch, baselines=tf.constant(drawn), target=0, steps=8)
    np.testing.assert_allclose(named.attributions.numpy(), given.attributions.numpy())


def test_detection() -> None:
    assert select_backend(object(), [tf.constant([1.0])]).name == "tensorflow"
    assert select_backend(keras.Sequential(), [np.zeros(1)]).name == "tensorflow"
    assert select_backend(tf.Module(), [np.zeros(1)]).name == "tensorflow"
    backend = TensorFlowBackend()
    assert backend.is_native(tf.Variable([1.0]))
    assert not backend.is_native(np.zeros(1))
    assert not backend.accepts_model("/no/such/dir")


# -- errors ------------------------------------------------------------------------------------


def test_integer_inputs_are_refused(dense: Any) -> None:
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a floating-point"):
        integrated_gradients(dense, (tf.zeros((1, 4)), np.zeros((1, 4), np.int32)), target=0)


def test_baseline_that_does_not_broadcast(dense: Any, batch: Any) -> None:
    with pytest.raises(ValueError, match=r"baseline of shape \(2, 4\) does not broadcast"):
        integrated_gradients(dense, batch, baselines=np.zeros((2, 4)), target=0)


def test_target_out_of_range(dense: Any, batch: Any) -> None:
    with pytest.raises(ValueError, match="target 5 is out of range"):
        integrated_gradients(dense, batch, target=5, steps=2)


def test_not_callable() -> None:
    with pytest.raises(TypeError, match="must be callable"):
        integrated_gradients(42, tf.zeros((1, 2)), steps=2)


# -- the primitives ----------------------------------------------------------------------------


@pytest.fixture
def ops() -> TensorFlowOps:
    return TensorFlowOps(tf.constant(0.0).device)


def test_take_columns_clamps_into_range(ops: TensorFlowOps) -> None:
    outputs = tf.reshape(tf.range(12.0), (2, 3, 2))  # (rows, width, rest)
    picked = ops.take_columns(outputs, tf.constant([5, 1], tf.int32))
    np.testing.assert_array_equal(picked.numpy(), [[4.0, 5.0], [8.0, 9.0]])  # 5 → column 2


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("float16", "float32"),
        ("bfloat16", "float32"),
        ("float32", "float32"),
        ("float64", "float64"),
    ],
)
def test_accumulators_are_at_least_float32(ops: TensorFlowOps, dtype: str, expected: str) -> None:
    zeros = ops.zeros(tf.ones((2, 3), dtype))
    assert zeros.dtype.name == expected and zeros.shape == (2, 3)
    assert ops.row_sums(tf.ones((2, 3), dtype)).dtype == tf.float64


def test_scatter_add_adds_repeated_rows(ops: TensorFlowOps) -> None:
    added = ops.scatter_add(tf.zeros((2, 2)), tf.constant([0, 0, 1]), tf.ones((3, 2)))
    np.testing.assert_array_equal(added.numpy(), [[2.0, 2.0], [1.0, 1.0]])


def test_unused_points_get_zero_gradients(ops: TensorFlowOps) -> None:
    used, unused = tf.ones((2, 3)), tf.ones((2, 4))
    values, grads = ops.value_and_grad(lambda p: tf.reduce_sum(p[0] ** 2, axis=1), (used, unused))
    np.testing.assert_array_equal(values.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(grads[0].numpy(), 2 * np.ones((2, 3)))
    np.testing.assert_array_equal(grads[1].numpy(), np.zeros((2, 4)))


# -- layers ------------------------------------------------------------------------------------


def _mlp_layers(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights of a tanh MLP 5 → 8 → 6 → 3, for ``tests/frameworks``'s ``mlp`` (float64)."""
    sizes = [(5, 8), (8, 6), (6, 3)]
    return [(rng.normal(0, 1 / np.sqrt(a), (a, b)), rng.normal(0, 0.1, b)) for a, b in sizes]


def test_dense_layer_attributions_are_complete_and_agree_with_torch(
    rng: np.random.Generator,
) -> None:
    torch = pytest.importorskip("torch")
    layers = _mlp_layers(rng)
    keras_mlp = make_framework("tensorflow").mlp(layers)
    torch_mlp = make_framework("torch").mlp(layers)
    x = rng.normal(size=(3, 5))
    options: dict[str, Any] = {"target": [0, 2, 1], "steps": 64}
    # Keras's first Dense includes its tanh: torch's tanh module (index 1) is the same tensor,
    # and so is the second Dense's input.
    ours = integrated_gradients(keras_mlp, tf.constant(x), layer=keras_mlp.layers[0], **options)
    theirs = integrated_gradients(torch_mlp, torch.as_tensor(x), layer=torch_mlp[1], **options)
    into = integrated_gradients(
        keras_mlp,
        tf.constant(x),
        layer=keras_mlp.layers[1],
        attribute_to_layer_input=True,
        **options,
    )
    assert ours.attributions.shape == (3, 8)
    # 64 Gauss–Legendre nodes on a smooth float64 path: round-off only.
    assert np.abs(ours.delta).max() < 1e-10
    np.testing.assert_allclose(ours.attributions.numpy(), theirs.attributions.numpy(), 1e-9, 1e-12)
    np.testing.assert_allclose(into.attributions.numpy(), ours.attributions.numpy(), 1e-12, 1e-14)


def test_layer_by_name_and_as_a_pair_agree(rng: np.random.Generator) -> None:
    keras_mlp = make_framework("tensorflow").mlp(_mlp_layers(rng))
    x = tf.constant(rng.normal(size=(2, 5)))
    first, second, last = keras_mlp.layers
    by_layer = integrated_gradients(keras_mlp, x, layer=second, target=1, steps=16)
    by_name = integrated_gradients(keras_mlp, x, layer=second.name, target=1, steps=16)
    pair = (lambda v: second(first(v)), lambda a: last(a))
    by_pair = integrated_gradients(keras_mlp, x, layer=pair, target=1, steps=16)
    np.testing.assert_array_equal(by_name.attributions.numpy(), by_layer.attributions.numpy())
    np.testing.assert_allclose(by_pair.attributions.numpy(), by_layer.attributions.numpy(), 1e-12)


def _embedding_model(rng: np.random.Generator) -> Any:
    ids = keras.Input((6,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, name="embedding")(ids)
    pooled = keras.layers.GlobalAveragePooling1D()(embedded)
    hidden = keras.layers.Dense(8, activation="tanh")(pooled)
    model = keras.Model(ids, keras.layers.Dense(3)(hidden))
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.weights])
    return model


def test_embedding_layer_attributions_are_complete(rng: np.random.Generator) -> None:
    model = _embedding_model(rng)
    tokens = tf.constant(rng.integers(1, 10, size=(2, 6)).astype(np.int32))
    result = integrated_gradients(model, tokens, layer="embedding", target=[0, 2], steps=64)
    assert result.attributions.shape == (2, 6, 4)
    gap = np.abs(result.f_input - result.f_baseline)  # the baseline: token 0 everywhere
    assert (gap > 1e-2).all()
    # Float32 round-off: the quadrature error of 64 nodes on this smooth path is far smaller.
    assert np.abs(result.delta).max() < 1e-5 * max(1.0, gap.max())


def test_a_model_that_cannot_be_split_says_to_pass_a_pair(rng: np.random.Generator) -> None:
    a, b = keras.Input((3,)), keras.Input((2,))
    first = keras.layers.Dense(4, name="first")
    mixed = keras.layers.Concatenate()([first(a), b])  # the head needs the input b too
    model = keras.Model([a, b], keras.layers.Dense(2)(mixed))
    inputs = (tf.ones((1, 3)), tf.ones((1, 2)))
    with pytest.raises(ValueError, match=r"cannot split the model at layer 'first'.*\(embed_fn"):
        integrated_gradients(model, inputs, layer=first, target=0, steps=2)


class _Subclassed(keras.Model):  # type: ignore[name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x: Any) -> Any:
        return self.dense(x)


@pytest.mark.parametrize(
    ("model", "layer", "error", "message"),
    [
        ("dense", "no_such_layer", ValueError, "no layer named 'no_such_layer'"),
        ("dense", "other", ValueError, "not one of the model's own layers"),
        ("dense", 42, TypeError, "layer must be a Keras layer of the model"),
        ("subclassed", "dense", ValueError, "needs a functional or Sequential Keras model"),
    ],
)
def test_layer_errors(
    rng: np.random.Generator, dense: Any, model: str, layer: object, error: type, message: str
) -> None:
    chosen = dense if model == "dense" else _Subclassed()
    if layer == "other":
        layer = _dense_model(rng).layers[0]
    with pytest.raises(error, match=message):
        integrated_gradients(chosen, tf.ones((1, 4)), layer=layer, target=0, steps=2)


def test_a_pair_has_no_layer_input(dense: Any, batch: Any) -> None:
    pair = (lambda x: dense.layers[0](x), lambda a: dense.layers[1](a))
    with pytest.raises(ValueError, match="attribute_to_layer_input needs a Keras layer"):
        integrated_gradients(
            dense, batch, layer=pair, attribute_to_layer_input=True, target=0, steps=2
        )


# -- SavedModel and TF-Hub ---------------------------------------------------------------------


class _Module(tf.Module):  # type: ignore[name-defined]
    def __init__(self, weight: np.ndarray) -> None:
        super().__init__()
        self.weight = tf.Variable(weight)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def __call__(self, x: Any) -> Any:
        return tf.nn.softmax(tf.tanh(x @ self.weight))


def test_saved_model_round_trip(tmp_path: Any, rng: np.random.Generator, batch: Any) -> None:
    module = _Module(rng.normal(size=(4, 3)).astype(np.float32))
    tf.saved_model.save(module, str(tmp_path))
    expected = integrated_gradients(module, batch, target=1, steps=8)
    # A path with saved_model.pb is recognised from NumPy inputs alone.
    loaded = integrated_gradients(str(tmp_path), batch.numpy(), target=1, steps=8, batch_size=5)
    np.testing.assert_allclose(
        loaded.attributions.numpy(), expected.attributions.numpy(), rtol=1e-5, atol=1e-7
    )


def test_a_session_loads_a_saved_model_once(
    tmp_path: Any, rng: np.random.Generator, batch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import intgrad.backends.tensorflow as backend

    tf.saved_model.save(_Module(rng.normal(size=(4, 3)).astype(np.float32)), str(tmp_path))
    loads: list[str] = []

    def counting_load(handle: str) -> Any:
        loads.append(handle)
        return load_model(handle)

    load_model = backend.load_model
    monkeypatch.setattr(backend, "load_model", counting_load)
    explainer = Explainer(str(tmp_path), backend="tensorflow")
    first = explainer.attribute(batch, target=1, steps=8)
    second = explainer.attribute(batch, target=1, steps=8)
    assert loads == [str(tmp_path)]
    np.testing.assert_array_equal(first.attributions.numpy(), second.attributions.numpy())


def test_saved_model_with_a_signature_only(
    tmp_path: Any, rng: np.random.Generator, batch: Any
) -> None:
    module = tf.Module()
    module.weight = tf.Variable(rng.normal(size=(4, 3)).astype(np.float32))
    module.f = tf.function(
        lambda x: {"scores": tf.tanh(x @ module.weight)},
        input_signature=[tf.TensorSpec([None, 4], tf.float32)],
    )
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})
    loaded = integrated_gradients(str(tmp_path), batch, target=1, steps=8)
    expected = integrated_gradients(lambda x: module.f(x)["scores"], batch, target=1, steps=8)
    np.testing.assert_allclose(
        loaded.attributions.numpy(), expected.attributions.numpy(), rtol=1e-5, atol=1e-7
    )


def test_exported_keras_model(tmp_path: Any, dense: Any, batch: Any) -> None:
    dense.export(str(tmp_path), verbose=False)
    expected = integrated_gradients(dense, batch, target=0, steps=8)
    loaded = integrated_gradients(str(tmp_path), batch, target=0, steps=8)
    np.testing.assert_allclose(
        loaded.attributions.numpy(), expected.attributions.numpy(), rtol=1e-5, atol=1e-7
    )


def test_path_without_saved_model(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="no SavedModel"):
        integrated_gradients(str(tmp_path), tf.zeros((1, 4)), target=0)
    with pytest.raises(TypeError, match="cannot tell which framework"):
        integrated_gradients(str(tmp_path), np.zeros((1, 4)), target=0)


def test_hub_handle_needs_tensorflow_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)
    with pytest.raises(ImportError, match="pip install tensorflow-hub"):
        integrated_gradients("https://tfhub.dev/x/y/1", tf.zeros((1, 4)), target=0)


def test_hub_handle_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(handle: str) -> Any:
        raise OSError("network is unreachable")

    monkeypatch.setitem(sys.modules, "tensorflow_hub", types.SimpleNamespace(load=load))
    with pytest.raises(ValueError, match=r"could not reach https://tfhub\.dev/x/y/1"):
        integrated_gradients("https://tfhub.dev/x/y/1", tf.zeros((1, 4)), target=0)


def test_hub_handle_loaded(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator, batch: Any
) -> None:
    module = _Module(rng.normal(size=(4, 3)).astype(np.float32))
    fake_hub = types.SimpleNamespace(load=lambda handle: module)
    monkeypatch.setitem(sys.modules, "tensorflow_hub", fake_hub)
    loaded = integrated_gradients(
        "https://tfhub.dev/x/y/1", batch, target=2, steps=8, backend="tensorflow"
    )
    expected = integrated_gradients(module, batch, target=2, steps=8)
    np.testing.assert_array_equal(loaded.attributions.numpy(), expected.attributions.numpy())


# -- the TensorFlow tutorial's algorithm --------------------------------------------------------


def _tutorial_ig(model: Any, image: Any, baseline: Any, target: int, m_steps: int) -> np.ndarray:
    """The "Integrated gradients" TensorFlow tutorial, re-implemented from its description."""
    alphas = tf.linspace(0.0, 1.0, m_steps + 1)
    delta = image - baseline
    path = baseline[None] + alphas[:, None, None, None] * delta[None]
    with tf.GradientTape() as tape:
        tape.watch(path)
        probabilities = tf.nn.softmax(model(path), axis=-1)[:, target]
    gradients = tape.gradient(probabilities, path)
    trapezoids = (gradients[:-1] + gradients[1:]) / 2.0
    return np.asarray((tf.reduce_mean(trapezoids, axis=0) * delta).numpy())


@pytest.mark.parametrize("m_steps", [4, 9])
def test_trapezoid_reproduces_the_tutorial(rng: np.random.Generator, m_steps: int) -> None:
    model = _cnn(rng)
    images = rng.uniform(size=(2, 6, 6, 2)).astype(np.float32)
    targets = [2, 0]
    result = integrated_gradients(
        model,
        tf.constant(images),
        target=targets,
        steps=m_steps + 1,
        method="riemann_trapezoid",
        output="probability",
        batch_size=3,
    )
    for i, target in enumerate(targets):
        image = tf.constant(images[i])
        expected = _tutorial_ig(model, image, tf.zeros_like(image), target, m_steps)
        ours = result.attributions.numpy()[i]
        scale = np.abs(expected).max()
        assert np.abs(ours - expected).max() <= 1e-5 * scale
