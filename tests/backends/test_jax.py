"""JAX backend: structure, one compilation per call, (apply_fn, params), x64 and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from intgrad import UniformBaseline, integrated_gradients  # noqa: E402
from intgrad.backends import select_backend  # noqa: E402
from intgrad.backends.jax import JaxBackend  # noqa: E402


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

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def __call__(self, x: Any) -> Any:
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


# -- one compilation per call --------------------------------------------------------------------


def test_chunks_and_baselines_share_one_compilation(params: dict[str, Any], batch: Any) -> None:
    counting = _Counting(params)
    # 3 examples × 10 steps = 30 rows in chunks of 4: 7 full chunks and a padded one of 2.
    result = integrated_gradients(
        counting, batch, target=0, steps=10, batch_size=4, baselines=[0.0, 0.5, "uniform"], seed=1
    )
    assert counting.calls == 2  # one trace of the chunk step, one of the forward pass
    assert result.steps == 30


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
