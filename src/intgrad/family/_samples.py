"""Monte Carlo samples of a batch: E examples repeated K times, run block by block.

Expected Gradients and the noise tunnel both attribute an *expanded* batch of K·E rows,
sample-major: row ``k · E + e`` is sample ``k`` of example ``e``. The rows are never held all
at once: they run in :class:`Block` s of at most ``batch_size`` rows (or the engine's default
chunk when it is ``None``). Each block expands what follows an example along the path — the
inputs, the per-example extra arguments (tensors whose first axis has one entry per example,
as :mod:`intgrad._core.arguments` decides), the targets and per-example baselines — adds its
noise (:class:`NoiseDraws`), runs the engine or the inner method, and folds the attributions
into :class:`SampleMoments`: running sums per example, on the host in float64. Memory holds
one block of rows and O(E) accumulators, whatever K; only per-row *scalars* (gaps, outputs,
the drawn reference rows and α) are kept for all K·E rows.

The standard error is that of the *mean* over the K samples, ``std(ddof=1) / √K`` per feature:
the uncertainty of the returned attributions, not the spread of single samples (SHAP reports
the latter as if it were the former, shap#4842).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from intgrad._core.arguments import as_argument_tuple, is_host_array
from intgrad._core.backend import Backend
from intgrad._core.chunks import balanced_chunk_rows, default_chunk_rows
from intgrad._core.primitives import ArrayOps
from intgrad._core.result import Attribution
from intgrad._core.session import _validate_batch_size
from intgrad._core.targets import normalise_targets

__all__ = [
    "Block",
    "BlockProgress",
    "NoiseDraws",
    "SampleMoments",
    "Sampled",
    "Samples",
    "as_tuple",
    "block_rows",
    "check_samples",
    "check_stdevs",
    "expand",
    "expand_arguments",
    "expand_baselines",
    "expand_inputs",
    "expand_targets",
    "join_rows",
    "prepare_inputs",
    "reference_rows",
    "restructure",
    "row_sums",
    "take_rows",
]


@dataclass(frozen=True)
class Block:
    """Rows ``[start, stop)`` of an expansion of ``examples`` examples, sample-major.

    Attributes:
        start: the first row, in [0, K·E).
        stop: one past the last row.
        examples: E, the examples of the call.
    """

    start: int
    stop: int
    examples: int

    @property
    def rows(self) -> int:
        """The rows of the block."""
        return self.stop - self.start

    @property
    def span(self) -> slice:
        """The block's rows as a slice of per-row arrays of length K·E."""
        return slice(self.start, self.stop)

    def owners(self) -> np.ndarray:
        """shape (rows,), int64: the example of each row."""
        return np.arange(self.start, self.stop, dtype=np.int64) % self.examples

    def first_samples(self) -> np.ndarray:
        """shape (≤ rows,), int64: the positions in the block of the rows of sample 0."""
        return np.flatnonzero(np.arange(self.start, self.stop) < self.examples)


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

    def blocks(self, most_rows: int) -> tuple[Block, ...]:
        """The K·E rows in as few blocks of at most ``most_rows`` as possible, sized evenly."""
        size = balanced_chunk_rows(most_rows, self.rows)
        return tuple(
            Block(start, min(start + size, self.rows), self.examples)
            for start in range(0, self.rows, size)
        )

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


RowGroup = Samples | Block
"""Anything with ``examples``, ``rows`` and ``owners()``: the whole expansion or one block."""


class Sampled(NamedTuple):
    """A Monte Carlo method's result and what produced it.

    Attributes:
        result: the attributions reduced per example.
        rows: the engine's (or inner method's) per-row results over the K·E rows, joined from
            the blocks (:func:`join_rows`), without their attributions (``None``).
        samples: the expansion.
        ops: the backend's primitives, on the inputs' device.
        row_sums: shape (K·E,), float64, the sum of each row's attributions as returned.
    """

    result: Attribution
    rows: Attribution
    samples: Samples
    ops: ArrayOps
    row_sums: np.ndarray


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


