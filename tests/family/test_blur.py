"""Blur IG on the engine: its path against SciPy, closed forms, completeness, PAIR, frameworks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from intgrad import Explainer
from intgrad._core.backend import CallArrays
from intgrad._core.blur import BlurPath, image_axes
from intgrad._core.primitives import DeviceRows
from intgrad.backends.numpy import NumpyOps
from intgrad.family.blur import blur_ig


class Linear:
    """F(x) = Σ w ⊙ x per row, for images of any shape: IG-like paths have a closed form."""

    def __init__(self, weight: np.ndarray) -> None:
        self.weight = weight

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (self.weight * x).reshape(x.shape[0], -1).sum(axis=1)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        (x,) = inputs
        return (self.weight * cotangent.reshape((-1,) + (1,) * (x.ndim - 1)),)


class FlatTanh:
    """F(x) = tanh(flatten(x) W), outputs (rows, classes)."""

    def __init__(self, weight: np.ndarray) -> None:
        self.weight = weight

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x.reshape(x.shape[0], -1) @ self.weight)

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        (x,) = inputs
        hidden = np.tanh(x.reshape(x.shape[0], -1) @ self.weight)
        return ((((1.0 - hidden**2) * cotangent) @ self.weight.T).reshape(x.shape),)


class FlatMLP:
    """The framework adapters' tanh MLP (one hidden layer) on flattened inputs, by hand."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        (self.w1, self.b1), (self.w2, self.b2) = layers

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x.reshape(x.shape[0], -1) @ self.w1 + self.b1) @ self.w2 + self.b2

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        (x,) = inputs
        hidden = np.tanh(x.reshape(x.shape[0], -1) @ self.w1 + self.b1)
        back = ((cotangent @ self.w2.T) * (1.0 - hidden**2)) @ self.w1.T
        return (back.reshape(x.shape),)


def normalised_blur(images: np.ndarray, sigma: float, axes: tuple[int, ...]) -> np.ndarray:
    """SciPy's Gaussian with zeros outside the image, divided by the blur of ones: the kernel
    renormalised over the image (untruncated: ``truncate`` reaches past the image)."""
    sigmas = [sigma if axis in axes else 0.0 for axis in range(images.ndim)]
    reach = max(images.shape) / sigma + 2.0
    blurred = ndimage.gaussian_filter(images, sigmas, mode="constant", truncate=reach)
    mass = ndimage.gaussian_filter(np.ones_like(images), sigmas, mode="constant", truncate=reach)
    return blurred / mass


def _rows(alphas: list[float] | np.ndarray, examples: list[int]) -> DeviceRows:
    index = np.asarray(examples, dtype=np.int32)
    alphas = np.asarray(alphas, dtype=np.float64)
    return DeviceRows(index, index, alphas, np.ones(alphas.size))


def _arrays(x: np.ndarray) -> CallArrays:
    owners = np.arange(x.shape[0], dtype=np.int32)
    return CallArrays((x,), (np.zeros_like(x),), (), (), (), owners)


