"""``hessian_vector``, ``exp`` and ``einsum`` in every installed backend, against closed forms.

Row ``r`` of a Hessian-vector product is ``H_r · t_r``: each row has its own point and tangent.
The reference backend's product is a central difference of the gradient, exact to rounding for
gradients at most quadratic, and O(h²) = 1e-6 relative otherwise (tanh).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from intgrad._core.arguments import ArgumentLayout
from intgrad.backends import get_backend

NAMES = ["numpy"] + [
    name for name in ("torch", "tensorflow", "jax") if importlib.util.find_spec(name) is not None
]

RTOL = {"numpy": 1e-9, "torch": 2e-5, "tensorflow": 2e-5, "jax": 2e-5}
"""float64 for the reference backend; float32 (JAX has no float64 without x64) elsewhere."""


class _Quadratic:
    """F(x) = xᵀ A x per row, for the reference backend: ∇F = (A + Aᵀ) x."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ri,ij,rj->r", x, self.a, x)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return ((inputs[0] @ (self.a + self.a.T)) * cotangent[:, None],)


class _TanhSum:
    """F(x) = Σ_k v_k tanh((x W)_k) per row, for the reference backend."""

    def __init__(self, w: np.ndarray, v: np.ndarray) -> None:
        self.w, self.v = w, v

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x @ self.w) @ self.v

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        hidden = np.tanh(inputs[0] @ self.w)
        return ((((1 - hidden**2) * self.v) @ self.w.T) * cotangent[:, None],)


@pytest.fixture(params=NAMES)
def backend_ops(request: pytest.FixtureRequest) -> tuple[Any, Any, str]:
    name = request.param
    dtype = np.float64 if name == "numpy" else np.float32
    backend = get_backend(name)
    like = backend.prepare_inputs([np.zeros((3, 4), dtype=dtype)])
    return backend, backend.ops(like), name


def _function(backend: Any, ops: Any, name: str, model: Any, native: Any) -> Any:
    """``f(points) -> (rows,)``: the closed form through the reference backend's program, or
    the same function written on the primitives for a framework."""
    if name == "numpy":
        program = backend.program(model, ArgumentLayout((), ()))
        return lambda points: program.outputs(points, (), ())
    return native


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(19940101)


def _points(ops: Any, name: str, values: np.ndarray) -> Any:
    return ops.from_host(values.astype(np.float64 if name == "numpy" else np.float32))


def test_hessian_vector_of_a_quadratic_form(backend_ops, rng) -> None:
    backend, ops, name = backend_ops
    a = rng.normal(size=(4, 4))
    x, t = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    a_native = _points(ops, name, a)

    def native(points: tuple[Any, ...]) -> Any:
        return ops.einsum("ri,ij,rj->r", points[0], a_native, points[0])

    f = _function(backend, ops, name, _Quadratic(a), native)
    values, grads, products = ops.hessian_vector(
        f, (_points(ops, name, x),), (_points(ops, name, t),)
    )
    h = a + a.T  # constant: every row's own tangent times the same Hessian
    rtol = RTOL[name]
    np.testing.assert_allclose(ops.to_host(values), np.einsum("ri,ij,rj->r", x, a, x), rtol=rtol)
    np.testing.assert_allclose(ops.to_host(grads[0]), x @ h, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ops.to_host(products[0]), t @ h, rtol=rtol, atol=rtol)


def _tanh_hessian_products(w: np.ndarray, v: np.ndarray, x: np.ndarray, t: np.ndarray) -> Any:
    """∇F = W (v ⊙ (1 − h²)) and H t = W diag(v ⊙ (−2h(1 − h²))) Wᵀ t with h = tanh(x W)."""
    hidden = np.tanh(x @ w)
    grads = ((1 - hidden**2) * v) @ w.T
    curvature = -2.0 * hidden * (1 - hidden**2) * v
    return grads, ((t @ w) * curvature) @ w.T