def block_rows(
    batch_size: object, samples: Samples, inputs: Sequence[Any], backend: Backend, ops: ArrayOps
) -> int:
    """The expanded rows per block: ``batch_size``, or — when it is ``None`` — the rows the
    engine would put in one chunk of the inputs' device (its input-element budget)."""
    bounded = _validate_batch_size(batch_size)
    if bounded is not None:
        return bounded
    features = sum(int(np.prod(ops.shape(x)[1:])) for x in inputs)
    return default_chunk_rows(features, samples.rows, backend.chunk_elements(tuple(inputs)))


def _index(ops: ArrayOps, index: np.ndarray) -> Any:
    # int32: every framework gathers with it, and JAX has no int64 without x64.
    return ops.from_host(np.asarray(index, dtype=np.int32))


def take_rows(ops: ArrayOps, values: Sequence[Any], index: np.ndarray) -> tuple[Any, ...]:
    """Rows ``index`` (host ints) of each array, gathered on the device."""
    device_index = _index(ops, index)
    return tuple(ops.take(v, device_index) for v in values)


def expand(ops: ArrayOps, values: Any, rows: RowGroup) -> Any:
    """An array of shape (E, ...) as the rows' (rows, ...): row r is ``values[owner of r]``."""
    return ops.take(values, _index(ops, rows.owners()))


def expand_inputs(ops: ArrayOps, inputs: Sequence[Any], rows: RowGroup) -> tuple[Any, ...]:
    """Each input of shape (E, ...) as the rows' (rows, ...)."""
    return take_rows(ops, inputs, rows.owners())


def _per_example(value: object, is_native: Callable[[object], bool], examples: int) -> bool:
    shape: tuple[Any, ...] = tuple(getattr(value, "shape", ()))
    arraylike = is_native(value) or is_host_array(value)
    return arraylike and len(shape) > 0 and int(shape[0]) == examples


def _expand_argument(ops: ArrayOps, value: Any, rows: RowGroup) -> Any:
    if is_host_array(value):  # a NumPy argument stays NumPy, as the engine passes it
        return value[np.asarray(rows.owners())]
    return expand(ops, value, rows)


def expand_arguments(
    arguments: Any, is_native: Callable[[object], bool], ops: ArrayOps, rows: RowGroup
) -> Any:
    """``additional_forward_args`` with every per-example tensor (or numeric NumPy array)
    expanded to the rows.

    The form is kept: ``None``, a tuple of arguments, or one argument. A tensor is per example
    when its first axis has E entries — the engine's own rule — and is otherwise passed whole.
    """
    if arguments is None:
        return None
    expanded = tuple(
        _expand_argument(ops, a, rows) if _per_example(a, is_native, rows.examples) else a
        for a in as_argument_tuple(arguments)
    )
    return expanded if isinstance(arguments, tuple) else expanded[0]


def expand_targets(
    target: object, rows: RowGroup, to_numpy: Callable[[object], np.ndarray]
) -> list[Any] | None:
    """``target`` (any form of :mod:`intgrad._core.targets`) as a list of one int (or one
    tuple of ints) per row; ``None`` stays ``None``."""
    columns = normalise_targets(target, rows.examples, to_numpy)
    if not columns:
        return None
    owners = rows.owners()
    taken = [np.asarray(c)[owners] for c in columns]
    if len(taken) == 1:
        return [int(v) for v in taken[0]]
    return [tuple(int(c[r]) for c in taken) for r in range(rows.rows)]


def _expand_baseline(
    value: object,
    like: Any,
    is_native: Callable[[object], bool],
    ops: ArrayOps,
    rows: RowGroup,
) -> object:
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) != len(like.shape) or int(shape[0]) != rows.examples:
        return value  # broadcasts to every row as it is
    if is_native(value):
        return expand(ops, value, rows)
    if isinstance(value, np.ndarray):
        return value[rows.owners()]
    return value


