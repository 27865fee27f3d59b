"""What every metric shares: host copies of tensors, the scorer, attribution and target checks.

Metrics are written once, framework-free: inputs and attributions come to the host as NumPy
arrays, perturbed copies are made there, and each perturbation step goes back to the inputs'
framework for one batched :meth:`~intgrad.Explainer.evaluate` call (chunked by ``batch_size``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.arguments import as_argument_tuple
from intgrad._core.result import Attribution
from intgrad._core.session import Explainer
from intgrad._core.targets import normalise_targets

__all__ = [
    "HOST_BLOCK_ELEMENTS",
    "Scorer",
    "attribution_values",
    "check_count",
    "check_fraction",
    "check_real",
    "check_token_id",
    "explanation_values",
    "host",
    "make_scorer",
    "resolve_targets",
    "rows_per_block",
    "tile_arguments",
    "tile_targets",
    "to_framework",
    "trapezoid",
]

HOST_BLOCK_ELEMENTS = 1 << 24
"""The most input elements a block of perturbed copies holds on the host (128 MiB in float64)."""


def host(value: Any) -> np.ndarray:
    """A NumPy copy of a NumPy array or a PyTorch, TensorFlow or JAX tensor (any device)."""
    if isinstance(value, np.ndarray):
        return value
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor = tensor.float()
        return np.asarray(tensor.numpy())
    if hasattr(value, "numpy") and callable(value.numpy):
        return np.asarray(value.numpy())
    return np.asarray(value)


def to_framework(values: np.ndarray, like: Any) -> Any:
    """``values`` as a tensor of ``like``'s framework, dtype (floating) and device.

    NumPy ``like`` stays NumPy (the Explainer converts it as it converts the user's inputs).
    """
    if isinstance(like, np.ndarray) or not hasattr(like, "shape"):
        return values
    from intgrad.backends._registry import select_backend

    backend = select_backend(None, (like,))
    return backend.ops((like,)).from_host(values, like)


def rows_per_block(copies: int, examples: int, elements: int) -> int:
    """How many copies of all examples one host block holds (at least one)."""
    return max(1, min(copies, HOST_BLOCK_ELEMENTS // max(1, examples * elements)))


def check_count(name: str, value: object, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < least:
        raise ValueError(f"{name} must be >= {least}, got {value}")
    return int(value)


def check_fraction(name: str, value: object, *, closed_high: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    fraction = float(value)
    high_ok = fraction <= 1 if closed_high else fraction < 1
    if not (fraction >= 0 and high_ok):
        bound = "[0, 1]" if closed_high else "[0, 1)"
        raise ValueError(f"{name} must lie in {bound}, got {fraction}")
    return fraction


def check_real(name: str, inputs: np.ndarray) -> None:
    """``TypeError`` for integer inputs (token ids) where a metric adds real-valued noise."""
    if not np.issubdtype(inputs.dtype, np.floating):
        raise TypeError(f"{name} perturbs real-valued inputs; got {inputs.dtype} inputs")


def check_token_id(name: str, value: object) -> int:
    """``value`` as a token id (an int >= 0): what removed tokens become in id space."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a token id (an int), got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a token id >= 0, got {value}")
    return int(value)


