"""Extra model arguments: which are taken per path row, which are passed whole, which are constants.

Captum's convention: ``additional_forward_args`` is a tuple of positional arguments after the
inputs, or one argument that is not a tuple (a list is *one* argument). Arrays whose first axis
has one entry per example follow their example along the path; other arrays are passed whole;
everything else (numbers, strings, ``None``, lists, dicts, objects) is a constant of the call.

Arrays are the backend's own tensors and numeric NumPy arrays: both travel as arguments of a
compiled step, never as constants baked into it, so a session reuses its step whatever their
values. A compiled step's key holds the constants *by value* (lists, tuples, dicts and sets
frozen recursively), never by the ``id()`` of a per-call object.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ArgumentLayout", "as_argument_tuple", "frozen_constant", "is_host_array"]

ROW, FIXED, CONSTANT = "row", "fixed", "constant"

# NumPy dtype kinds a framework takes as a tensor: bool, integers, floats, complex.
_NUMERIC_KINDS = frozenset("biufc")


def as_argument_tuple(value: Any) -> tuple[Any, ...]:
    """``additional_forward_args`` as a tuple: ``None`` → (), a tuple as is, else ``(value,)``."""
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def is_host_array(value: object) -> bool:
    """Whether ``value`` is a NumPy array a framework takes as a tensor (a numeric dtype)."""
    return isinstance(value, np.ndarray) and value.dtype.kind in _NUMERIC_KINDS


def frozen_constant(value: object) -> Hashable:
    """``value`` as a hashable key equal for equal values: containers frozen recursively.

    Lists, tuples, dicts, sets and non-numeric NumPy arrays become tuples of their frozen
    items (with their type, so ``[1]`` and ``(1,)`` differ); a hashable value is kept with its
    type (``1`` and ``1.0`` and ``True`` differ). Raises ``TypeError`` for anything else that
    cannot be hashed (a framework tensor inside a list, say): a key by ``id()`` would make a
    reused session compile again on every call and keep each call's object alive.
    """
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(frozen_constant(item) for item in value))
    if isinstance(value, dict):
        items = tuple((frozen_constant(k), frozen_constant(v)) for k, v in value.items())
        return (type(value), items)
    if isinstance(value, (set, frozenset)):
        return (type(value), frozenset(frozen_constant(item) for item in value))
    if isinstance(value, np.ndarray):
        return (np.ndarray, value.dtype.str, value.shape, frozen_constant(value.tolist()))
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"a {type(value).__name__!r} object cannot be a constant of a compiled step (it "
            "cannot be compared by value); pass arrays as extra arguments of their own, as "
            "NumPy arrays or tensors of the inputs' framework"
        ) from None
    return (type(value), value)


@dataclass(frozen=True)
class ArgumentLayout:
    """Where each extra argument goes, and the constants among them.

    Attributes:
        kinds: per argument, ``"row"`` (an array taken per row), ``"fixed"`` (an array passed
            whole) or ``"constant"``.
        constants: per argument, its value when a constant, else ``None``.
        host: per argument, whether it is a NumPy array (not a native tensor) that travels as
            an array: a backend that converts it to a tensor may match its dtype to the path's,
            as the framework's own conversion of a NumPy operand would.
    """

    kinds: tuple[str, ...]
    constants: tuple[Any, ...]
    host: tuple[bool, ...] = ()

    @staticmethod
    def split(
        args: Sequence[Any], is_array: Callable[[object], bool], num_examples: int
    ) -> tuple[ArgumentLayout, tuple[Any, ...], tuple[Any, ...]]:
        """The layout of ``args`` and its per-row and whole arrays, in argument order.

        An array is one that ``is_array`` (the backend's native tensor test) accepts, or a
        numeric NumPy array; per-row when its first axis has ``num_examples`` entries.
        """
        kinds: list[str] = []
        constants: list[Any] = []
        host: list[bool] = []
        rows: list[Any] = []
        fixed: list[Any] = []
        for arg in args:
            native = is_array(arg)
            from_host = not native and is_host_array(arg)
            host.append(from_host)
            if not (native or from_host):
                kinds.append(CONSTANT)
                constants.append(arg)
                continue
            constants.append(None)
            if len(arg.shape) > 0 and int(arg.shape[0]) == num_examples:
                kinds.append(ROW)
                rows.append(arg)
            else:
                kinds.append(FIXED)
                fixed.append(arg)
        layout = ArgumentLayout(tuple(kinds), tuple(constants), tuple(host))
        return layout, tuple(rows), tuple(fixed)

    @property
    def key(self) -> Hashable:
        """Equal for layouts that make the same program: the kinds, and the constants by value.

        Raises:
            TypeError: a constant cannot be compared by value (see :func:`frozen_constant`).
        """
        frozen: list[Hashable] = []
        for position, (kind, constant) in enumerate(zip(self.kinds, self.constants, strict=True)):
            if kind != CONSTANT:
                frozen.append(None)
                continue
            try:
                frozen.append(frozen_constant(constant))
            except TypeError as error:
                raise TypeError(f"additional_forward_args[{position}]: {error}") from None
        return (self.kinds, self.host, tuple(frozen))

    @property
    def fixed_count(self) -> int:
        return self.kinds.count(FIXED)

    def join(self, row_values: Sequence[Any], fixed_values: Sequence[Any]) -> tuple[Any, ...]:
        """The arguments again, with per-row and whole arrays in their places."""
        rows, fixed = iter(row_values), iter(fixed_values)
        joined = []
        for kind, constant in zip(self.kinds, self.constants, strict=True):
            if kind == ROW:
                joined.append(next(rows))
            elif kind == FIXED:
                joined.append(next(fixed))
            else:
                joined.append(constant)
        return tuple(joined)