def test_hessian_vector_of_tanh_units(backend_ops, rng) -> None:
    backend, ops, name = backend_ops
    w, v = rng.normal(size=(4, 5)), rng.normal(size=5)
    x, t = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    w_native, v_native = _points(ops, name, w), _points(ops, name, v)

    def native(points: tuple[Any, ...]) -> Any:
        # tanh z = 1 − 2 / (e^{2z} + 1): the product goes through ``exp`` twice differentiated.
        z = ops.einsum("ri,ik->rk", points[0], w_native)
        return ops.einsum("rk,k->r", 1.0 - 2.0 / (ops.exp(2.0 * z) + 1.0), v_native)

    f = _function(backend, ops, name, _TanhSum(w, v), native)
    values, grads, products = ops.hessian_vector(
        f, (_points(ops, name, x),), (_points(ops, name, t),)
    )
    expected_grads, expected_products = _tanh_hessian_products(w, v, x, t)
    rtol = 1e-5 if name == "numpy" else RTOL[name]  # central differences: h² |∂³F| ≈ 3e-6
    np.testing.assert_allclose(ops.to_host(values), np.tanh(x @ w) @ v, rtol=RTOL[name])
    np.testing.assert_allclose(ops.to_host(grads[0]), expected_grads, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ops.to_host(products[0]), expected_products, rtol=rtol, atol=rtol)


def test_unused_points_and_linear_functions_give_zeros(backend_ops, rng) -> None:
    _backend, ops, name = backend_ops
    if name == "numpy":
        pytest.skip("the reference backend differentiates ClosedForm models, not functions")
    c = _points(ops, name, rng.normal(size=4))
    x = _points(ops, name, rng.normal(size=(3, 4)))
    unused = _points(ops, name, rng.normal(size=(3, 2)))

    def linear(points: tuple[Any, ...]) -> Any:
        return ops.einsum("ri,i->r", points[0], c)

    tangents = (_points(ops, name, np.ones((3, 4))), _points(ops, name, np.ones((3, 2))))
    _, grads, products = ops.hessian_vector(linear, (x, unused), tangents)
    np.testing.assert_allclose(ops.to_host(grads[0]), np.tile(ops.to_host(c), (3, 1)), rtol=1e-6)
    for array, shape in ((grads[1], (3, 2)), (products[0], (3, 4)), (products[1], (3, 2))):
        assert ops.shape(array) == shape
        np.testing.assert_array_equal(ops.to_host(array), 0.0)


def test_hessian_vector_inside_a_compiled_step(backend_ops, rng) -> None:
    _backend, ops, name = backend_ops
    if name == "numpy":
        pytest.skip("the reference backend compiles nothing")
    a = rng.normal(size=(4, 4))
    x, t = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    a_native = _points(ops, name, a)

    def step(points: Any, tangents: Any) -> Any:
        f = lambda p: ops.einsum("ri,ij,rj->r", p[0], a_native, p[0])  # noqa: E731
        return ops.hessian_vector(f, points, tangents)[2][0]

    products = ops.compile(step)((_points(ops, name, x),), (_points(ops, name, t),))
    np.testing.assert_allclose(ops.to_host(products), t @ (a + a.T), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    ("subscripts", "shapes"),
    [
        ("rf,fg->rg", [(5, 4), (4, 3)]),
        ("ri,ij,rj->r", [(5, 4), (4, 4), (5, 4)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("rk,k->r", [(5, 3), (3,)]),
    ],
)
def test_einsum_matches_numpy(backend_ops, rng, subscripts: str, shapes: list) -> None:
    _backend, ops, name = backend_ops
    operands = [rng.normal(size=shape) for shape in shapes]
    native = [_points(ops, name, o) for o in operands]
    expected = np.einsum(subscripts, *operands)
    np.testing.assert_allclose(
        ops.to_host(ops.einsum(subscripts, *native)), expected, rtol=RTOL[name], atol=RTOL[name]
    )


def test_exp_matches_numpy(backend_ops) -> None:
    _backend, ops, name = backend_ops
    values = np.linspace(-30.0, 20.0, 12).reshape(3, 4)
    result = ops.to_host(ops.exp(_points(ops, name, values)))
    assert result.shape == (3, 4)
    np.testing.assert_allclose(result, np.exp(values), rtol=RTOL[name])
