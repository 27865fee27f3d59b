"""JAX backend: primitives, structure, one compilation per session, layers, x64 and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from intgrad import Explainer, UniformBaseline, integrated_gradients  # noqa: E402
from intgrad._core.arguments import ArgumentLayout  # noqa: E402
from intgrad.backends import select_backend  # noqa: E402
from intgrad.backends.jax import JaxBackend, JaxOps  # noqa: E402


def _apply(params: dict[str, Any], x: Any) -> Any:
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return hidden @ params["w2"]


@pytest.fixture
def params(rng: np.random.Generator) -> dict[str, Any]:
    shapes = {"w1": (4, 5), "b1": (5,), "w2": (5, 3)}
    return {k: jnp.asarray(rng.normal(size=s).astype(np.float32)) for k, s in shapes.items()}


@pytest.fixture
def batch(rng: np.random.Generator) -> Any:
    return jnp.asarray(rng.normal(size=(3, 4)).astype(np.float32))


def _pin_x64(enabled: bool) -> Iterator[None]:
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture(autouse=True)
def x32() -> Iterator[None]:
    """JAX's default: float32 (whatever another module's tests left behind)."""
    yield from _pin_x64(False)


@pytest.fixture
def x64(x32: None) -> Iterator[None]:
    yield from _pin_x64(True)


class _Counting:
    """A model function that counts how often JAX runs its Python body (= traces)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.calls = 0

    def __call__(self, x: Any) -> Any:
        self.calls += 1
        return _apply(self.params, x)


# -- primitives ----------------------------------------------------------------------------------


def test_take_columns_clamps_into_range() -> None:
    ops = JaxOps()
    outputs = jnp.arange(12.0).reshape(3, 4)
    picked = ops.take_columns(outputs, jnp.asarray([0, 3, 9], jnp.int32))
    # Row 2's column 9 is out of range: clamped to the last column (not NaN, not an error).
    np.testing.assert_array_equal(np.asarray(picked), [0.0, 7.0, 11.0])
    jitted = jax.jit(ops.take_columns)(outputs, jnp.asarray([5, 1, 2], jnp.int32))
    np.testing.assert_array_equal(np.asarray(jitted), [3.0, 5.0, 10.0])


def test_value_and_grad_of_a_row_function() -> None:
    ops = JaxOps()
    a, b = jnp.asarray([[1.0, 2.0], [3.0, 4.0]]), jnp.ones((2, 3))
    values, (grad_a, grad_b) = ops.value_and_grad(lambda p: (p[0] ** 2).sum(axis=1), (a, b))
    np.testing.assert_array_equal(np.asarray(values), [5.0, 25.0])
    np.testing.assert_array_equal(np.asarray(grad_a), 2 * np.asarray(a))
    np.testing.assert_array_equal(np.asarray(grad_b), np.zeros((2, 3)))  # unused: zeros


def test_accumulation_dtypes_without_x64() -> None:
    ops = JaxOps()
    assert ops.zeros(jnp.ones((2, 3), jnp.bfloat16)).dtype == jnp.float32
    assert ops.zeros(jnp.ones((2, 3), jnp.float16)).dtype == jnp.float32
    assert ops.row_sums(jnp.ones((2, 3), jnp.float16)).dtype == jnp.float32
    assert ops.from_host(np.arange(3, dtype=np.int32)).dtype == jnp.int32
    assert ops.from_host(np.ones(3)).dtype == jnp.float32  # float64 is not stored without x64
    assert ops.from_host(np.ones(3), like=jnp.ones(1, jnp.bfloat16)).dtype == jnp.bfloat16
    assert ops.to_host(jnp.ones(2, jnp.bfloat16)).dtype == np.float64


def test_accumulation_dtypes_with_x64(x64: None) -> None:
    ops = JaxOps()
    assert ops.row_sums(jnp.ones((2, 3), jnp.float32)).dtype == jnp.float64
    assert ops.zeros(jnp.ones((2, 3), jnp.float64)).dtype == jnp.float64
    assert ops.from_host(np.ones(3)).dtype == jnp.float64