@pytest.fixture
def images(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(size=(2, 3, 8, 9))


# --- the path ------------------------------------------------------------------------------


def test_path_ends_are_the_image_and_scipys_blur(images: np.ndarray) -> None:
    path = BlurPath(5.0)
    sharp, blurred, half = path.points(
        NumpyOps(), _arrays(images), _rows([1.0, 0.0, 0.5], [0, 1, 1])
    )[0]
    assert np.array_equal(sharp, images[0])  # α = 1: the identity, exactly
    np.testing.assert_allclose(blurred, normalised_blur(images[1], 5.0, (1, 2)), atol=1e-13)
    np.testing.assert_allclose(half, normalised_blur(images[1], 2.5, (1, 2)), atol=1e-13)


def test_blur_keeps_constants_and_matches_scipy_inside() -> None:
    constant = np.full((1, 1, 8, 8), 0.7)
    (blurred,) = BlurPath(50.0).points(NumpyOps(), _arrays(constant), _rows([0.0], [0]))
    np.testing.assert_allclose(blurred, 0.7, atol=1e-14)
    # 8σ inside the border (where the Gaussian's tail is e^-32) every SciPy border mode
    # agrees with ours.
    big = np.random.default_rng(3).uniform(size=(1, 2, 20, 20))
    (blurred,) = BlurPath(1.0).points(NumpyOps(), _arrays(big), _rows([0.0], [0]))
    reflected = ndimage.gaussian_filter(big[0], (0, 1.0, 1.0), mode="reflect", truncate=12.0)
    np.testing.assert_allclose(blurred[0][:, 8:-8, 8:-8], reflected[:, 8:-8, 8:-8], atol=1e-12)


def test_tangent_is_the_derivative_of_the_points(images: np.ndarray) -> None:
    ops, arrays, path = NumpyOps(), _arrays(images), BlurPath(6.0)
    alphas, examples, step = np.array([0.05, 0.4, 0.8, 0.97, 1.0 - 1e-4]), [0, 1, 0, 1, 0], 1e-6
    (tangent,) = path.tangents(ops, arrays, _rows(alphas, examples))
    (ahead,) = path.points(ops, arrays, _rows(alphas + step, examples))
    (behind,) = path.points(ops, arrays, _rows(alphas - step, examples))
    central = (ahead - behind) / (2 * step)
    np.testing.assert_allclose(tangent, central, atol=1e-7 * np.abs(tangent).max())
    (at_end,) = path.tangents(ops, arrays, _rows([1.0], [0]))
    assert np.array_equal(at_end, np.zeros_like(at_end))  # B(0) = I, no NaN


def test_path_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_sigma must be a finite number > 0"):
        BlurPath(0.0)
    with pytest.raises(ValueError, match="max_sigma must be a finite number > 0"):
        BlurPath(float("inf"))
    with pytest.raises(TypeError, match="max_sigma must be a positive number"):
        BlurPath("50")
    with pytest.raises(ValueError, match="spatial_axes must be axes >= 1"):
        BlurPath(5.0, spatial_axes=(0, 1))
    with pytest.raises(ValueError, match="must not repeat"):
        BlurPath(5.0, spatial_axes=(1, 1))
    with pytest.raises(TypeError, match="channels_last must be None or a bool"):
        BlurPath(5.0, channels_last="yes")
    with pytest.raises(ValueError, match="do not fit a path tensor"):
        BlurPath(5.0, spatial_axes=(3,)).points(
            NumpyOps(), _arrays(np.zeros((1, 4, 4))), _rows([0.5], [0])
        )


@pytest.mark.parametrize(
    ("shape", "channels_last", "framework", "axes"),
    [
        ((2, 8, 8), None, "torch", (1, 2)),
        ((2, 3, 8, 8), None, "jax", (2, 3)),
        ((2, 8, 8, 3), None, "torch", (1, 2)),
        ((2, 4, 4, 3), None, "torch", (2, 3)),  # ambiguous: the framework's convention
        ((2, 4, 4, 3), None, "tensorflow", (1, 2)),
        ((2, 8, 8, 8), True, "torch", (1, 2)),
        ((2, 8, 8, 3), False, "jax", (2, 3)),
    ],
)
def test_image_axes(
    shape: tuple[int, ...], channels_last: bool | None, framework: str, axes: tuple[int, int]
) -> None:
    assert image_axes(shape, channels_last, framework) == axes


# --- blur_ig on closed forms ----------------------------------------------------------------


def test_linear_model_converges_to_its_closed_form(
    images: np.ndarray, rng: np.random.Generator
) -> None:
    weight = rng.normal(size=images.shape[1:])
    model = Linear(weight)
    exact = weight * (images - normalised_blur(images, 50.0, (2, 3)))
    errors = []
    for steps in (64, 256):
        result = blur_ig(model, images, steps=steps, backend="numpy")
        errors.append(np.abs(result.attributions - exact).max() / np.abs(exact).max())
        # The engine's ends are x and the blurred x: F there is the closed form's.
        np.testing.assert_allclose(result.f_input, model(images), rtol=1e-13)
        np.testing.assert_allclose(result.f_baseline, model(images - exact / weight), rtol=1e-12)
        np.testing.assert_allclose(
            result.delta,
            result.attributions.sum(axis=(1, 2, 3)) - exact.sum(axis=(1, 2, 3)),
            atol=1e-12,
        )
    # The path changes most near α = 1 (σ of a few pixels): Gauss–Legendre needs the nodes.
    assert errors[0] < 0.1 and errors[1] < 1e-8, errors
    small = blur_ig(model, images, max_sigma=2.0, steps=64, backend="numpy")
    exact_small = weight * (images - normalised_blur(images, 2.0, (2, 3)))
    np.testing.assert_allclose(small.attributions, exact_small, atol=1e-11)
    assert small.algorithm == "blur_ig" and small.baselines == ("blur(max_sigma=2)",)


def test_completeness_shrinks_with_steps(rng: np.random.Generator) -> None:
    x = rng.uniform(size=(2, 16, 16, 3))
    model = FlatTanh(rng.normal(size=(16 * 16 * 3, 4)) * 3.0 / np.sqrt(16 * 16 * 3))
    gaps = []
    for steps in (16, 32, 64, 128):
        result = blur_ig(model, x, target=1, max_sigma=10.0, steps=steps, backend="numpy")
        gaps.append(np.abs(result.delta).max())
    # Measured: 8.7e-3, 4.9e-4, 4.4e-7, 9.7e-12 (F(x) − F(blur(x)) = -0.023 and -0.001).
    bounds = (0.02, 1e-3, 1e-6, 1e-10)
    assert all(g < b for g, b in zip(gaps, bounds, strict=True)), gaps


def test_channels_first_and_last_agree(rng: np.random.Generator) -> None:
    last = rng.uniform(size=(2, 8, 8, 3))
    first = np.ascontiguousarray(last.transpose(0, 3, 1, 2))
    weight = rng.normal(size=(8 * 8 * 3, 2))

    class Transposed(FlatTanh):
        def __call__(self, x: np.ndarray) -> np.ndarray:
            return super().__call__(x.transpose(0, 2, 3, 1))

        def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
            (g,) = super().vjp((inputs[0].transpose(0, 2, 3, 1),), cotangent)
            return (g.transpose(0, 3, 1, 2),)

    a = blur_ig(FlatTanh(weight), last, target=0, max_sigma=4.0, steps=16, backend="numpy")
    b = blur_ig(Transposed(weight), first, target=0, max_sigma=4.0, steps=16, backend="numpy")
    np.testing.assert_allclose(b.attributions, a.attributions.transpose(0, 3, 1, 2), atol=1e-13)
    forced = blur_ig(
        FlatTanh(weight),
        last,
        target=0,
        max_sigma=4.0,
        steps=16,
        channels_last=True,
        backend="numpy",
    )
    np.testing.assert_array_equal(forced.attributions, a.attributions)


def test_grayscale_images(rng: np.random.Generator) -> None:
    x = rng.uniform(size=(2, 8, 8))
    weight = rng.normal(size=(8, 8))
    result = blur_ig(Linear(weight), x, max_sigma=2.0, steps=64, backend="numpy")
    np.testing.assert_allclose(
        result.attributions, weight * (x - normalised_blur(x, 2.0, (1, 2))), atol=1e-11
    )


def test_auto_steps_meet_the_tolerance(rng: np.random.Generator) -> None:
    x = rng.uniform(size=(2, 8, 8, 3))
    model = FlatTanh(rng.normal(size=(8 * 8 * 3, 3)) * 3.0 / np.sqrt(8 * 8 * 3))
    result = blur_ig(model, x, target=2, steps="auto", tolerance=0.01, backend="numpy")
    assert result.method == "auto"
    assert result.relative_delta.max() <= 0.01
    reference = blur_ig(model, x, target=2, steps=512, backend="numpy")
    error = np.linalg.norm(result.attributions - reference.attributions)
    assert error / np.linalg.norm(reference.attributions) < 0.03


def test_explainer_is_reused_and_arguments_checked(rng: np.random.Generator) -> None:
    x = rng.uniform(size=(1, 8, 8))
    explainer = Explainer(Linear(np.ones((8, 8))), backend="numpy")
    result = blur_ig(explainer, x, max_sigma=1.0, steps=8)
    assert result.steps == 8 and result.forward_evaluations == 2
    with pytest.raises(ValueError, match="max_sigma must be a finite number > 0"):
        blur_ig(explainer, x, max_sigma=-1.0)
    with pytest.raises(ValueError, match=r"inputs\[0\] must be images"):
        blur_ig(explainer, np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r"inputs\[0\] must be images"):
        blur_ig(explainer, np.zeros((2, 1, 8, 8, 1)))
    with pytest.raises(ValueError, match="steps must be a positive int or 'auto'"):
        blur_ig(explainer, x, steps="many")
    with pytest.raises(ValueError, match="backend, output and layer belong to the Explainer"):
        blur_ig(explainer, x, backend="numpy")


# --- PAIR's saliency ------------------------------------------------------------------------


def _pair_mask(
    model: FlatTanh, image: np.ndarray, target: int, max_sigma: float, steps: int
) -> np.ndarray:
    import saliency.core as saliency

    def call_model(batch: np.ndarray, call_model_args: Any = None, expected_keys: Any = None):
        cotangent = np.zeros((batch.shape[0], model.weight.shape[1]))
        cotangent[:, target] = 1.0
        return {saliency.INPUT_OUTPUT_GRADIENTS: model.vjp((batch,), cotangent)[0]}

    mask = saliency.BlurIG().GetMask(
        image, call_model, max_sigma=max_sigma, steps=steps, batch_size=50
    )
    return np.asarray(mask)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_agrees_with_pair_on_the_same_path(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PAIR blurs with zeros outside the image; given our border, it integrates the same path
    (σ = i · max_sigma / steps is our "riemann_right" rule) with a forward-difference tangent
    (grad_step 0.01). Measured: correlation 0.999998, relative L2 difference 5.2e-3, PAIR's
    completeness gap 0.8 % of F(x) − F(blur(x)), ours 4e-5."""
    import saliency.core.blur_ig as pair_blur

    x = rng.uniform(size=(1, 16, 16, 3))
    model = FlatTanh(rng.normal(size=(16 * 16 * 3, 4)) * 3.0 / np.sqrt(16 * 16 * 3))

    def our_border(image: np.ndarray, sigma: float) -> np.ndarray:
        return image if sigma == 0 else normalised_blur(image, sigma, (0, 1))

    monkeypatch.setattr(pair_blur, "gaussian_blur", our_border)
    pair = _pair_mask(model, x[0], 1, 10.0, 200)
    ours = blur_ig(
        model, x, target=1, max_sigma=10.0, steps=200, method="riemann_right", backend="numpy"
    )
    attributions = ours.attributions[0]
    difference = np.linalg.norm(pair - attributions) / np.linalg.norm(attributions)
    change = ours.f_input[0] - ours.f_baseline[0]
    assert _correlation(pair, attributions) > 0.9999
    assert difference < 1e-2
    assert abs(pair.sum() - change) < 0.015 * abs(change)
    assert ours.relative_delta[0] < 1e-3


def test_agrees_with_pair_away_from_the_border(rng: np.random.Generator) -> None:
    """With PAIR's own zero-padded blur the paths differ near the border only: at max_sigma 1
    the pixels 4 or more from the border correlate at 0.99999 (measured)."""
    x = rng.uniform(size=(1, 16, 16, 3))
    model = FlatTanh(rng.normal(size=(16 * 16 * 3, 4)) * 3.0 / np.sqrt(16 * 16 * 3))
    pair = _pair_mask(model, x[0], 1, 1.0, 200)
    ours = blur_ig(model, x, target=1, max_sigma=1.0, steps=128, backend="numpy").attributions
    inner = (slice(4, -4), slice(4, -4))
    assert _correlation(pair[inner], ours[0][inner]) > 0.9999


# --- frameworks -----------------------------------------------------------------------------


def flat_model(framework: Any, layers: list[tuple[np.ndarray, np.ndarray]]) -> Any:
    mlp = framework.mlp(layers, activation="tanh")
    if framework.name == "torch":
        torch = framework.torch
        return torch.nn.Sequential(torch.nn.Flatten(), mlp)
    if framework.name == "tensorflow":
        tf = framework.tf
        return lambda x: mlp(tf.reshape(x, (-1, 64)))
    return lambda x: mlp(x.reshape(x.shape[0], 64))


def require_constants_in_steps(framework: Any) -> None:
    """xfail where ``ops.from_host`` cannot run inside a compiled step, as the blur path needs:
    ``JaxOps.from_host`` asks a traced array for ``.devices()`` under ``jax.jit`` (JAX 0.10)."""
    if framework.name != "jax":
        return
    from intgrad.backends.jax import JaxOps

    jax = framework.jax
    ops = JaxOps(jax.devices()[0])
    try:
        jax.jit(lambda: ops.from_host(np.ones(2)))()
    except jax.errors.ConcretizationTypeError:
        pytest.xfail("JaxOps.from_host fails inside jax.jit (.devices() on a tracer)")


def test_frameworks_match_the_reference(framework: Any, rng: np.random.Generator) -> None:
    require_constants_in_steps(framework)
    layers = [
        (rng.normal(size=(64, 16)) / 8.0, rng.normal(size=16) * 0.1),
        (rng.normal(size=(16, 3)), rng.normal(size=3) * 0.1),
    ]
    x = rng.uniform(size=(2, 8, 8))
    model = flat_model(framework, layers)
    result = blur_ig(model, framework.tensor(x, "float64"), target=[0, 2], max_sigma=6.0, steps=48)
    reference = blur_ig(FlatMLP(layers), x, target=[0, 2], max_sigma=6.0, steps=48, backend="numpy")
    np.testing.assert_allclose(
        framework.numpy(result.attributions), reference.attributions, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(result.f_baseline, reference.f_baseline, rtol=1e-10)
    assert result.relative_delta.max() < 1e-4
