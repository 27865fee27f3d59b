"""Extra model arguments: which are taken per path row, which are passed whole, which are constants.

Captum's convention: ``additional_forward_args`` is a tuple of positional arguments after the
inputs, or one argument that is not a tuple (a list is *one* argument). Arrays whose first axis
has one entry per example follow their example along the path; other arrays are passed whole;
everything else (numbers, strings, ``None``, objects) is a constant of the call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ArgumentLayout", "as_argument_tuple"]

ROW, FIXED, CONSTANT = "row", "fixed", "constant"


def as_argument_tuple(value: Any) -> tuple[Any, ...]:
    """``additional_forward_args`` as a tuple: ``None`` → (), a tuple as is, else ``(value,)``."""
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def _constant_key(value: object) -> Hashable:
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return ("value", type(value).__name__, value)


@dataclass(frozen=True)
class ArgumentLayout:
    """Where each extra argument goes, and the constants among them.

    Attributes:
        kinds: per argument, ``"row"`` (an array taken per row), ``"fixed"`` (an array passed
            whole) or ``"constant"``.
        constants: per argument, its value when a constant, else ``None``.
    """

    kinds: tuple[str, ...]
    constants: tuple[Any, ...]

    @staticmethod
    def split(
        args: Sequence[Any], is_array: Callable[[object], bool], num_examples: int
    ) -> tuple[ArgumentLayout, tuple[Any, ...], tuple[Any, ...]]:
        """The layout of ``args`` and its per-row and whole arrays, in argument order."""
        kinds: list[str] = []
        constants: list[Any] = []
        rows: list[Any] = []
        fixed: list[Any] = []
        for arg in args:
            if is_array(arg) and len(arg.shape) > 0 and int(arg.shape[0]) == num_examples:
                kinds.append(ROW)
                rows.append(arg)
                constants.append(None)
            elif is_array(arg):
                kinds.append(FIXED)
                fixed.append(arg)
                constants.append(None)
            else:
                kinds.append(CONSTANT)
                constants.append(arg)
        return ArgumentLayout(tuple(kinds), tuple(constants)), tuple(rows), tuple(fixed)

    @property
    def key(self) -> Hashable:
        """Equal for layouts that make the same program (constants by value where hashable)."""
        return (self.kinds, tuple(_constant_key(c) for c in self.constants))

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
