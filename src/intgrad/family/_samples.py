"""Monte Carlo samples of a batch: E examples repeated K times, and results reduced back.

Expected Gradients and the noise tunnel both run the engine once on an *expanded* batch of
K·E rows, sample-major: row ``k · E + e`` is sample ``k`` of example ``e``. What follows an
example along the path is expanded with it — the inputs, the per-example extra arguments
(tensors whose first axis has one entry per example, as :mod:`intgrad._core.arguments`
decides), the targets and per-example baselines — and the (K·E, ...) results are reduced back
to (E, ...) on the device with the backend's primitives (``take``, ``scatter_add``): the mean,
the mean of squares, the variance and the standard error of the mean.

The standard error is that of the *mean* over the K samples, ``std(ddof=1) / √K`` per feature:
the uncertainty of the returned attributions, not the spread of single samples (SHAP reports
the latter as if it were the former, shap#4842).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from intgrad._core.arguments import as_argument_tuple
from intgrad._core.backend import Backend
from intgrad._core.primitives import ArrayOps
from intgrad._core.result import Attribution
from intgrad._core.targets import normalise_targets

__all__ = [
    "Sampled",
    "Samples",
    "add_noise",
    "as_tuple",
    "check_samples",
    "check_stdevs",
    "expand",
    "expand_arguments",
    "expand_baselines",
    "expand_inputs",
    "expand_targets",
    "prepare_inputs",
    "reference_rows",
    "restructure",
    "sample_mean",
    "sample_mean_of_squares",
    "sample_variance",
    "standard_error",
    "take_rows",
]


@dataclass(frozen=True)
class Samples:
    """K samples of each of E examples, sample-major: row ``k · E + e`` is (sample k, example e).

    Attributes:
        samples: K, the samples per example.
        examples: E, the examples of the call.
    """

    samples: int
    examples: int

    @property
    def rows(self) -> int:
        """K·E, the rows of the expanded batch."""
        return self.samples * self.examples

    def owners(self) -> np.ndarray:
        """shape (K·E,), int64: the example of each row."""
        return np.tile(np.arange(self.examples, dtype=np.int64), self.samples)

    def by_sample(self, values: np.ndarray) -> np.ndarray:
        """Host values of shape (K·E, ...) as (K, E, ...)."""
        values = np.asarray(values)
        return values.reshape((self.samples, self.examples, *values.shape[1:]))

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Host values of shape (K·E, ...) averaged over the samples: shape (E, ...)."""
        return self.by_sample(values).mean(axis=0)

    def example_major(self, values: np.ndarray) -> np.ndarray:
        """Host values of shape (K·E,) reordered example-major (row ``e · K + k``), Captum's
        order for per-sample results."""
        return self.by_sample(values).T.reshape(-1)


class Sampled(NamedTuple):
    """A Monte Carlo method's result and what produced it.

    Attributes:
        result: the attributions reduced per example.
        rows: the engine's (or inner method's) result on the K·E expanded rows.
        samples: the expansion.
        ops: the backend's primitives, on the inputs' device.
    """

    result: Attribution
    rows: Attribution
    samples: Samples
    ops: ArrayOps