# -- structure and dtype -----------------------------------------------------------------------


def test_single_array_in_single_array_out(params: dict[str, Any], batch: Any) -> None:
    result = integrated_gradients((_apply, params), batch, target=1, steps=8)
    assert isinstance(result.attributions, jax.Array)
    assert result.attributions.shape == batch.shape
    assert result.attributions.dtype == jnp.float32
    assert result.attributions.devices() == batch.devices()
    # Completeness within float32 quadrature error for a smooth 2-layer net and 8 nodes.
    assert np.abs(result.delta).max() < 1e-4


def test_pair_equals_closure(params: dict[str, Any], batch: Any) -> None:
    pair = integrated_gradients((_apply, params), batch, target=2, steps=8)
    closure = integrated_gradients(lambda x: _apply(params, x), batch, target=2, steps=8)
    np.testing.assert_allclose(
        np.asarray(pair.attributions), np.asarray(closure.attributions), rtol=1e-6, atol=1e-8
    )


def test_static_leaves_in_params(params: dict[str, Any], batch: Any) -> None:
    def apply(p: dict[str, Any], x: Any) -> Any:
        assert p["activation"] == "tanh"  # a non-array leaf stays a Python value
        return _apply(p, x)

    mixed = integrated_gradients((apply, {**params, "activation": "tanh"}), batch, target=0)
    plain = integrated_gradients((_apply, params), batch, target=0)
    np.testing.assert_array_equal(np.asarray(mixed.attributions), np.asarray(plain.attributions))


@jax.tree_util.register_pytree_node_class
class _Module:
    """A callable pytree, as Equinox modules are: its arrays are its leaves."""

    calls = 0  # traces of ``__call__``, counted across instances

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def __call__(self, x: Any) -> Any:
        _Module.calls += 1
        return _apply(self.params, x)

    def tree_flatten(self) -> tuple[tuple[Any], None]:
        return (self.params,), None

    @classmethod
    def tree_unflatten(cls, aux: None, children: tuple[Any]) -> _Module:
        return cls(*children)


def test_callable_pytree(params: dict[str, Any], batch: Any) -> None:
    module = _Module(params)
    assert select_backend(module, [np.zeros(1)]).name == "jax"
    result = integrated_gradients(module, np.asarray(batch), target=1, steps=8)
    expected = integrated_gradients((_apply, params), batch, target=1, steps=8)
    np.testing.assert_array_equal(
        np.asarray(result.attributions), np.asarray(expected.attributions)
    )


def test_numpy_inputs_with_a_pair(params: dict[str, Any], batch: Any) -> None:
    from_numpy = integrated_gradients((_apply, params), np.asarray(batch), target=0, steps=8)
    from_array = integrated_gradients((_apply, params), batch, target=0, steps=8)
    assert isinstance(from_numpy.attributions, jax.Array)
    np.testing.assert_array_equal(
        np.asarray(from_numpy.attributions), np.asarray(from_array.attributions)
    )


def test_tuple_inputs_and_forward_args(rng: np.random.Generator) -> None:
    w1 = jnp.asarray(rng.normal(size=(3, 2)).astype(np.float32))
    w2 = jnp.asarray(rng.normal(size=(2, 2)).astype(np.float32))

    def model(a: Any, b: Any, scale: Any, mode: str) -> Any:
        assert mode == "static"  # non-array extras reach the model unchanged
        return jnp.tanh(a @ w1 + b @ w2) * scale

    a = jnp.asarray(rng.normal(size=(2, 3)).astype(np.float32))
    b = jnp.asarray(rng.normal(size=(2, 2)).astype(np.float32))
    scale = jnp.asarray([[1.0], [3.0]])
    both = integrated_gradients(
        model, (a, b), target=[1, 0], additional_forward_args=(scale, "static"), steps=16
    )
    assert isinstance(both.attributions, tuple)
    assert [t.shape for t in both.attributions] == [a.shape, b.shape]
    assert np.abs(both.delta).max() < 1e-5
    one = integrated_gradients(
        model, (a[1:], b[1:]), target=0, additional_forward_args=(scale[1:], "static"), steps=16
    )
    for pair, single in zip(both.attributions, one.attributions, strict=True):
        np.testing.assert_allclose(np.asarray(pair)[1], np.asarray(single)[0], rtol=1e-5)


