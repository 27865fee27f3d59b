"""Baselines x′: the reference inputs whose attribution is defined to be zero.

A baseline specification is resolved into one or more *baseline rules*. Constant rules are filled
in natively by a backend (no host round trip); the random and blurred rules are drawn on the host
with NumPy from the input's values and a seed, once per call, so they are reproducible and
identical across frameworks.

References:
    Sundararajan, Taly & Yan (2017), §3 (choice of baseline).
    Sturmfels, Lundberg & Lee (2020), "Visualizing the Impact of Feature Attribution Baselines",
    Distill (uniform, Gaussian and blurred baselines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BASELINE_NAMES",
    "BaselineRule",
    "BlurBaseline",
    "ConstantBaseline",
    "ExplicitBaseline",
    "GaussianBaseline",
    "UniformBaseline",
    "check_broadcastable",
    "gaussian_blur",
    "resolve_baselines",
]


@dataclass(frozen=True)
class ConstantBaseline:
    """Every feature set to ``value`` (0 is the black image, 1 the white one)."""

    value: float = 0.0
    name: str = "constant"

    def describe(self) -> str:
        return self.name if self.name in ("black", "white") else f"constant({self.value:g})"


@dataclass(frozen=True)
class UniformBaseline:
    """Independent uniform noise in [low, high), drawn from ``seed``."""

    low: float = 0.0
    high: float = 1.0
    seed: int | None = None

    def describe(self) -> str:
        return f"uniform({self.low:g}, {self.high:g}, seed={self.seed})"

    def sample(self, inputs: np.ndarray) -> np.ndarray:
        """Return noise of the shape of ``inputs`` (any shape), float64."""
        rng = np.random.default_rng(self.seed)
        return rng.uniform(self.low, self.high, size=inputs.shape)


@dataclass(frozen=True)
class GaussianBaseline:
    """The input plus Gaussian noise of standard deviation ``sigma`` (input units).

    ``clip`` optionally bounds the result, e.g. ``(0.0, 1.0)`` for images in [0, 1].
    """

    sigma: float = 0.1
    seed: int | None = None
    clip: tuple[float, float] | None = None

    def describe(self) -> str:
        return f"gaussian(sigma={self.sigma:g}, seed={self.seed})"

    def sample(self, inputs: np.ndarray) -> np.ndarray:
        """Return ``inputs`` + noise, float64, same shape."""
        rng = np.random.default_rng(self.seed)
        noisy = inputs + rng.normal(0.0, self.sigma, size=inputs.shape)
        return noisy if self.clip is None else np.clip(noisy, *self.clip)


@dataclass(frozen=True)
class BlurBaseline:
    """The input blurred by a Gaussian of standard deviation ``sigma`` (in samples/pixels).

    ``axes`` are the axes to blur, counted on the batched input. By default: for a 4-D input
    the two spatial axes (channels-first when axis 1 has at most 4 entries, otherwise
    channels-last); for other ranks every axis but the batch axis.
    """

    sigma: float = 5.0
    axes: tuple[int, ...] | None = None

    def describe(self) -> str:
        return f"blur(sigma={self.sigma:g})"

    def sample(self, inputs: np.ndarray) -> np.ndarray:
        """Return the blurred ``inputs``, float64, same shape."""
        return gaussian_blur(inputs, self.sigma, self.blur_axes(inputs.shape))

    def blur_axes(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.axes is not None:
            return tuple(axis % len(shape) for axis in self.axes)
        if len(shape) == 4:
            return (2, 3) if shape[1] <= 4 else (1, 2)
        return tuple(range(1, len(shape)))


@dataclass(frozen=True)
class ExplicitBaseline:
    """A user-given array or tensor that broadcasts to the input's shape."""

    value: object

    def describe(self) -> str:
        shape = getattr(self.value, "shape", None)
        return "explicit" if shape is None else f"explicit{tuple(shape)}"


BaselineRule = (
    ConstantBaseline | UniformBaseline | GaussianBaseline | BlurBaseline | ExplicitBaseline
)
"""A single resolved baseline for one input."""

BASELINE_NAMES: tuple[str, ...] = ("black", "zeros", "white", "uniform", "gaussian", "blur")
"""Baselines that may be named by a string."""