def check_samples(samples: object, name: str = "samples") -> int:
    """``samples`` as an int; ``TypeError`` unless an int, ``ValueError`` below 1."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {samples!r}")
    if samples < 1:
        raise ValueError(f"{name} must be >= 1, got {samples}")
    return int(samples)


def _check_stdev(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number or a tuple of numbers, got {value!r}")
    if not math.isfinite(float(value)) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return float(value)


def check_stdevs(stdevs: object, num_inputs: int, name: str = "stdevs") -> tuple[float, ...]:
    """One noise level per input: a number for every input, or a tuple with one per input."""
    if isinstance(stdevs, (tuple, list)):
        if len(stdevs) != num_inputs:
            raise ValueError(
                f"{name} has {len(stdevs)} entries but there are {num_inputs} inputs; "
                "give one per input or a single number"
            )
        return tuple(_check_stdev(s, name) for s in stdevs)
    return (_check_stdev(stdevs, name),) * num_inputs


def as_tuple(values: Any) -> tuple[Any, ...]:
    """A tensor or a tuple of tensors as a tuple."""
    return tuple(values) if isinstance(values, (tuple, list)) else (values,)


def restructure(values: Sequence[Any], single: bool) -> Any:
    """``values`` as a single tensor when ``single``, else as a tuple."""
    return values[0] if single else tuple(values)


def prepare_inputs(
    backend: Backend, inputs: Sequence[Any], allow_integer: bool, noisy: bool
) -> tuple[Any, ...]:
    """The backend's inputs; integers only where ``allow_integer`` (token ids under a layer),
    and never with noise, which only floating-point inputs can take."""
    prepared = backend.prepare_inputs(inputs, allow_integer=allow_integer)
    for position, x in enumerate(prepared):
        dtype = str(getattr(x, "dtype", ""))
        if noisy and "float" not in dtype:
            raise TypeError(
                f"inputs[{position}] must be floating point to take noise, got {dtype}; "
                "pass a stdev of 0 for it"
            )
    return prepared


def _index(ops: ArrayOps, index: np.ndarray) -> Any:
    # int32: every framework gathers with it, and JAX has no int64 without x64.
    return ops.from_host(np.asarray(index, dtype=np.int32))


def take_rows(ops: ArrayOps, values: Sequence[Any], index: np.ndarray) -> tuple[Any, ...]:
    """Rows ``index`` (host ints) of each array, gathered on the device."""
    device_index = _index(ops, index)
    return tuple(ops.take(v, device_index) for v in values)


def expand(ops: ArrayOps, values: Any, samples: Samples) -> Any:
    """An array of shape (E, ...) as (K·E, ...), sample-major."""
    return ops.take(values, _index(ops, samples.owners()))


def expand_inputs(ops: ArrayOps, inputs: Sequence[Any], samples: Samples) -> tuple[Any, ...]:
    """Each input of shape (E, ...) as (K·E, ...)."""
    return take_rows(ops, inputs, samples.owners())


def _per_example(value: object, is_native: Callable[[object], bool], examples: int) -> bool:
    shape: tuple[Any, ...] = tuple(getattr(value, "shape", ()))
    return is_native(value) and len(shape) > 0 and int(shape[0]) == examples


def expand_arguments(
    arguments: Any, is_native: Callable[[object], bool], ops: ArrayOps, samples: Samples
) -> Any:
    """``additional_forward_args`` with every per-example tensor expanded to K·E rows.

    The form is kept: ``None``, a tuple of arguments, or one argument. A tensor is per example
    when its first axis has E entries — the engine's own rule — and is otherwise passed whole.
    """
    if arguments is None:
        return None
    expanded = tuple(
        expand(ops, a, samples) if _per_example(a, is_native, samples.examples) else a
        for a in as_argument_tuple(arguments)
    )
    return expanded if isinstance(arguments, tuple) else expanded[0]


def expand_targets(
    target: object, samples: Samples, to_numpy: Callable[[object], np.ndarray]
) -> list[Any] | None:
    """``target`` (any form of :mod:`intgrad._core.targets`) as a list of one int (or one
    tuple of ints) per expanded row; ``None`` stays ``None``."""
    columns = normalise_targets(target, samples.examples, to_numpy)
    if not columns:
        return None
    tiled = [np.tile(c, samples.samples) for c in columns]
    if len(tiled) == 1:
        return [int(v) for v in tiled[0]]
    return [tuple(int(c[r]) for c in tiled) for r in range(samples.rows)]


def _expand_baseline(
    value: object,
    like: Any,
    is_native: Callable[[object], bool],
    ops: ArrayOps,
    samples: Samples,
) -> object:
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) != len(like.shape) or int(shape[0]) != samples.examples:
        return value  # broadcasts to every row as it is
    if is_native(value):
        return expand(ops, value, samples)
    if isinstance(value, np.ndarray):
        return value[samples.owners()]
    return value


def expand_baselines(
    spec: object,
    inputs: Sequence[Any],
    is_native: Callable[[object], bool],
    ops: ArrayOps,
    samples: Samples,
) -> object:
    """A ``baselines`` argument with every per-example array (shape (E, ...), of the input's
    rank) expanded to K·E rows; names, numbers and broadcasting arrays are kept.

    Forms as :func:`intgrad._core.baselines.resolve_baselines`: one spec for every input, a
    tuple with one per input, or a list of these.
    """
    if isinstance(spec, list):
        return [expand_baselines(one, inputs, is_native, ops, samples) for one in spec]
    if isinstance(spec, tuple):
        if len(spec) != len(inputs):
            return spec  # the engine refuses it with its own message
        return tuple(
            _expand_baseline(one, x, is_native, ops, samples)
            for one, x in zip(spec, inputs, strict=True)
        )
    if len(inputs) == 1:
        return _expand_baseline(spec, inputs[0], is_native, ops, samples)
    return spec


def add_noise(
    ops: ArrayOps,
    expanded: Sequence[Any],
    scales: Sequence[np.ndarray],
    rng: np.random.Generator,
    samples: Samples,
) -> tuple[Any, ...]:
    """Each expanded input (K·E, ...) plus Gaussian noise, drawn on the host from ``rng``.

    Args:
        ops: the backend's primitives.
        expanded: the expanded inputs, shape (K·E, ...) each.
        scales: per input, shape (E,), the noise's standard deviation for each example;
            an input whose scales are all 0 gets no noise (and draws nothing from ``rng``).
        rng: the call's generator; noise of input ``i`` is drawn after that of input ``i − 1``.
        samples: the expansion.
    """
    noisy = []
    for x, scale in zip(expanded, scales, strict=True):
        if not np.any(scale):
            noisy.append(x)
            continue
        rest = tuple(ops.shape(x)[1:])
        draws = rng.standard_normal((samples.samples, samples.examples, *rest))
        noise = draws * np.asarray(scale, np.float64).reshape((1, -1) + (1,) * len(rest))
        noisy.append(x + ops.from_host(noise.reshape((samples.rows, *rest)), like=x))
    return tuple(noisy)


def reference_rows(
    backend: Backend, ops: ArrayOps, background: object, inputs: Sequence[Any], name: str
) -> tuple[tuple[Any, ...], int]:
    """A background of reference inputs as native arrays, one per input, and its row count.

    Args:
        backend: the inputs' backend.
        ops: its primitives.
        background: an array (N, ...) — of the inputs' framework or NumPy — per input, or a
            tuple with one per input, all with the same N ≥ 1 and the input's per-example shape.
        inputs: the prepared inputs, shape (E, ...) each.
        name: the argument's name, for messages.

    Raises:
        TypeError: not an array of the inputs' framework or NumPy.
        ValueError: the wrong number of arrays, the wrong shape, no rows, unequal row counts.
    """
    if background is None:
        raise ValueError(f"{name} is required: reference inputs of shape (rows, ...)")
    parts = as_tuple(background)
    if len(parts) != len(inputs):
        raise ValueError(
            f"{name} has {len(parts)} tensors but there are {len(inputs)} inputs; give one "
            "per input"
        )
    references = []
    for position, (part, x) in enumerate(zip(parts, inputs, strict=True)):
        if isinstance(part, np.ndarray) and not backend.is_native(part):
            part = ops.from_host(part, like=x)
        elif not backend.is_native(part):
            raise TypeError(
                f"{name}[{position}] must be a {backend.name} tensor or a NumPy array like "
                f"the inputs, got {type(part).__name__}"
            )
        shape, wanted = tuple(ops.shape(part)), tuple(ops.shape(x)[1:])
        if len(shape) != len(wanted) + 1 or shape[1:] != wanted:
            expected = "(rows, " + ", ".join(map(str, wanted)) + ")" if wanted else "(rows,)"
            raise ValueError(f"{name}[{position}] has shape {shape}; expected {expected}")
        if shape[0] == 0:
            raise ValueError(f"{name} must hold at least one row")
        references.append(part)
    counts = {int(ops.shape(r)[0]) for r in references}
    if len(counts) != 1:
        raise ValueError(f"{name} tensors must have the same number of rows, got {sorted(counts)}")
    return tuple(references), counts.pop()


def _sum_over_samples(ops: ArrayOps, values: Any, samples: Samples) -> Any:
    """Σ_k of rows (K·E, ...) per example: shape (E, ...), in the accumulation dtype."""
    first = ops.take(values, _index(ops, np.arange(samples.examples)))
    accumulator = ops.zeros(first)
    return ops.scatter_add(
        accumulator, _index(ops, samples.owners()), ops.cast(values, accumulator)
    )


def sample_mean(ops: ArrayOps, values: Any, samples: Samples) -> Any:
    """The mean over the samples of rows (K·E, ...): shape (E, ...), accumulation dtype."""
    return _sum_over_samples(ops, values, samples) * (1.0 / samples.samples)


def sample_mean_of_squares(ops: ArrayOps, values: Any, samples: Samples) -> Any:
    """The mean over the samples of the squared rows: shape (E, ...), accumulation dtype."""
    return sample_mean(ops, values * values, samples)


def sample_variance(ops: ArrayOps, values: Any, samples: Samples, ddof: int) -> Any:
    """The variance over the samples, Σ_k (v_k − v̄)² / (K − ddof): shape (E, ...).

    Two passes (the deviations from the mean), which keep float32 accurate where
    E[v²] − E[v]² would cancel. ``ddof`` must be below K.
    """
    mean = sample_mean(ops, values, samples)
    deviations = ops.cast(values, mean) - expand(ops, mean, samples)
    squares = _sum_over_samples(ops, deviations * deviations, samples)
    return squares * (1.0 / (samples.samples - ddof))


def standard_error(ops: ArrayOps, values: Any, samples: Samples) -> np.ndarray:
    """The standard error of the mean over the samples, ``std(ddof=1) / √K`` per feature.

    Returns:
        shape (E, ...), float64, on the host; NaN everywhere for a single sample (K = 1),
        where the spread of the samples is unknown.
    """
    if samples.samples == 1:
        return np.full((samples.examples, *ops.shape(values)[1:]), np.nan)
    variance = ops.to_host(sample_variance(ops, values, samples, ddof=1))
    return np.sqrt(np.maximum(variance, 0.0) / samples.samples)
