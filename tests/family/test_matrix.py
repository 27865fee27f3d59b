"""The whole family and every metric in every framework: one parametrised matrix.

Each cell runs one method (or metric) on the same small "image" model — 5 × 5 grayscale inputs,
flattened into a tanh MLP — natively in PyTorch, TensorFlow and JAX (float64), and compares it
with the NumPy reference backend, where the model's gradient is written by hand. XRAI, which
needs RGB images, runs on 6 × 6 × 3 ones through the same kind of MLP. The model-randomisation
check is given randomised copies built from the same redrawn weights in every framework (its
own per-framework copies are tested in ``tests/metrics/test_randomisation.py``). The methods'
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


Layers = list[tuple[np.ndarray, np.ndarray]]


def _layers(features: int = SIDE * SIDE, seed: int = 12) -> Layers:
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(features, 6)) * 0.4, rng.normal(size=6) * 0.1),
        (rng.normal(size=(6, 3)), rng.normal(size=3) * 0.1),
    ]


def _randomised(layers: Layers, top: int) -> Layers:
    """The top ``top`` layers redrawn from N(0, σ²), σ each tensor's own spread."""
    rng = np.random.default_rng(40 + top)
    redrawn = [
        (rng.normal(size=w.shape) * w.std(), rng.normal(size=b.shape) * b.std()) for w, b in layers
    ]
    return layers[: len(layers) - top] + redrawn[len(layers) - top :]


def _native_model(framework: Any, layers: Layers | None = None) -> Callable[[Any], Any]:
    layers = _layers() if layers is None else layers
    mlp = framework.mlp(layers, "tanh", dtype="float64")
    features = layers[0][0].shape[0]
    if framework.name == "tensorflow":
        tf = framework.tf
        return lambda x: mlp(tf.reshape(x, [-1, features]))
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


def _metric_cells(m: Any, x: Any, b: str | None, build: Callable[[Layers], Any]) -> dict[str, Any]:
    explainer = intgrad.Explainer(m, backend=b)
    ig = explainer.attribute(x, target=TARGET, steps=12)

    def explain(batch: Any, *, target: Any, additional_forward_args: Any) -> Any:
        return explainer.attribute(batch, target=target, steps=12)

    def explain_model(model: Any, batch: Any, *, target: Any, additional_forward_args: Any) -> Any:
        return intgrad.Explainer(model, backend=b).attribute(batch, target=target, steps=12)

    check = metrics.model_randomisation(
        m,
        x,
        ig,
        randomised={
            "top": build(_randomised(_layers(), 1)),
            "all": build(_randomised(_layers(), 2)),
        },
        explain=explain_model,
        features="elements",
        target=TARGET,
    )

    return {
        "deletion": metrics.deletion(explainer, x, ig, steps=5, features="elements").scores,
        "insertion": metrics.insertion(
            explainer, x, ig, steps=5, perturbation="mean", features="elements"
        ).scores,
        # The default: noisy linear imputation of each removed pixel from its neighbours.
        "road": metrics.road(explainer, x, ig, percentages=(0.2, 0.6), channel_axis=None).scores,
        "infidelity": metrics.infidelity(explainer, x, ig, samples=8, seed=4).values,
        "max_sensitivity": metrics.max_sensitivity(
            explain, x, ig, samples=3, target=TARGET, seed=5
        ).values,
        "completeness": metrics.completeness(ig).relative,
        "randomisation_spearman_abs": check.spearman_abs,
        "randomisation_spearman": check.spearman,
        "randomisation_top_k_overlap": check.top_k_overlap,
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
    got = _metric_cells(
        _native_model(framework),
        framework.tensor(data["x"], "float64"),
        None,
        lambda layers: _native_model(framework, layers),
    )
    reference = _metric_cells(FlatTanhMLP(_layers()), data["x"], "numpy", FlatTanhMLP)
    assert set(got) == set(reference)
    for name, expected in reference.items():
        value = np.asarray(got[name], dtype=np.float64)
        assert np.isfinite(value).all(), name
        np.testing.assert_allclose(value, expected, rtol=1e-7, atol=1e-10, err_msg=name)


IMAGE = (6, 6)
"""XRAI's images: 6 × 6 RGB, channels last."""


def _xrai_segments() -> np.ndarray:
    """Candidate regions of a 6 × 6 image: the four quadrants, the left half, the top half, the
    centre 2 × 2 and a diagonal band, overlapping as segmentations at several scales do."""
    rows, cols = np.mgrid[:6, :6]
    return np.stack(
        [
            (rows < 3) & (cols < 3),
            (rows < 3) & (cols >= 3),
            (rows >= 3) & (cols < 3),
            (rows >= 3) & (cols >= 3),
            cols < 3,
            rows < 3,
            (abs(rows - 2.5) < 1) & (abs(cols - 2.5) < 1),
            abs(rows - cols) <= 1,
        ]
    )


def _xrai(model: Any, images: np.ndarray, b: str | None, given: bool) -> dict[str, Any]:
    from intgrad.images.xrai import xrai

    explainer = intgrad.Explainer(model, backend=b, output="probability")
    segments = [_xrai_segments()] * len(images)
    if given:
        ig = explainer.attribute(images, baselines=["black", "white"], target=TARGET, steps=8)
        result = xrai(None, images, attributions=ig, segments=segments)
    else:
        result = xrai(explainer, images, target=TARGET, steps=8, segments=segments)
    return {"saliency": result.saliency, "ranks": result.ranks, "attributions": result.attributions}


@pytest.mark.parametrize("given", [False, True], ids=["computed", "given"])
def test_xrai_in_every_framework(framework: Any, given: bool) -> None:
    # Computed: XRAI runs Integrated Gradients of the Explainer's probability from black and
    # white itself; given: the same attributions, a native tensor, passed in.
    images = np.random.default_rng(6).uniform(0.0, 1.0, size=(2, *IMAGE, 3))
    layers = _layers(features=IMAGE[0] * IMAGE[1] * 3, seed=13)
    got = _xrai(_native_model(framework, layers), images, framework.name, given)
    reference = _xrai(FlatTanhMLP(layers), images, "numpy", given)
    assert len(np.unique(reference["ranks"])) > 2  # several regions were ranked
    for key, expected in reference.items():
        np.testing.assert_allclose(got[key], expected, rtol=1e-7, atol=1e-12, err_msg=key)


@pytest.mark.parametrize(
    ("images", "target", "error", "message"),
    [
        (None, None, TypeError, "target must be a class index or one per image"),
        (None, "cat", TypeError, "target must be a class index or one per image"),
        (None, [0], ValueError, r"one entry per image \(2\), got 1"),
        ([np.zeros((*IMAGE, 3))], 0, TypeError, "images must be a NumPy array"),
    ],
)
def test_xrai_with_an_explainer_refuses(
    images: Any, target: Any, error: type[Exception], message: str
) -> None:
    from intgrad.images.xrai import xrai

    layers = _layers(features=IMAGE[0] * IMAGE[1] * 3, seed=13)
    explainer = intgrad.Explainer(FlatTanhMLP(layers), backend="numpy")
    pixels = np.full((2, *IMAGE, 3), 0.5) if images is None else images
    with pytest.raises(error, match=message):
        xrai(explainer, pixels, target=target, steps=4, segments=[_xrai_segments()] * 2)
