"""Baseline rules and the resolution of the ``baselines`` argument (NumPy only)."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad._core.baselines import (
    BlurBaseline,
    ConstantBaseline,
    ExplicitBaseline,
    GaussianBaseline,
    UniformBaseline,
    gaussian_blur,
    resolve_baselines,
)


def test_named_baselines() -> None:
    (black,) = resolve_baselines(None, 1)[0]
    assert black == ConstantBaseline(0.0, "black")
    assert resolve_baselines("zeros", 1)[0][0] == ConstantBaseline(0.0, "black")
    assert resolve_baselines("white", 1)[0][0] == ConstantBaseline(1.0, "white")
    assert resolve_baselines(255, 1)[0][0] == ConstantBaseline(255.0)
    assert resolve_baselines("uniform", 1, seed=3)[0][0] == UniformBaseline(seed=3)
    assert resolve_baselines("gaussian", 1, seed=4)[0][0] == GaussianBaseline(seed=4)
    assert resolve_baselines("blur", 1)[0][0] == BlurBaseline()


def test_tuple_is_per_input_and_list_is_several_baselines() -> None:
    per_input = resolve_baselines(("black", "white"), 2)
    assert per_input == [(ConstantBaseline(0.0, "black"), ConstantBaseline(1.0, "white"))]
    several = resolve_baselines(["black", "white"], 2)
    assert len(several) == 2 and several[1] == (ConstantBaseline(1.0, "white"),) * 2
    array = np.zeros(3)
    explicit = resolve_baselines(array, 1)[0][0]
    assert isinstance(explicit, ExplicitBaseline) and explicit.value is array


@pytest.mark.parametrize(
    ("spec", "num_inputs", "error", "message"),
    [
        ("purple", 1, ValueError, "baselines must be one of"),
        ([], 1, ValueError, "must not be an empty list"),
        (("black",), 2, ValueError, "tuple has 1 entries but the model takes 2"),
        (True, 1, TypeError, "got a bool"),
    ],
)
def test_resolution_errors(spec: object, num_inputs: int, error: type[Exception], message: str):
    with pytest.raises(error, match=message):
        resolve_baselines(spec, num_inputs)


def test_random_baselines_are_reproducible_from_the_seed() -> None:
    x = np.linspace(0, 1, 24).reshape(2, 3, 4)
    uniform = UniformBaseline(-1.0, 2.0, seed=7)
    np.testing.assert_array_equal(uniform.sample(x), uniform.sample(x))
    assert not np.array_equal(uniform.sample(x), UniformBaseline(-1.0, 2.0, seed=8).sample(x))
    drawn = uniform.sample(np.zeros((200, 50)))
    assert drawn.min() >= -1.0 and drawn.max() < 2.0
    assert drawn.mean() == pytest.approx(0.5, abs=0.02)
    noisy = GaussianBaseline(sigma=0.5, seed=1).sample(np.full((100, 100), 3.0))
    assert noisy.mean() == pytest.approx(3.0, abs=0.02)
    assert noisy.std() == pytest.approx(0.5, rel=0.02)
    clipped = GaussianBaseline(sigma=5.0, seed=1, clip=(0.0, 1.0)).sample(np.zeros((10, 10)))
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_blur_keeps_constants_and_mass_and_smooths_an_impulse() -> None:
    constant = np.full((1, 3, 16, 16), 0.25)
    np.testing.assert_allclose(BlurBaseline(sigma=2.0).sample(constant), constant, atol=1e-15)
    impulse = np.zeros((1, 33, 33, 3))
    impulse[0, 16, 16, :] = 1.0
    blurred = BlurBaseline(sigma=2.0).sample(impulse)  # channels-last: axes (1, 2)
    np.testing.assert_allclose(blurred.sum(axis=(1, 2)), 1.0, rtol=1e-12)
    assert blurred[0, 16, 16, 0] == pytest.approx(1 / (2 * np.pi * 4), rel=0.02)
    # Channels are not mixed and the result is symmetric.
    np.testing.assert_allclose(blurred[..., 0], blurred[..., 2])
    np.testing.assert_allclose(blurred[0, :, :, 0], blurred[0, :, :, 0].T, atol=1e-15)


def test_blur_axes_defaults() -> None:
    assert BlurBaseline().blur_axes((2, 3, 8, 8)) == (2, 3)
    assert BlurBaseline().blur_axes((2, 8, 8, 3)) == (1, 2)
    assert BlurBaseline().blur_axes((2, 10)) == (1,)
    assert BlurBaseline(axes=(-1,)).blur_axes((2, 5, 6)) == (2,)


def test_blur_sigma_zero_and_negative() -> None:
    x = np.arange(6.0).reshape(1, 6)
    np.testing.assert_array_equal(gaussian_blur(x, 0.0, (1,)), x)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        gaussian_blur(x, -1.0, (1,))


def test_descriptions() -> None:
    assert ConstantBaseline(0.0, "black").describe() == "black"
    assert ConstantBaseline(0.5).describe() == "constant(0.5)"
    assert UniformBaseline(seed=2).describe() == "uniform(0, 1, seed=2)"
    assert ExplicitBaseline(np.zeros((2, 3))).describe() == "explicit(2, 3)"
