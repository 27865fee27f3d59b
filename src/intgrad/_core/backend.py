"""The contract between the framework-free core and a framework backend.

The core plans *which* points of which example to evaluate and with what weight (as NumPy arrays
of a few numbers per row); a backend does the tensor work natively — interpolate, run the model,
take gradients of the selected output, accumulate — without moving tensors to the host per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from intgrad._core.baselines import BaselineRule

__all__ = [
    "AUTOCAST_DTYPES",
    "COMPILE_MODES",
    "Acceleration",
    "Backend",
    "ChunkRecord",
    "PathEvaluator",
    "Rows",
]

AUTOCAST_DTYPES = ("bfloat16", "float16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class Rows(NamedTuple):
    """A set of path points, one per row: which example, where on its path, with what weight.

    Attributes:
        example_index: shape (rows,), int64, the example (index into the batch) of each row.
        alphas: shape (rows,), float64, the path position in [0, 1].
        weights: shape (rows,), float64, the quadrature weight (0 for rows only evaluated).
    """

    example_index: np.ndarray
    alphas: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return int(self.example_index.shape[0])

    def slice(self, start: int, stop: int) -> Rows:
        """The rows ``start:stop``."""
        return Rows(
            self.example_index[start:stop], self.alphas[start:stop], self.weights[start:stop]
        )

    def padded(self, size: int, example_index: int | None = None) -> Rows:
        """These rows, then rows up to ``size`` that repeat the last one with weight 0.

        For compiled steps that take chunks of one fixed size. Padding rows sit at a point of
        the path already evaluated, so their gradients are as finite as the real rows'.

        Args:
            size: the rows wanted; nothing is added when there are that many already.
            example_index: the example index of the padding rows instead of the last row's
                (backends that drop rows of an out-of-range example pass the example count).
        """
        missing = size - len(self)
        if missing <= 0:
            return self
        last = slice(len(self) - 1, len(self))
        padding_index = (
            np.repeat(self.example_index[last], missing)
            if example_index is None
            else np.full(missing, example_index, dtype=self.example_index.dtype)
        )
        return Rows(
            example_index=np.concatenate([self.example_index, padding_index]),
            alphas=np.concatenate([self.alphas, np.repeat(self.alphas[last], missing)]),
            weights=np.concatenate([self.weights, np.zeros(missing)]),
        )


class ChunkRecord(NamedTuple):
    """Per-row values a backend reports when asked to record the path.

    Attributes:
        outputs: shape (rows,), float64, the selected output at each point.
        mean_gradients: shape (rows,), float64, the mean over all input features of the
            gradient at each point.
    """

    outputs: np.ndarray
    mean_gradients: np.ndarray


@dataclass(frozen=True)
class Acceleration:
    """Opt-in speed levers for one call; a backend without one refuses it (``ValueError``).

    Attributes:
        autocast: ``None`` (the model's own precision), ``"bfloat16"`` or ``"float16"``: run
            the model under the framework's mixed precision. Gradients still arrive in the
            inputs' dtype and are accumulated in at least float32.
        compile_model: ``False``, ``True`` or a compile mode from ``COMPILE_MODES``: compile
            the model (the framework keeps compiled code between calls) and feed it chunks of
            one fixed size, so that it is not recompiled per chunk.
        allow_tf32: let float32 convolutions and matrix products on a GPU use TF32 (faster
            on some models, less accurate); ``False`` computes them in full float32.
        channels_last: run a private channels-last copy of a convolutional model: ``None``
            decides (on for the CPU, where it was measured to pay), ``True`` forces it where
            the backend can, ``False`` always calls the model itself.
    """

    autocast: str | None = None
    compile_model: bool | str = False
    allow_tf32: bool = False
    channels_last: bool | None = None

    def checked(self) -> Acceleration:
        """Return self after validating the fields."""
        if self.autocast is not None and self.autocast not in AUTOCAST_DTYPES:
            raise ValueError(
                f"autocast must be None or one of {', '.join(AUTOCAST_DTYPES)}; "
                f"got {self.autocast!r}"
            )
        if not isinstance(self.allow_tf32, bool):
            raise TypeError(f"allow_tf32 must be a bool, got {self.allow_tf32!r}")
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise TypeError(f"channels_last must be None or a bool, got {self.channels_last!r}")
        if not isinstance(self.compile_model, bool) and self.compile_model not in COMPILE_MODES:
            raise ValueError(
                f"compile_model must be a bool or one of {', '.join(COMPILE_MODES)}; "
                f"got {self.compile_model!r}"
            )
        return self

    @property
    def requested(self) -> bool:
        """Whether any lever is on."""
        return (
            self.autocast is not None
            or self.compile_model is not False
            or self.allow_tf32
            or self.channels_last is True
        )


class PathEvaluator(Protocol):
    """Tensor work bound to one model, one batch of inputs, one baseline and the targets."""

    def zeros(self) -> Any:
        """A fresh accumulator (opaque to the core): weighted gradient sums, per input."""
        ...

    def accumulate(self, state: Any, rows: Rows, record: bool) -> tuple[Any, ChunkRecord | None]:
        """Add ``Σ weight · ∂F/∂x`` at the rows' points into ``state``; return the new state.

        With ``record=True`` also return the rows' outputs and mean gradients (this syncs with
        the device; without it nothing is copied to the host).
        """
        ...

    def forward(self, rows: Rows) -> np.ndarray:
        """The selected output at the rows' points, shape (rows,), float64 (no gradients)."""
        ...

    def combine(self, first: Any, first_scale: np.ndarray, second: Any, second_scale: Any) -> Any:
        """A new accumulator ``first_scale[e] · first + second_scale[e] · second`` per example.

        Scales have shape (examples,), float64. Used by the adaptive mode to reuse evaluations.
        """
        ...

    def measure(self, state: Any) -> tuple[np.ndarray, np.ndarray]:
        """Sum and L2 norm per example of the attributions ``state`` stands for.

        Returns:
            Two float64 arrays of shape (examples,): Σ state·(x − x′) and ‖state·(x − x′)‖₂,
            over all inputs together.
        """
        ...

    def finish(self, state: Any) -> tuple[tuple[Any, ...], np.ndarray]:
        """Scale the accumulated gradients by (x − x′).

        Returns:
            The attributions, one native tensor per input (shape and dtype of that input), and
            their sum per example, shape (examples,), float64.
        """
        ...