def check_broadcastable(shape: tuple[int, ...], input_shape: tuple[int, ...]) -> None:
    """``ValueError`` unless a baseline of ``shape`` broadcasts to exactly ``input_shape``."""
    try:
        broadcast = np.broadcast_shapes(shape, input_shape)
    except ValueError:
        broadcast = None
    if broadcast != input_shape:
        raise ValueError(
            f"baseline of shape {shape} does not broadcast to the input's shape {input_shape}"
        )


def gaussian_blur(values: np.ndarray, sigma: float, axes: Sequence[int]) -> np.ndarray:
    """Blur ``values`` along ``axes`` with a Gaussian of standard deviation ``sigma`` samples.

    Separable convolution with a kernel truncated at 3 sigma and reflected borders, float64.
    """
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0, got {sigma}")
    result = np.asarray(values, dtype=np.float64)
    if sigma == 0:
        return result.copy()
    radius = max(1, int(3.0 * sigma + 0.5))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in axes:
        result = _convolve_axis(result, kernel, radius, axis)
    return result


def _convolve_axis(values: np.ndarray, kernel: np.ndarray, radius: int, axis: int) -> np.ndarray:
    moved = np.moveaxis(values, axis, -1)
    pad = [(0, 0)] * (moved.ndim - 1) + [(radius, radius)]
    # "symmetric" repeats the edge sample, so a constant image stays constant.
    padded = np.pad(moved, pad, mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.size, axis=-1)
    length = moved.shape[-1]
    return np.moveaxis(windows[..., :length, :] @ kernel, -1, axis)


def _rule_from_name(name: str, seed: int | None) -> BaselineRule:
    lowered = name.lower()
    if lowered in ("black", "zeros", "zero"):
        return ConstantBaseline(0.0, "black")
    if lowered in ("white", "ones"):
        return ConstantBaseline(1.0, "white")
    if lowered == "uniform":
        return UniformBaseline(seed=seed)
    if lowered == "gaussian":
        return GaussianBaseline(seed=seed)
    if lowered == "blur":
        return BlurBaseline()
    raise ValueError(
        f"baselines must be one of {', '.join(BASELINE_NAMES)}, a number, an array "
        f"or a list of these; got {name!r}"
    )


def _resolve_one(spec: object, seed: int | None) -> BaselineRule:
    if spec is None:
        return ConstantBaseline(0.0, "black")
    if isinstance(spec, str):
        return _rule_from_name(spec, seed)
    if isinstance(spec, bool):
        raise TypeError("baselines must be a name, a number or an array, got a bool")
    if isinstance(spec, (int, float, np.integer, np.floating)):
        return ConstantBaseline(float(spec))
    if isinstance(spec, (ConstantBaseline, UniformBaseline, GaussianBaseline, BlurBaseline)):
        return spec
    if isinstance(spec, ExplicitBaseline):
        return spec
    return ExplicitBaseline(spec)


def resolve_baselines(
    spec: object, num_inputs: int, seed: int | None = None
) -> list[tuple[BaselineRule, ...]]:
    """Turn a user's ``baselines`` argument into rules: one tuple (a rule per input) per baseline.

    Conventions (Captum's, extended): a name, number, rule or array applies to every input;
    a *tuple* gives one baseline per input (its length must equal ``num_inputs``); a *list*
    gives several baselines whose attributions are averaged, each element itself a single spec
    or a per-input tuple.

    Args:
        spec: the ``baselines`` argument.
        num_inputs: how many input tensors the model takes.
        seed: default seed for the named random baselines ("uniform", "gaussian").

    Returns:
        A non-empty list; entry ``k`` holds the rules of baseline ``k`` for each input.
    """
    specs = spec if isinstance(spec, list) else [spec]
    if not specs:
        raise ValueError("baselines must not be an empty list")
    resolved = []
    for one in specs:
        if isinstance(one, tuple):
            if len(one) != num_inputs:
                raise ValueError(
                    f"baselines tuple has {len(one)} entries but the model takes {num_inputs} "
                    "inputs; give one baseline per input"
                )
            resolved.append(tuple(_resolve_one(item, seed) for item in one))
        else:
            rule = _resolve_one(one, seed)
            resolved.append((rule,) * num_inputs)
    return resolved