def expand_baselines(
    spec: object,
    inputs: Sequence[Any],
    is_native: Callable[[object], bool],
    ops: ArrayOps,
    rows: RowGroup,
) -> object:
    """A ``baselines`` argument with every per-example array (shape (E, ...), of the input's
    rank) expanded to the rows; names, numbers and broadcasting arrays are kept.

    Forms as :func:`intgrad._core.baselines.resolve_baselines`: one spec for every input, a
    tuple with one per input, or a list of these.
    """
    if isinstance(spec, list):
        return [expand_baselines(one, inputs, is_native, ops, rows) for one in spec]
    if isinstance(spec, tuple):
        if len(spec) != len(inputs):
            return spec  # the engine refuses it with its own message
        return tuple(
            _expand_baseline(one, x, is_native, ops, rows)
            for one, x in zip(spec, inputs, strict=True)
        )
    if len(inputs) == 1:
        return _expand_baseline(spec, inputs[0], is_native, ops, rows)
    return spec


def _skip_normals(rng: np.random.Generator, count: int) -> None:
    """Advance ``rng`` past ``count`` standard normals, a bounded piece at a time."""
    while count > 0:
        piece = min(count, 2**20)
        rng.standard_normal(piece)
        count -= piece


class NoiseDraws:
    """Gaussian noise for the expanded rows, drawn block by block.

    The draws are those of one standard-normal array of shape (K, E, ...) per input, input
    after input, from the call's generator — the same numbers however the rows are blocked. An
    input whose scales are all 0 gets no noise and draws nothing. With several blocks and
    several noisy inputs, input ``i``'s draws come from a copy of the generator advanced past
    the earlier inputs' (K·E·features normals, skipped a piece at a time), so the order holds
    without keeping any of them.

    Args:
        rng: the call's generator, positioned at the first noise draw.
        inputs: the prepared inputs, shape (E, ...) each.
        scales: per input, shape (E,), the noise's standard deviation for each example.
        samples: the expansion.
        blocked: whether the rows run in more than one block.
        ops: the backend's primitives.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        inputs: Sequence[Any],
        scales: Sequence[np.ndarray],
        samples: Samples,
        blocked: bool,
        ops: ArrayOps,
    ) -> None:
        self.scales = [np.asarray(s, np.float64).reshape(-1) for s in scales]
        self.generators: dict[int, np.random.Generator] = {}
        noisy = [i for i, s in enumerate(self.scales) if np.any(s)]
        cursor: np.random.Generator | None = None
        for order, position in enumerate(noisy):
            if order == 0 or not blocked:
                self.generators[position] = rng
                continue
            if cursor is None:
                cursor = copy.deepcopy(rng)
            before = noisy[order - 1]
            _skip_normals(cursor, samples.rows * int(np.prod(ops.shape(inputs[before])[1:])))
            self.generators[position] = copy.deepcopy(cursor)

    def add(self, ops: ArrayOps, expanded: Sequence[Any], block: Block) -> tuple[Any, ...]:
        """The block's expanded inputs, shape (rows, ...) each, plus their noise."""
        noisy = []
        for position, x in enumerate(expanded):
            generator = self.generators.get(position)
            if generator is None:
                noisy.append(x)
                continue
            rest = tuple(ops.shape(x)[1:])
            draws = generator.standard_normal((block.rows, *rest))
            scale = self.scales[position][block.owners()].reshape((-1,) + (1,) * len(rest))
            noisy.append(x + ops.from_host(draws * scale, like=x))
        return tuple(noisy)


