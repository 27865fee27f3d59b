"""The whole family and every metric in every framework: one parametrised matrix.

Each cell runs one method (or metric) on the same small "image" model — 5 × 5 grayscale inputs,
flattened into a tanh MLP — natively in PyTorch, TensorFlow and JAX (float64), and compares it
with the NumPy reference backend, where the model's gradient is written by hand. The methods'
own tests check their mathematics; this matrix checks that nothing of them is per framework.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import intgrad
from intgrad import metrics

SIDE = 5
TARGET = 1


class FlatTanhMLP:
    """tanh(flat(x) W1 + b1) W2 + b2 for x of shape (rows, 5, 5): outputs (rows, 3)."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        (self.w1, self.b1), (self.w2, self.b2) = layers

    def __call__(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(x.shape[0], -1)
        return np.tanh(flat @ self.w1 + self.b1) @ self.w2 + self.b2

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        x = inputs[0]
        hidden = np.tanh(x.reshape(x.shape[0], -1) @ self.w1 + self.b1)
        return ((((cotangent @ self.w2.T) * (1.0 - hidden**2)) @ self.w1.T).reshape(x.shape),)


def _layers() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(12)
    return [
        (rng.normal(size=(SIDE * SIDE, 6)) * 0.4, rng.normal(size=6) * 0.1),
        (rng.normal(size=(6, 3)), rng.normal(size=3) * 0.1),
    ]


def _native_model(framework: Any) -> Callable[[Any], Any]:
    mlp = framework.mlp(_layers(), "tanh", dtype="float64")
    if framework.name == "tensorflow":
        tf = framework.tf
        return lambda x: mlp(tf.reshape(x, [-1, SIDE * SIDE]))
    return lambda x: mlp(x.reshape(x.shape[0], -1))


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "x": rng.uniform(0.0, 1.0, size=(2, SIDE, SIDE)),
        "background": rng.uniform(0.0, 1.0, size=(4, SIDE, SIDE)),
    }


# method name → how to call it on (model, inputs, background, backend); each returns arrays to
# compare (attributions, and the completeness gap where the method has one).
Method = Callable[[Any, Any, Any, str | None], dict[str, Any]]


def _attribution(result: intgrad.Attribution) -> dict[str, Any]:
    return {"attributions": result.attributions, "delta": result.delta}


METHODS: dict[str, Method] = {
    "integrated_gradients": lambda m, x, bg, b: _attribution(
        intgrad.integrated_gradients(m, x, target=TARGET, steps=12, backend=b)
    ),
    "expected_gradients": lambda m, x, bg, b: _attribution(
        intgrad.expected_gradients(m, x, background=bg, samples=5, target=TARGET, seed=1, backend=b)
    ),
    "smoothgrad": lambda m, x, bg, b: _attribution(
        intgrad.noise_tunnel(m, x, samples=3, target=TARGET, seed=2, steps=8, backend=b)
    ),
    "smoothgrad_sq": lambda m, x, bg, b: _attribution(
        intgrad.noise_tunnel(
            m,
            x,
            kind="smoothgrad_sq",
            attribution="gradient",
            samples=3,
            target=TARGET,
            seed=2,
            backend=b,
        )
    ),
    "vargrad": lambda m, x, bg, b: _attribution(
        intgrad.noise_tunnel(
            m,
            x,
            kind="vargrad",
            attribution="gradient",
            samples=3,
            target=TARGET,
            seed=2,
            backend=b,
        )
    ),
    "blur_ig": lambda m, x, bg, b: _attribution(
        intgrad.blur_ig(m, x, max_sigma=2.0, steps=12, target=TARGET, backend=b)
    ),
    "guided_ig": lambda m, x, bg, b: _attribution(
        intgrad.guided_ig(m, x, steps=12, target=TARGET, backend=b)
    ),
    "guided_ig_idgi": lambda m, x, bg, b: _attribution(
        intgrad.guided_ig(m, x, steps=12, reweight="idgi", target=TARGET, backend=b)
    ),
    "idgi": lambda m, x, bg, b: _attribution(
        intgrad.idgi(m, x, steps=12, target=TARGET, backend=b)
    ),
    "idgi_blur": lambda m, x, bg, b: _attribution(
        intgrad.idgi(m, x, path="blur", max_sigma=2.0, steps=12, target=TARGET, backend=b)
    ),
    "integrated_hessians": lambda m, x, bg, b: {
        "interactions": (
            r := intgrad.integrated_hessians(
                m, x, features=[0, 7], steps=8, target=TARGET, backend=b
            )
        ).interactions,
        "delta": r.delta,
    },
    "expected_hessians": lambda m, x, bg, b: {
        "interactions": intgrad.expected_hessians(
            m, x, background=bg, samples=6, features=[3], seed=3, target=TARGET, backend=b
        ).interactions,
    },
}


def _metric_cells(m: Any, x: Any, b: str | None) -> dict[str, Any]:
    explainer = intgrad.Explainer(m, backend=b)
    ig = explainer.attribute(x, target=TARGET, steps=12)

    def explain(batch: Any, *, target: Any, additional_forward_args: Any) -> Any:
        return explainer.attribute(batch, target=target, steps=12)

    return {
        "deletion": metrics.deletion(explainer, x, ig, steps=5, features="elements").scores,
        "insertion": metrics.insertion(
            explainer, x, ig, steps=5, perturbation="mean", features="elements"
        ).scores,
        "road": metrics.road(
            explainer,
            x,
            ig,
            percentages=(0.2, 0.6),
            noise=0.0,
            features="elements",
            imputation="mean",
            mean=np.full((SIDE, SIDE), 0.5),
        ).scores,
        "infidelity": metrics.infidelity(explainer, x, ig, samples=8, seed=4).values,
        "max_sensitivity": metrics.max_sensitivity(
            explain, x, ig, samples=3, target=TARGET, seed=5
        ).values,
        "completeness": metrics.completeness(ig).relative,
    }


def _host(framework: Any, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return framework.numpy(value)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_in_every_framework(framework: Any, method: str, data) -> None:
    model = _native_model(framework)
    native = framework.tensor(data["x"], "float64")
    background = framework.tensor(data["background"], "float64")
    got = METHODS[method](model, native, background, None)
    reference = METHODS[method](FlatTanhMLP(_layers()), data["x"], data["background"], "numpy")
    assert set(got) == set(reference)
    for key, expected in reference.items():
        if expected is None:
            assert got[key] is None, key
            continue
        value = _host(framework, got[key])
        assert value.shape == np.shape(expected) and np.isfinite(value).all(), key
        # The reference's Hessian-vector products are central differences of its gradient
        # (step 1e-3, error O(1e-6) relative on tanh); everything else is exact to rounding.
        atol = 1e-7 if method.endswith("hessians") else 1e-10
        np.testing.assert_allclose(value, expected, rtol=1e-7, atol=atol, err_msg=key)


def test_every_metric_in_every_framework(framework: Any, data) -> None:
    got = _metric_cells(_native_model(framework), framework.tensor(data["x"], "float64"), None)
    reference = _metric_cells(FlatTanhMLP(_layers()), data["x"], "numpy")
    for name, expected in reference.items():
        value = np.asarray(got[name], dtype=np.float64)
        assert np.isfinite(value).all(), name
        np.testing.assert_allclose(value, expected, rtol=1e-7, atol=1e-10, err_msg=name)