def trapezoid(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The trapezoid rule along the last axis: shape (..., points) → (...)."""
    if points.size < 2:
        return np.zeros(values.shape[:-1])
    widths = np.diff(points)
    return ((values[..., 1:] + values[..., :-1]) * 0.5 * widths).sum(axis=-1)


def _single(value: Any, what: str) -> Any:
    if isinstance(value, (tuple, list)):
        raise ValueError(
            f"metrics take {what} of one input tensor; got a {type(value).__name__} of {len(value)}"
        )
    return value


def text_explanations(value: Any) -> list[Any] | None:
    """``value`` as a list of :class:`~intgrad.text.TextExplanation` objects, or ``None``."""
    module = sys.modules.get("intgrad.text.explanation")
    if module is None:  # not imported, so ``value`` cannot hold one
        return None
    kind = module.TextExplanation
    if isinstance(value, kind):
        return [value]
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, kind) for v in value):
        return list(value)
    return None


def explanation_values(explanations: list[Any], inputs: np.ndarray) -> np.ndarray:
    """Shape (texts, tokens), float64: each text's token attributions where its ids sit.

    Text i's ``token_ids`` must be the start (right padding) or the end (left padding) of
    row i of ``inputs`` (texts, tokens); positions outside it (padding) get 0. Ids are
    compared, never decoded.
    """
    if inputs.ndim != 2 or len(explanations) != inputs.shape[0]:
        raise ValueError(
            f"{len(explanations)} text explanations need token ids of shape "
            f"({len(explanations)}, tokens); got inputs of shape {inputs.shape}"
        )
    values = np.zeros(inputs.shape)
    for row, explanation in enumerate(explanations):
        ids = np.asarray(explanation.token_ids)
        count = ids.size
        if count <= inputs.shape[1] and np.array_equal(inputs[row, :count], ids):
            values[row, :count] = explanation.attributions
        elif count <= inputs.shape[1] and np.array_equal(inputs[row, -count:], ids):
            values[row, -count:] = explanation.attributions
        else:
            raise ValueError(
                f"text {row}'s explanation ids are not at either end of inputs row {row}: "
                "pass the token ids the explanations were made of (e.g. text_batch(...))"
            )
    return values


def attribution_values(
    attributions: Any, shape: tuple[int, ...], inputs: np.ndarray | None = None
) -> np.ndarray:
    """Attributions as float64 of the inputs' ``shape`` (examples, ...).

    An :class:`~intgrad.Attribution`, a NumPy array, a tensor, or (with the host ``inputs``,
    token ids) one :class:`~intgrad.text.TextExplanation` per text. Attributions of an
    embedding layer, shape (examples, tokens, width) for inputs (examples, tokens), are summed
    over the width: one value per token.
    """
    explanations = text_explanations(attributions)
    if explanations is not None:
        if inputs is None:
            raise ValueError("text explanations need the token ids they are placed in")
        return explanation_values(explanations, inputs)
    if isinstance(attributions, Attribution):
        attributions = attributions.attributions
    values = host(_single(attributions, "attributions")).astype(np.float64)
    if tuple(values.shape) == shape:
        return values
    if values.ndim > len(shape) and tuple(values.shape[: len(shape)]) == shape:
        return values.reshape(*shape, -1).sum(axis=-1)
    raise ValueError(
        f"attributions of shape {tuple(values.shape)} do not match the inputs' shape {shape}"
    )


def resolve_targets(target: object, attributions: Any, examples: int) -> np.ndarray | None:
    """The target as int64 (examples, indices), or ``None``; default: the Attribution's own
    (or each text explanation's)."""
    explanations = text_explanations(attributions)
    if target is None and explanations is not None:
        return np.asarray([[e.target] for e in explanations], dtype=np.int64)
    if target is None and isinstance(attributions, Attribution):
        own = attributions.target
        if own is not None:
            return np.asarray(own, dtype=np.int64).reshape(examples, -1)
        return None
    if target is not None and not isinstance(target, (int, np.integer, tuple, list, bool)):
        target = host(target)
    columns = normalise_targets(target, examples, host)
    if not columns:
        return None
    return np.stack(columns, axis=1)


def tile_targets(targets: np.ndarray | None, copies: int) -> object:
    """The targets of ``copies`` stacked copies of the examples, as ``evaluate`` takes them."""
    if targets is None:
        return None
    tiled = np.tile(targets, (copies, 1))
    if tiled.shape[1] == 1:
        return tiled[:, 0]
    return [tuple(int(v) for v in row) for row in tiled]


def tile_arguments(extras: tuple[Any, ...], examples: int, copies: int) -> tuple[Any, ...]:
    """Extra model arguments for ``copies`` stacked copies: per-example arrays repeated."""
    if copies == 1:
        return extras
    tiled = []
    for extra in extras:
        shape = getattr(extra, "shape", None)
        if shape is not None and len(shape) > 0 and int(shape[0]) == examples:
            repeated = np.concatenate([host(extra)] * copies, axis=0)
            tiled.append(to_framework(repeated, extra))
        else:
            tiled.append(extra)
    return tuple(tiled)


@dataclass(frozen=True)
class Scorer:
    """F of perturbed copies of the examples, through one batched ``evaluate`` per call.

    Attributes:
        explainer: the session whose :meth:`~intgrad.Explainer.evaluate` scores.
        like: the user's inputs (their framework, dtype and device are what is sent).
        dtype: the inputs' NumPy dtype on the host.
        targets: int64 (examples, indices) or ``None``.
        extras: the extra model arguments, as a tuple.
        batch_size: the most rows per model call, or ``None`` for the default.
    """

    explainer: Explainer
    like: Any
    dtype: np.dtype
    targets: np.ndarray | None
    extras: tuple[Any, ...]
    batch_size: int | None

    def __call__(self, copies: np.ndarray) -> np.ndarray:
        """F of shape (copies, examples) for perturbed inputs of shape (copies, examples, ...)."""
        count, examples = copies.shape[0], copies.shape[1]
        flat = copies.reshape(count * examples, *copies.shape[2:]).astype(self.dtype, copy=False)
        scores = self.explainer.evaluate(
            to_framework(flat, self.like),
            target=tile_targets(self.targets, count),
            batch_size=self.batch_size,
            additional_forward_args=tile_arguments(self.extras, examples, count) or None,
        )
        return np.asarray(scores, dtype=np.float64).reshape(count, examples)


def make_scorer(
    model: Any,
    inputs: Any,
    attributions: Any,
    target: object,
    additional_forward_args: Any,
    batch_size: int | None,
) -> tuple[Scorer, np.ndarray, np.ndarray]:
    """The scorer, the host inputs (examples, ...) and the host attributions (same shape)."""
    from intgrad.family._session import as_explainer

    inputs = _single(inputs, "inputs")
    x = host(inputs)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(
            f"inputs must have shape (examples, features...) with examples >= 1; got {x.shape}"
        )
    values = attribution_values(attributions, tuple(x.shape), x)
    if batch_size is not None:
        check_count("batch_size", batch_size)
    scorer = Scorer(
        explainer=as_explainer(model),
        like=inputs,
        dtype=x.dtype,
        targets=resolve_targets(target, attributions, x.shape[0]),
        extras=as_argument_tuple(additional_forward_args),
        batch_size=batch_size,
    )
    return scorer, x, values
