"""The contract between the framework-free core and a framework backend.

The core plans *which* points to evaluate — rows of (example, start, α, weight), as NumPy
arrays — and runs the one chunk step of ``loop.py`` on the backend's array primitives
(``primitives.py``), without moving tensors to the host per chunk. A backend supplies only those
primitives, the model guard, and a :class:`Program`: how its framework's model (or a layer of
it) is called at path points.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from intgrad._core.arguments import ArgumentLayout
from intgrad._core.baselines import BaselineRule
from intgrad._core.primitives import ArrayOps

__all__ = [
    "AUTOCAST_DTYPES",
    "COMPILE_MODES",
    "Acceleration",
    "Backend",
    "CallArrays",
    "Program",
    "Rows",
]

AUTOCAST_DTYPES = ("bfloat16", "float16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


class Rows(NamedTuple):
    """A set of path points, one per row: which example and start, where on the path, what weight.

    Attributes:
        example_index: shape (rows,), int64, the example (index into the batch) of each row.
        alphas: shape (rows,), float64, the path position in [0, 1].
        weights: shape (rows,), float64, the quadrature weight (0 for rows only evaluated).
        start_index: shape (rows,), int64, the start point of each row: baseline ``k`` of
            example ``e`` is start ``k · examples + e``.
    """

    example_index: np.ndarray
    alphas: np.ndarray
    weights: np.ndarray
    start_index: np.ndarray

    def __len__(self) -> int:
        return int(self.example_index.shape[0])

    def slice(self, start: int, stop: int) -> Rows:
        """The rows ``start:stop``."""
        return Rows(*(column[start:stop] for column in self))

    def padded(self, size: int) -> Rows:
        """These rows, then rows up to ``size`` that repeat the last one with weight 0.

        For compiled steps that take chunks of one fixed size. Padding rows sit at a point of
        the path already evaluated, so their gradients are as finite as the real rows', and
        their weight 0 adds nothing.
        """
        missing = size - len(self)
        if missing <= 0:
            return self
        last = slice(len(self) - 1, len(self))
        return Rows(
            example_index=np.concatenate(
                [self.example_index, np.repeat(self.example_index[last], missing)]
            ),
            alphas=np.concatenate([self.alphas, np.repeat(self.alphas[last], missing)]),
            weights=np.concatenate([self.weights, np.zeros(missing)]),
            start_index=np.concatenate(
                [self.start_index, np.repeat(self.start_index[last], missing)]
            ),
        )

    @staticmethod
    def concat(parts: Sequence[Rows]) -> Rows:
        """The rows of ``parts`` one after the other."""
        return Rows(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))


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

    def prepare_inputs(self, inputs: Sequence[Any], allow_integer: bool = False) -> tuple[Any, ...]:
        """Convert inputs to native tensors; ``TypeError`` unless floating (or integer, when
        ``allow_integer``: token ids under layer attribution)."""
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

    def ops(self, inputs: tuple[Any, ...]) -> ArrayOps:
        """The array primitives the core's step and loop run on, on the inputs' device."""
        ...

    def program(self, model_fn: Callable[..., Any], layout: ArgumentLayout) -> Program:
        """How to evaluate the model at points of its inputs (``layout``: the extra arguments)."""
        ...

    def layer_program(
        self,
        model_fn: Callable[..., Any],
        layer: object,
        to_layer_input: bool,
        layout: ArgumentLayout,
        extras: tuple[Any, ...],
        inputs: tuple[Any, ...],
        baseline_inputs: Sequence[tuple[Any, ...]],
    ) -> LayerBinding:
        """How to evaluate the model at points of a layer's activations, and the activations.

        Args:
            model_fn: the guarded model.
            layer: the framework's layer handle(s) (a module, a Keras layer, a pair
                ``(embed_fn, head_fn)``, or a tuple of modules).
            to_layer_input: attribute to the layer's input rather than its output.
            layout: how the extra arguments are split into arrays and constants.
            extras: the extra arguments themselves.
            inputs: the prepared model inputs, shape (examples, ...) each.
            baseline_inputs: per baseline, the model inputs at that baseline (empty when the
                baselines are given as activations).
        """
        ...


class Program(Protocol):
    """The static part of a call: how the model's raw outputs are computed at path points."""

    key: Hashable | None
    """Identifies the program's static content, for caching compiled steps on a session;
    ``None`` for eager backends, which have nothing compiled to keep."""

    fixed: tuple[Any, ...]
    """Arrays passed whole to every call (model parameters, extra arguments that are not per
    example); arguments of the compiled step rather than constants baked into it."""

    def outputs(
        self, points: tuple[Any, ...], row_args: tuple[Any, ...], fixed: tuple[Any, ...]
    ) -> Any:
        """The model's raw outputs at ``points`` (rows, ...).

        Args:
            points: the path points, one array of shape (rows, ...) per path tensor.
            row_args: the per-example arrays of :class:`CallArrays`, taken for each row.
            fixed: :attr:`fixed`, as passed through the compiled step.
        """
        ...


class LayerBinding(NamedTuple):
    """A layer program and the activations at the two ends of the path.

    Attributes:
        program: evaluates the model with the layer's activations replaced by the points.
        ends: one array per layer tensor, shape (examples, ...): activations at the inputs.
        starts: per baseline, one array per layer tensor: activations at that baseline.
        row_args: per-example arrays the program needs besides the extra arguments (for
            example the model inputs, when the model runs from its inputs with a hook).
    """

    program: Program
    ends: tuple[Any, ...]
    starts: list[tuple[Any, ...]]
    row_args: tuple[Any, ...]


class CallArrays(NamedTuple):
    """Every array of one call, passed as arguments through the compiled step.

    Attributes:
        ends: the path's end points, one array per path tensor, shape (examples, ...).
        starts: the path's start points, one array per path tensor, shape (starts, ...).
        targets: one int array of shape (examples,) per index of the selected output, or
            empty for models with a single output per example.
        row_args: per-example arrays (examples, ...) taken for each row: the layer
            program's own, then the per-example extra arguments.
        fixed: the program's :attr:`Program.fixed` arrays.
        start_owner: int array of shape (starts,): the example of each start point.
    """

    ends: tuple[Any, ...]
    starts: tuple[Any, ...]
    targets: tuple[Any, ...]
    row_args: tuple[Any, ...]
    fixed: tuple[Any, ...]
    start_owner: Any