class SampleMoments:
    """Running sums over the K samples of each example, fed one block of rows at a time.

    On the host in float64, of shape (E, ...) each: the sum (for the mean) and the sums of the
    deviations from each example's first sample and of their squares (for the variance; the
    shift by a sample keeps the difference of sums from cancelling). Rows are added in their
    order, so the results do not depend on how the rows are blocked.

    Args:
        samples: the expansion.
    """

    def __init__(self, samples: Samples) -> None:
        self.samples = samples
        self.total: np.ndarray | None = None
        self.shift = self.shifted = self.squares = np.zeros(0)

    def add(self, values: np.ndarray, block: Block) -> None:
        """Fold in a block's rows: host values of shape (rows, ...)."""
        values = np.asarray(values, dtype=np.float64)
        if self.total is None:
            shape = (self.samples.examples, *values.shape[1:])
            self.total, self.shift = np.zeros(shape), np.zeros(shape)
            self.shifted, self.squares = np.zeros(shape), np.zeros(shape)
        owners, first = block.owners(), block.first_samples()
        self.shift[owners[first]] = values[first]
        np.add.at(self.total, owners, values)
        deviations = values - self.shift[owners]
        np.add.at(self.shifted, owners, deviations)
        np.add.at(self.squares, owners, deviations * deviations)

    def mean(self) -> np.ndarray:
        """shape (E, ...), float64: the mean over the samples."""
        assert self.total is not None, "no rows were added"
        return self.total / self.samples.samples

    def variance(self, ddof: int) -> np.ndarray:
        """shape (E, ...), float64: Σ_k (v_k − v̄)² / (K − ddof); ``ddof`` must be below K."""
        count = self.samples.samples
        spread = self.squares - self.shifted * self.shifted / count
        return np.maximum(spread, 0.0) / (count - ddof)

    def standard_error(self) -> np.ndarray:
        """shape (E, ...), float64: ``std(ddof=1) / √K`` per feature; NaN everywhere for a
        single sample (K = 1), where the spread of the samples is unknown."""
        if self.samples.samples == 1:
            return np.full(self.mean().shape, np.nan)
        return np.sqrt(self.variance(ddof=1) / self.samples.samples)


class BlockProgress:
    """One ``progress(done, total)`` over all the blocks, from each block's own reports.

    The total is the work done before the block, the block's own total and, for the rows
    after it, the block's work per row: exact when every row costs the same.

    Args:
        report: the caller's callback, or ``None``.
        rows: K·E, the rows of the expansion.
    """

    def __init__(self, report: Callable[[int, int], None] | None, rows: int) -> None:
        self.report, self.rows, self.done = report, rows, 0

    def of(self, block: Block) -> Callable[[int, int], None] | None:
        """The callback to hand the block's run."""
        report = self.report
        if report is None:
            return None
        offset = self.done

        def block_progress(done: int, total: int) -> None:
            self.done = offset + done
            later = (total * (self.rows - block.stop)) // block.rows
            report(offset + done, offset + total + later)

        return block_progress


def row_sums(ops: ArrayOps, attributions: Any) -> np.ndarray:
    """shape (rows,), float64: each row's sum over every input's attributions."""
    parts = as_tuple(attributions)
    return np.asarray(np.sum([ops.to_host(ops.row_sums(a)) for a in parts], axis=0), np.float64)


def _joined(parts: Sequence[Attribution], name: str, axis: int = 0) -> np.ndarray | None:
    values = [getattr(part, name) for part in parts]
    if any(v is None for v in values):
        return None
    return np.concatenate([np.asarray(v) for v in values], axis=axis)


def join_rows(parts: Sequence[Attribution]) -> Attribution:
    """The blocks' results as one result over all their rows, without their attributions.

    Per-row fields are concatenated (``baseline_deltas`` along its rows axis), ``steps`` and
    ``forward_evaluations`` are the most of any block, and the descriptions are the first
    block's; ``attributions`` is ``None`` (the blocks' were folded into running sums).
    """
    first = parts[0]
    sums = _joined(parts, "attribution_sums")
    assert sums is not None
    return Attribution(
        attributions=None,
        delta=_joined(parts, "delta"),
        f_input=_joined(parts, "f_input"),
        f_baseline=_joined(parts, "f_baseline"),
        baseline_deltas=_joined(parts, "baseline_deltas", axis=1),
        attribution_sums=sums,
        steps=max(p.steps for p in parts),
        forward_evaluations=max(p.forward_evaluations for p in parts),
        method=first.method,
        target=_joined(parts, "target"),
        baselines=first.baselines,
        estimated_error=_joined(parts, "estimated_error"),
        steps_per_example=_joined(parts, "steps_per_example"),
        algorithm=first.algorithm,
    )


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
