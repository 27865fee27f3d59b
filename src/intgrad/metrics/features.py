"""Features: which input elements a metric removes together, and their order by attribution.

A *feature map* is an int array of one example's shape (or of the batch's, to differ per
example) giving each input element its feature id (0, 1, ...); ``-1`` marks elements no metric
touches (special tokens, padding). A feature's attribution is the sum over its elements, so
pixels sum their channels, patches their pixels, and a one-hot column group its columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from intgrad.metrics._common import host

__all__ = [
    "FeatureSpec",
    "TokenBatch",
    "column_features",
    "default_features",
    "feature_ranks",
    "feature_sums",
    "features_at",
    "pixel_features",
    "resolve_features",
    "text_batch",
    "token_features",
]

FeatureSpec = np.ndarray | Literal["elements", "pixels"] | None
"""``"elements"`` (every input element is a feature), ``"pixels"`` (an image's channels
together), a feature map, or ``None``: pixels for 4-D inputs (images with a channel axis),
elements otherwise."""


def _channel_axis(channel_axis: int, ndim: int) -> int:
    """The channel axis of one example's shape, counted from its first axis."""
    if not -ndim <= channel_axis < ndim:
        raise ValueError(f"channel_axis {channel_axis} is out of range for {ndim}-D examples")
    return channel_axis % ndim


def _example_axis(channel_axis: int | None, ndim: int) -> int | None:
    """A batched shape's channel axis as an axis of one example's shape."""
    if channel_axis is None:
        return None
    if not -ndim <= channel_axis < ndim or channel_axis % ndim == 0:
        raise ValueError(f"channel_axis {channel_axis} is not a non-batch axis of {ndim}-D inputs")
    return channel_axis % ndim - 1