def test_float64_with_x64(x64: None, rng: np.random.Generator) -> None:
    weight = jnp.asarray(rng.normal(size=(4, 2)))
    x = jnp.asarray(rng.normal(size=(2, 4)))
    assert x.dtype == jnp.float64
    result = integrated_gradients(lambda v: jnp.tanh(v @ weight), x, target=1, steps=32)
    assert result.attributions.dtype == jnp.float64
    # 32 Gauss–Legendre nodes on an analytic path: float64 round-off only.
    assert np.abs(result.delta).max() < 1e-12


def test_float32_model_keeps_float32_without_x64(batch: Any) -> None:
    result = integrated_gradients(lambda v: (v**2).sum(axis=1), batch, steps=4)
    # F = Σ x² is integrated exactly by Gauss–Legendre: IG_i = x_i² for a zero baseline.
    np.testing.assert_allclose(np.asarray(result.attributions), np.asarray(batch) ** 2, rtol=1e-6)


# -- compilation: once per session and shape ----------------------------------------------------


class _CountingApply:
    """An ``apply_fn`` that counts how often JAX runs its Python body (= traces)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, params: dict[str, Any], x: Any) -> Any:
        self.calls += 1
        return _apply(params, x)


def test_chunks_and_baselines_share_one_compilation(params: dict[str, Any], batch: Any) -> None:
    counting = _Counting(params)
    # 3 examples × 3 baselines × 8 steps = 72 rows in 18 chunks of 4; 12 forward rows in 3.
    result = integrated_gradients(
        counting, batch, target=0, steps=8, batch_size=4, baselines=[0.0, 0.5, "uniform"], seed=1
    )
    assert counting.calls == 2  # one trace of the chunk step, one of the forward pass
    assert result.steps == 24


def test_short_last_chunk_compiles_one_more_size_once(params: dict[str, Any], batch: Any) -> None:
    counting = _CountingApply()
    explainer = Explainer((counting, params))
    # 3 examples × 10 steps = 30 rows in 8 chunks of 4, the last of 2 rows (padded to the
    # next power of two, not to 4); the 6 forward rows in chunks of 4 and 2.
    explainer.attribute(batch, target=0, steps=10, batch_size=4)
    assert counting.calls == 4  # the gradient step and the forward pass at 4 and at 2 rows
    for target in (1, 2):
        explainer.attribute(batch, target=target, steps=10, batch_size=4)
    assert counting.calls == 4


def _baseline_forms(batch: Any) -> list[Any]:
    shape = tuple(batch.shape)
    return [0.0, 0.5, np.full(shape, -0.25, np.float32), jnp.full(shape, 0.75), "uniform"]


def test_reused_explainer_compiles_once(params: dict[str, Any], batch: Any) -> None:
    counting = _CountingApply()
    explainer = Explainer((counting, params))
    first = explainer.attribute(batch, target=0, steps=8)
    traces = counting.calls
    assert traces == 2
    forms = _baseline_forms(batch)
    targets: list[Any] = [1, [2, 0, 1], np.array([0, 1, 2]), jnp.asarray(2)]
    for call in range(19):
        baselines = forms[call % len(forms)]
        target = targets[call % len(targets)]
        result = explainer.attribute(batch, target=target, baselines=baselines, seed=call, steps=8)
        # Far baselines leave 8 Gauss–Legendre nodes a quadrature error of up to 1 %.
        assert np.abs(result.delta).max() < 1e-2 * np.abs(result.f_input - result.f_baseline).max()
    assert counting.calls == traces
    again = explainer.attribute(batch, target=0, steps=8)
    np.testing.assert_array_equal(np.asarray(again.attributions), np.asarray(first.attributions))


def test_reused_callable_pytree_compiles_once(params: dict[str, Any], batch: Any) -> None:
    _Module.calls = 0
    explainer = Explainer(_Module(params))
    for target in (0, 1, 2, 0, 1):
        explainer.attribute(batch, target=target, steps=8)
    assert _Module.calls == 2


def test_parameters_are_arguments_not_constants(params: dict[str, Any], batch: Any) -> None:
    counting = _CountingApply()
    mutable = dict(params)
    explainer = Explainer((counting, mutable))
    explainer.attribute(batch, target=0, steps=8)
    mutable["w2"] = 2.0 * params["w2"]  # same shapes: the compiled step is reused
    doubled = explainer.attribute(batch, target=0, steps=8)
    assert counting.calls == 2
    doubled_params = {**params, "w2": 2.0 * params["w2"]}
    fresh = integrated_gradients((_apply, doubled_params), batch, target=0, steps=8)
    np.testing.assert_allclose(
        np.asarray(doubled.attributions), np.asarray(fresh.attributions), rtol=1e-6, atol=1e-7
    )


def test_changed_static_leaf_compiles_anew(params: dict[str, Any], batch: Any) -> None:
    def apply(p: dict[str, Any], x: Any) -> Any:
        scaled = p["scale"] * x  # a Python float, baked into the compiled step
        return _apply(p, scaled)

    mutable: dict[str, Any] = {**params, "scale": 1.0}
    explainer = Explainer((apply, mutable))
    explainer.attribute(batch, target=1, steps=8)
    mutable["scale"] = 3.0
    changed = explainer.attribute(batch, target=1, steps=8)
    # IG of x ↦ F(3x) at x is IG of F at 3x (zero baseline: the paths are the same).
    fresh = integrated_gradients((_apply, params), 3.0 * batch, target=1, steps=8)
    np.testing.assert_allclose(
        np.asarray(changed.attributions), np.asarray(fresh.attributions), rtol=1e-5, atol=1e-6
    )


def test_program_key_names_content_not_objects(params: dict[str, Any]) -> None:
    backend = JaxBackend()
    layout, _, _ = ArgumentLayout.split(("mode",), backend.is_native, 3)
    first = backend.program((_apply, params), layout).key
    # A copy of the parameters (another dict, other arrays) makes the same program.
    copied = {k: jnp.array(v, copy=True) for k, v in params.items()}
    assert backend.program((_apply, copied), layout).key == first
    assert backend.program((_apply, params), layout).fixed == tuple(
        params[k] for k in sorted(params)
    )
    wider = {**params, "b1": jnp.zeros(6, jnp.float32)}
    assert backend.program((_apply, wider), layout).key != first
    other, _, _ = ArgumentLayout.split(("other",), backend.is_native, 3)
    assert backend.program((_apply, params), other).key != first


class _Scaled:
    """``(x, scale) ↦ tanh((x ⊙ scale) @ weight)``, counting how often JAX runs its body."""

    def __init__(self, weight: Any) -> None:
        self.weight, self.calls = weight, 0

    def __call__(self, x: Any, scale: Any) -> Any:
        self.calls += 1
        return jnp.tanh((x * jnp.asarray(scale, jnp.float32)) @ self.weight)


@pytest.fixture
def weight(rng: np.random.Generator) -> Any:
    return jnp.asarray(rng.normal(size=(4, 3)).astype(np.float32))


def _unscaled_ig(weight: Any, points: Any) -> np.ndarray:
    """IG of ``x ↦ tanh((x ⊙ s) @ W)`` at x is IG of ``tanh(· @ W)`` at ``x ⊙ s`` (zero
    baseline: the two paths are the same points)."""
    model = _Scaled(weight)
    ones = jnp.ones(points.shape[1:], jnp.float32)
    result = integrated_gradients(model, points, target=1, steps=8, additional_forward_args=(ones,))
    return np.asarray(result.attributions)


def test_a_list_argument_is_a_constant_by_value(weight: Any, batch: Any) -> None:
    model = _Scaled(weight)
    explainer = Explainer(model)
    scale = [1.0, 0.5, 2.0, -1.0]
    first = explainer.attribute(batch, target=1, steps=8, additional_forward_args=(scale,))
    traces, entries = model.calls, len(explainer._steps)
    assert traces == 2  # the gradient step and the forward pass
    for _ in range(5):  # an equal list, a new object each call: the same compiled steps
        again = explainer.attribute(batch, target=1, steps=8, additional_forward_args=[*scale])
    assert model.calls == traces and len(explainer._steps) == entries
    np.testing.assert_array_equal(np.asarray(again.attributions), np.asarray(first.attributions))
    scale[:] = [2.0, 2.0, 2.0, 2.0]  # changed in place: another constant, compiled anew
    mutated = explainer.attribute(batch, target=1, steps=8, additional_forward_args=(scale,))
    assert model.calls == traces + 2
    np.testing.assert_allclose(
        np.asarray(mutated.attributions), _unscaled_ig(weight, 2.0 * batch), rtol=1e-5, atol=1e-6
    )
    assert np.abs(np.asarray(mutated.attributions) - np.asarray(first.attributions)).max() > 0.1


def test_numpy_arguments_are_arrays_of_the_step(
    weight: Any, batch: Any, rng: np.random.Generator
) -> None:
    model = _Scaled(weight)
    explainer = Explainer(model)
    for call in range(5):
        # float64, one row per example: taken per row like a jax.Array, never baked in.
        mask = (rng.uniform(size=(3, 4)) > 0.3).astype(np.float64) * (call + 1)
        result = explainer.attribute(batch, target=1, steps=8, additional_forward_args=(mask,))
        expected = _unscaled_ig(weight, batch * jnp.asarray(mask, jnp.float32))
        np.testing.assert_allclose(np.asarray(result.attributions), expected, rtol=1e-5, atol=1e-6)
        if call == 0:
            traces, entries = model.calls, len(explainer._steps)
    assert model.calls == traces == 2 and len(explainer._steps) == entries
    # A whole array (no example axis) is an argument too, passed to every row.
    whole = np.asarray([1.0, -1.0, 0.5, 2.0], np.float32)
    result = explainer.attribute(batch, target=1, steps=8, additional_forward_args=whole)
    np.testing.assert_allclose(
        np.asarray(result.attributions), _unscaled_ig(weight, batch * whole), rtol=1e-5, atol=1e-6
    )


def test_an_unhashable_constant_is_refused(weight: Any, batch: Any) -> None:
    with pytest.raises(TypeError, match=r"additional_forward_args\[0\]: .*ArrayImpl"):
        integrated_gradients(
            _Scaled(weight), batch, target=1, steps=4, additional_forward_args=([jnp.ones(4)],)
        )


def test_padded_last_chunk_adds_nothing(params: dict[str, Any], batch: Any) -> None:
    kwargs: dict[str, Any] = {"target": 0, "steps": 10, "method": "riemann_trapezoid"}
    whole = integrated_gradients((_apply, params), batch, **kwargs)
    # 30 rows in chunks of at most 8: 8, 8, 8 and a last chunk of 6 padded to 8.
    chunked = integrated_gradients((_apply, params), batch, batch_size=8, **kwargs)
    np.testing.assert_allclose(
        np.asarray(chunked.attributions), np.asarray(whole.attributions), rtol=1e-6, atol=1e-7
    )


def test_path_record(params: dict[str, Any], batch: Any) -> None:
    result = integrated_gradients(
        (_apply, params),
        batch,
        target=0,
        steps=5,
        batch_size=4,
        return_path=True,
        method="riemann_right",
    )
    assert result.path is not None
    assert result.path.outputs.shape == (3, 5)
    expected = np.asarray(_apply(params, batch))[:, 0]
    np.testing.assert_allclose(result.path.outputs[:, -1], expected, rtol=1e-5)


# -- layers: (embed_fn, head_fn) -----------------------------------------------------------------

_VOCAB, _WIDTH, _CLASSES = 11, 6, 3


@pytest.fixture
def text(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Weights of a text-like model: an embedding table, then mean, tanh and a dense layer."""
    return {
        "table": rng.normal(size=(_VOCAB, _WIDTH)).astype(np.float32),
        "w": rng.normal(size=(_WIDTH, _CLASSES)).astype(np.float32),
        "b": rng.normal(size=(_CLASSES,)).astype(np.float32),
        "ids": rng.integers(1, _VOCAB, size=(4, 5)),
    }