class Backend(Protocol):
    """One framework's handful of operations. Implementations live in ``intgrad.backends``."""

    name: str

    def is_native(self, value: object) -> bool:
        """Whether ``value`` is a tensor of this framework (checked without importing it)."""
        ...

    def accepts_model(self, model: object) -> bool:
        """Whether ``model`` is a model object of this framework."""
        ...

    def accelerated(self, acceleration: Acceleration) -> Backend:
        """This backend with the speed levers on; ``ValueError`` for a lever it lacks."""
        ...

    def chunk_elements(self, inputs: tuple[Any, ...]) -> int:
        """Input elements per chunk when the user gives no batch size, for the inputs' device."""
        ...

    def prepare_inputs(self, inputs: Sequence[Any]) -> tuple[Any, ...]:
        """Validate inputs (floating, same batch size) and convert arrays to native tensors."""
        ...

    def to_numpy(self, value: Any) -> np.ndarray:
        """Copy a native tensor (or anything array-like) to a NumPy array."""
        ...

    def make_baseline(self, rule: BaselineRule, inputs: Any) -> Any:
        """A native baseline of the shape, dtype and device of ``inputs`` for one rule."""
        ...

    def model_guard(
        self, model: Any, inputs: tuple[Any, ...]
    ) -> AbstractContextManager[Callable[..., Any]]:
        """Enter: prepare ``model`` for input gradients and yield the callable to evaluate.

        ``inputs`` are the prepared inputs (a backend may pick a memory layout from them).
        Exit: restore every piece of model state changed on entry, on success and on error.
        """
        ...

    def evaluator(
        self,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        baselines: tuple[Any, ...],
        targets: np.ndarray | None,
        output: str | Callable[[Any], Any] | None,
        additional_forward_args: tuple[Any, ...],
        chunk_rows: int,
    ) -> PathEvaluator:
        """Bind the tensor work of one call; ``chunk_rows`` is the largest chunk it will get."""
        ...

    def mean(self, attributions: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
        """The element-wise mean of several attribution tuples."""
        ...