def pixel_features(
    shape: Sequence[int], channel_axis: int | None = -1, patch_size: int = 1
) -> np.ndarray:
    """The feature map of an image: one feature per pixel, or per square patch of pixels.

    Args:
        shape: one example's shape: (height, width, channels), (channels, height, width) or
            (height, width) (then ``channel_axis=None``).
        channel_axis: the channels' axis in ``shape`` (default last), or ``None``.
        patch_size: the side of the square patches in pixels (edge patches may be smaller).

    Returns:
        Shape ``shape``, int64: the feature of each element, numbered row by row.
    """
    shape = tuple(int(s) for s in shape)
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
        raise TypeError(f"patch_size must be an int, got {patch_size!r}")
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    spatial = list(range(len(shape)))
    if channel_axis is not None:
        spatial.remove(_channel_axis(channel_axis, len(shape)))
    if len(spatial) != 2:
        raise ValueError(
            f"pixel features need two spatial axes; got an example of shape {shape} with "
            f"channel_axis={channel_axis}"
        )
    height, width = (shape[a] for a in spatial)
    rows = np.arange(height)[:, None] // patch_size
    columns = np.arange(width)[None, :] // patch_size
    ids = rows * (-(-width // patch_size)) + columns
    if channel_axis is None:
        return ids.astype(np.int64)
    axis = _channel_axis(channel_axis, len(shape))
    return np.broadcast_to(np.expand_dims(ids, axis), shape).astype(np.int64)


def column_features(
    columns: int, groups: Mapping[str, Sequence[int]] | Sequence[Sequence[int]] = ()
) -> np.ndarray:
    """The feature map of encoded table rows: one feature per column group.

    Args:
        columns: the encoded width.
        groups: the groups of columns removed together (e.g. the one-hot columns of a
            category: ``TabularSchema.groups``), as a mapping or a sequence of index lists;
            every column in no group is a feature of its own.

    Returns:
        Shape (columns,), int64: groups first (in order), then the remaining columns.
    """
    members = list(groups.values()) if isinstance(groups, Mapping) else list(groups)
    ids = np.full(int(columns), -1, dtype=np.int64)
    for number, group in enumerate(members):
        indices = np.asarray(group, dtype=np.int64)
        if indices.size == 0 or indices.min() < 0 or indices.max() >= columns:
            raise ValueError(f"group {number} has columns outside 0..{columns - 1}: {group}")
        if (ids[indices] >= 0).any():
            raise ValueError(f"group {number} shares columns with an earlier group")
        ids[indices] = number
    rest = np.flatnonzero(ids < 0)
    ids[rest] = len(members) + np.arange(rest.size)
    return ids


def token_features(
    input_ids: Any, attention_mask: Any = None, special_ids: Sequence[int] = ()
) -> np.ndarray:
    """The feature map of token ids: one feature per real token that is not special.

    Args:
        input_ids: shape (texts, tokens), integers.
        attention_mask: shape (texts, tokens), 1 on real tokens; default: all real.
        special_ids: ids never removed ([CLS], [SEP], ...).

    Returns:
        Shape (texts, tokens), int64: each token's position, ``-1`` for padding and special ones.
    """
    ids = host(input_ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must have shape (texts, tokens), got {ids.shape}")
    real = np.ones(ids.shape, dtype=bool) if attention_mask is None else host(attention_mask) > 0
    if real.shape != ids.shape:
        raise ValueError(f"attention_mask of shape {real.shape} does not match ids {ids.shape}")
    keep = real & ~np.isin(ids, np.asarray(list(special_ids), dtype=ids.dtype))
    positions = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
    return np.where(keep, positions, -1).astype(np.int64)


class TokenBatch(NamedTuple):
    """Text explanations' token ids as one right-padded batch for the metrics.

    Attributes:
        input_ids: shape (texts, tokens), int64, each text's ids, then ``pad_id``.
        attention_mask: shape (texts, tokens), int64, 1 on each text's own tokens.
        features: shape (texts, tokens), int64, :func:`token_features` of the batch: each
            non-special token's position, ``-1`` for special tokens and padding.
        baseline_ids: shape (texts, tokens), int64, each explanation's baseline ids, then
            ``pad_id``.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    features: np.ndarray
    baseline_ids: np.ndarray


def text_batch(explanations: Sequence[Any], pad_id: int = 0) -> TokenBatch:
    """The ids, mask, feature map and baseline ids of :class:`~intgrad.text.TextExplanation`
    objects, right-padded with ``pad_id``; the ids are the explanations' own, never re-encoded.
    """
    texts = list(explanations)
    if not texts:
        raise ValueError("text_batch needs at least one text explanation")
    width = max(int(np.asarray(t.token_ids).size) for t in texts)
    ids = np.full((len(texts), width), pad_id, dtype=np.int64)
    baseline = ids.copy()
    real = np.zeros((len(texts), width), dtype=np.int64)
    features = np.full((len(texts), width), -1, dtype=np.int64)
    for row, text in enumerate(texts):
        count = int(np.asarray(text.token_ids).size)
        ids[row, :count] = text.token_ids
        baseline[row, :count] = text.baseline_ids
        real[row, :count] = 1
        features[row, :count] = np.where(np.asarray(text.special), -1, np.arange(count))
    return TokenBatch(ids, real, features, baseline)


def default_features(
    features: FeatureSpec, shape: tuple[int, ...], channel_axis: int | None
) -> FeatureSpec:
    """``features``, with ``None`` made ``"pixels"`` for 4-D inputs with channels."""
    if features is not None:
        return features
    return "pixels" if len(shape) == 4 and channel_axis is not None else "elements"


def resolve_features(
    features: FeatureSpec, shape: tuple[int, ...], channel_axis: int | None = -1
) -> np.ndarray:
    """The feature map of a batch of ``shape`` (examples, ...), broadcast to that shape.

    ``channel_axis`` counts the batched shape's axes (as the metrics do), e.g. 1 or -1.
    """
    per_example = shape[1:]
    features = default_features(features, shape, channel_axis)
    if isinstance(features, str):
        if features not in ("elements", "pixels"):
            raise ValueError(
                f"features must be None, 'elements', 'pixels' or a feature map; got {features!r}"
            )
        if features == "elements":
            ids = np.arange(int(np.prod(per_example)), dtype=np.int64).reshape(per_example)
        else:
            ids = pixel_features(per_example, _example_axis(channel_axis, len(shape)))
    else:
        ids = host(features)
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"a feature map must hold integers, got {ids.dtype}")
        if tuple(ids.shape) not in (per_example, shape):
            raise ValueError(
                f"a feature map must have one example's shape {per_example} or the batch's "
                f"{shape}; got {tuple(ids.shape)}"
            )
        if ids.size and ids.min() < -1:
            raise ValueError("feature ids must be >= 0, or -1 for elements never removed")
    ids = np.broadcast_to(ids.astype(np.int64), shape)
    if not (ids >= 0).reshape(shape[0], -1).any(axis=1).all():
        raise ValueError("every example needs at least one feature (an id >= 0)")
    return ids


def feature_sums(values: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per example the sum of ``values`` over each feature id, and which ids occur."""
    examples = values.shape[0]
    flat_ids = ids.reshape(examples, -1)
    count = int(flat_ids.max()) + 1
    valid = flat_ids >= 0
    owners = np.broadcast_to(np.arange(examples)[:, None], flat_ids.shape)
    slots = (owners * count + flat_ids)[valid]
    weights = values.reshape(examples, -1)[valid]
    sums = np.bincount(slots, weights=weights, minlength=examples * count)
    present = np.bincount(slots, minlength=examples * count) > 0
    return sums.reshape(examples, count), present.reshape(examples, count)


def feature_ranks(
    attributions: np.ndarray,
    ids: np.ndarray,
    *,
    absolute: bool = False,
    descending: bool = True,
    scores: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each element's place in its example's feature order, and each example's feature count.

    Features are ordered by their summed attribution (its absolute value with ``absolute``),
    highest first with ``descending``; ties keep the feature ids' order.

    Args:
        attributions: shape (examples, ...), float64.
        ids: the feature map broadcast to the same shape.
        absolute: order by |attribution|.
        descending: highest first (deletion, insertion, ROAD's MoRF) or lowest first (LeRF).
        scores: shape (examples, ids), the feature scores to order by instead (random orders).

    Returns:
        ``(ranks, counts)``: ranks of shape (examples, elements), int64, the feature's
        position in the order (0 first; ``elements`` for elements of no feature), and counts
        of shape (examples,), int64, the features of each example.
    """
    sums, present = feature_sums(attributions, ids)
    key = np.abs(sums) if absolute else sums
    if scores is not None:
        key = scores
    key = np.where(present, -key if descending else key, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    places = np.empty_like(order)
    np.put_along_axis(places, order, np.arange(order.shape[1])[None, :], axis=1)
    flat_ids = ids.reshape(ids.shape[0], -1)
    ranks = np.take_along_axis(places, np.maximum(flat_ids, 0), axis=1)
    ranks = np.where(flat_ids >= 0, ranks, flat_ids.shape[1])
    return ranks.astype(np.int64), present.sum(axis=1).astype(np.int64)


def features_at(fractions: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Shape (examples, fractions), int64: round(f × n) features (halves up; 9 decimals first)."""
    products = np.round(fractions[None, :] * counts[:, None], 9)
    return np.floor(products + 0.5).astype(np.int64)