def _embed(p: dict[str, Any], ids: Any) -> Any:
    return p["table"][ids]


def _head(p: dict[str, Any], activations: Any) -> Any:
    return jnp.tanh(activations.mean(axis=1)) @ p["w"] + p["b"]


def _text_params(text: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: jnp.asarray(text[k]) for k in ("table", "w", "b")}


def _torch_text_model(text: dict[str, np.ndarray]) -> Any:
    import torch

    class TextModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(_VOCAB, _WIDTH)
            self.dense = torch.nn.Linear(_WIDTH, _CLASSES)
            with torch.no_grad():
                self.embedding.weight.copy_(torch.as_tensor(text["table"]))
                self.dense.weight.copy_(torch.as_tensor(text["w"].T))
                self.dense.bias.copy_(torch.as_tensor(text["b"]))

        def forward(self, ids: Any) -> Any:
            return self.dense(torch.tanh(self.embedding(ids).mean(dim=1)))

    return TextModel()


def test_layer_pair_completeness_and_torch_parity(text: dict[str, np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    params = _text_params(text)
    target = [0, 1, 2, 0]

    def model(ids: Any) -> Any:
        return _head(params, _embed(params, ids))

    ids = jnp.asarray(text["ids"], jnp.int32)
    result = integrated_gradients(
        model,
        ids,
        layer=((_embed, params), (_head, params)),
        target=target,
        baselines=0,
        steps=64,
    )
    assert result.attributions.shape == (4, 5, _WIDTH)
    assert np.abs(result.delta).max() < 1e-5  # completeness, float32 round-off at 64 nodes
    torch_model = _torch_text_model(text)
    torch_ids = torch.as_tensor(text["ids"])
    expected = integrated_gradients(
        torch_model,
        torch_ids,
        layer=torch_model.embedding,
        target=target,
        baselines=torch.zeros_like(torch_ids),
        steps=64,
    )
    np.testing.assert_allclose(
        np.asarray(result.attributions),
        expected.attributions.detach().numpy(),
        rtol=1e-4,
        atol=1e-6,
    )
    np.testing.assert_allclose(result.delta, expected.delta, atol=1e-5)


def test_layer_pair_of_plain_functions(text: dict[str, np.ndarray]) -> None:
    params = _text_params(text)

    def embed(ids: Any) -> Any:
        return _embed(params, ids)

    def head(activations: Any) -> Any:
        return _head(params, activations)

    ids = jnp.asarray(text["ids"], jnp.int32)
    plain = integrated_gradients(
        lambda x: head(embed(x)), ids, layer=(embed, head), target=1, baselines=0, steps=16
    )
    pairs = integrated_gradients(
        lambda x: head(embed(x)),
        ids,
        layer=((_embed, params), (_head, params)),
        target=1,
        baselines=0,
        steps=16,
    )
    np.testing.assert_allclose(
        np.asarray(plain.attributions), np.asarray(pairs.attributions), rtol=1e-6, atol=1e-7
    )


def test_layer_head_with_a_per_example_mask(text: dict[str, np.ndarray]) -> None:
    params = _text_params(text)

    def head(p: dict[str, Any], activations: Any, mask: Any) -> Any:
        pooled = (activations * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return jnp.tanh(pooled) @ p["w"] + p["b"]

    mask = jnp.asarray([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0]])
    ids = jnp.asarray(text["ids"], jnp.int32)
    result = integrated_gradients(
        lambda x, m: head(params, _embed(params, x), m),
        ids,
        layer=((_embed, params), (head, params)),
        additional_forward_args=(mask.astype(jnp.float32),),
        target=2,
        baselines=0,
        steps=64,
    )
    assert np.abs(result.delta).max() < 1e-5
    # Masked positions do not reach the output: their attributions are exactly zero.
    masked = np.asarray(result.attributions)[np.asarray(mask) == 0]
    np.testing.assert_array_equal(masked, np.zeros_like(masked))


def test_reused_layer_explainer_compiles_once(text: dict[str, np.ndarray]) -> None:
    params = _text_params(text)
    counting = _CountingApply()

    def head(p: dict[str, Any], activations: Any) -> Any:
        counting.calls += 1
        return _head(p, activations)

    explainer = Explainer(
        lambda x: _head(params, _embed(params, x)), layer=((_embed, params), (head, params))
    )
    ids = jnp.asarray(text["ids"], jnp.int32)
    for call in range(6):
        explainer.attribute(ids, target=call % _CLASSES, baselines=call % 2, steps=8)
    assert counting.calls == 2  # the head's chunk step and forward pass, traced once each


def test_integer_inputs_with_a_layer() -> None:
    backend = JaxBackend()
    (ids,) = backend.prepare_inputs([np.zeros((2, 3), np.int64)], allow_integer=True)
    assert jnp.issubdtype(ids.dtype, jnp.integer)
    with pytest.raises(TypeError, match=r"integer inputs need layer="):
        backend.prepare_inputs([np.zeros((2, 3), np.int64)])


def test_layer_input_is_refused_for_a_pair(text: dict[str, np.ndarray]) -> None:
    params = _text_params(text)
    with pytest.raises(ValueError, match="attribute_to_layer_input needs a layer module"):
        integrated_gradients(
            lambda x: _head(params, _embed(params, x)),
            jnp.asarray(text["ids"], jnp.int32),
            layer=((_embed, params), (_head, params)),
            attribute_to_layer_input=True,
            target=0,
        )


def test_layer_that_is_not_a_pair(params: dict[str, Any], batch: Any) -> None:
    with pytest.raises(TypeError, match=r"a pair \(embed_fn, head_fn\)"):
        integrated_gradients((_apply, params), batch, layer="dense", target=0)


# -- baselines, detection ------------------------------------------------------------------------


def test_explicit_and_drawn_baselines(params: dict[str, Any], batch: Any) -> None:
    model = (_apply, params)
    row = np.full((1, 4), 0.25, dtype=np.float32)
    broadcast = integrated_gradients(model, batch, baselines=row, target=0, steps=8)
    constant = integrated_gradients(model, batch, baselines=0.25, target=0, steps=8)
    np.testing.assert_allclose(
        np.asarray(broadcast.attributions), np.asarray(constant.attributions)
    )

    drawn = UniformBaseline(seed=3).sample(np.asarray(batch, np.float64)).astype(np.float32)
    named = integrated_gradients(model, batch, baselines="uniform", seed=3, target=0, steps=8)
    given = integrated_gradients(model, batch, baselines=jnp.asarray(drawn), target=0, steps=8)
    np.testing.assert_allclose(np.asarray(named.attributions), np.asarray(given.attributions))


def test_detection(params: dict[str, Any]) -> None:
    assert select_backend(object(), [jnp.zeros(1)]).name == "jax"
    assert select_backend((_apply, params), [np.zeros(1)]).name == "jax"
    backend = JaxBackend()
    assert backend.is_native(jnp.zeros(1))
    assert not backend.is_native(np.zeros(1))
    assert not backend.accepts_model(_apply)
    assert not backend.accepts_model((_apply, {"w": np.zeros(1)}))


# -- errors --------------------------------------------------------------------------------------


def test_integer_inputs_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a floating-point"):
        integrated_gradients((_apply, params), jnp.zeros((1, 4), jnp.int32), target=0)


def test_baseline_that_does_not_broadcast(params: dict[str, Any], batch: Any) -> None:
    with pytest.raises(ValueError, match=r"baseline of shape \(2, 4\) does not broadcast"):
        integrated_gradients((_apply, params), batch, baselines=np.zeros((2, 4)), target=0)


def test_target_out_of_range(params: dict[str, Any], batch: Any) -> None:
    with pytest.raises(ValueError, match="target 3 is out of range"):
        integrated_gradients((_apply, params), batch, target=3, steps=2)


def test_not_callable() -> None:
    with pytest.raises(TypeError, match=r"f\(x, \*extra\) or a pair"):
        integrated_gradients(42, jnp.zeros((1, 2)), steps=2)
