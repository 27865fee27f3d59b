"""Layer attribution through a split model: ``model(x, *extra) = head(embed(x), *extra)``.

The path then lives in the space of ``embed``'s outputs: it ends at ``embed(x)`` and starts at
``embed(x′)`` (or at activations given directly), and F at a point a is ``head(a, *extra)``.
Inputs that are not on the path — attention masks, position ids, anything in the extra
arguments — are the same at both ends, so F at the path's start is exactly what the
completeness check subtracts (Captum evaluates its baseline end on the full baseline inputs
instead, captum#1413).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from intgrad._core.arguments import ArgumentLayout
from intgrad._core.backend import LayerBinding, Program


class _MakesPrograms(Protocol):
    def program(self, model_fn: Callable[..., Any], layout: ArgumentLayout) -> Program: ...


__all__ = ["is_layer_pair", "layer_pair", "split_binding"]


def _is_pair_part(part: object) -> bool:
    """A callable, or a pair ``(apply_fn, params)`` (how the JAX backend takes models)."""
    if isinstance(part, tuple):
        return len(part) == 2 and callable(part[0])
    return callable(part)


def is_layer_pair(layer: object) -> bool:
    """Whether ``layer`` is a pair ``(embed_fn, head_fn)`` of callables (or, for JAX, of
    ``(apply_fn, params)`` pairs)."""
    return (
        isinstance(layer, tuple)
        and len(layer) == 2
        and all(_is_pair_part(part) for part in layer)
        and not any(hasattr(part, "register_forward_hook") for part in layer)
    )


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def layer_pair(layer: object) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``layer`` as ``(embed_fn, head_fn)``; check with :func:`is_layer_pair` first."""
    return cast(tuple[Callable[..., Any], Callable[..., Any]], layer)


def split_binding(
    backend: _MakesPrograms,
    embed: Callable[..., Any],
    head: Callable[..., Any],
    layout: ArgumentLayout,
    inputs: tuple[Any, ...],
    baseline_inputs: Sequence[tuple[Any, ...]],
) -> LayerBinding:
    """The binding of a split model: ``head``'s program, ``embed`` at the inputs and baselines.

    Args:
        backend: the framework's backend (its ``program`` evaluates ``head``).
        embed: maps the model inputs to the activations (a tensor or a tuple of tensors).
        head: maps the activations, then the extra arguments, to the model's outputs.
        layout: the extra arguments' layout.
        inputs: the prepared model inputs.
        baseline_inputs: per baseline, the model inputs at the baseline.
    """
    ends = _as_tuple(embed(*inputs))
    starts = [_as_tuple(embed(*b)) for b in baseline_inputs]
    return LayerBinding(backend.program(head, layout), ends, starts, ())
