"""Integrated and Expected Hessians: pairwise interactions through Hessian-vector products.

With Δ = x − x′ and the straight path γ(t) = x′ + tΔ, Integrated Hessians (Janizek, Sturmfels &
Lee 2021) integrates over α, β ∈ [0, 1] a function of αβ only; the density of t = αβ
on [0, 1] is −ln t, so the double integral is the single one

    Γ_ij = Δ_i Δ_j ∫₀¹ (−t ln t) H_ij(γ(t)) dt + δ_ij Δ_i ∫₀¹ (−ln t) ∂_i F(γ(t)) dt,

and integrating by parts, Σ_j Γ_ij = Δ_i ∫₀¹ ∂_i F(γ(t)) dt = IG_i exactly. The substitution
t = s² removes the logarithm's singularity: against ds the weights are

    second order  −4 s³ ln s,      first order  −4 s ln s,      IG  2s,

integrated with the call's quadrature rule in s (Gauss–Legendre by default). The first-order
integrand s ln s still has an unbounded derivative at s = 0, where Gauss–Legendre converges
only as n⁻⁴ (9e-7 relative at 32 nodes for a constant gradient); so the singular part is
subtracted: one more point at t = 0 (the baseline's gradient) takes the weight 1 − Σ w₁ that
the rule misses, which makes the rule exact for a constant gradient (3.6e-13 at 32 nodes).

Groups: for a group a of features (a table column's one-hot block, a token's embedding), one
Hessian-vector product along Δ ⊙ 1_a gives Σ_{i∈a} Δ_i H_ij for every j, so

    Γ_ab = Σ_{j∈b} ∫ w₂ Δ_j (H (Δ ⊙ 1_a))_j + δ_ab ∫ w₁ Σ_{i∈a} Δ_i ∂_i F,

one product per row group and path point, never a d × d Hessian. A row is (example, start,
point, group); rows run in chunks of bounded size, each row's per-feature vector is summed over
each group b on the device (an ``einsum`` with the membership matrix) and scatter-added into
its (slot, row group) accumulator.

Expected Hessians (same paper) draws the reference x′ from a background set and α, β
uniformly: one point t = αβ per sample, weights t (second order) and 1 (first order), and per
sample one more product along all of Δ whose per-group sums estimate the Expected Gradients
attributions; the sums and sums of squares give standard errors.

Everything here is written once on :class:`~intgrad._core.primitives.ArrayOps`; the model is
bound through the session's own helpers, so layers, targets, outputs and extra arguments work
as they do for Integrated Gradients.

References:
    Janizek, Sturmfels & Lee (2021), "Explaining Explanations: Axiomatic Feature Interactions
    for Deep Networks", Journal of Machine Learning Research 22.
    Pearlmutter (1994), "Fast Exact Multiplication by the Hessian", Neural Computation 6(1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from intgrad._core.arguments import ArgumentLayout, as_argument_tuple
from intgrad._core.backend import Backend, CallArrays, Program
from intgrad._core.baselines import BaselineRule, ExplicitBaseline, resolve_baselines
from intgrad._core.chunks import balanced_chunk_rows, default_chunk_rows
from intgrad._core.loop import Steps, _run_rows, padded_rows
from intgrad._core.planners import endpoint_rows
from intgrad._core.primitives import ArrayOps
from intgrad._core.quadrature import QuadratureRule
from intgrad._core.session import (
    Explainer,
    PathMethod,
    _check_finite,
    _Integration,
    _reported_targets,
    _Request,
    _validate_batch_size,
    validate_inputs,
)
from intgrad._core.targets import check_targets, normalise_targets, select_outputs

__all__ = [
    "DEFAULT_MAX_GROUPS",
    "Grouping",
    "HessianPoints",
    "HessianSums",
    "QuadratureSchedule",
    "SampledSchedule",
    "Schedule",
    "quadrature_points",
    "resolve_grouping",
    "run_hessians",
]

DEFAULT_MAX_GROUPS = 4096
"""The most groups the full interaction matrix is computed for unless asked: it costs one
Hessian-vector product per group and path point, and (starts × groups × groups) numbers."""

HVP_ELEMENTS_PER_FEATURE = 4
"""A Hessian-vector product keeps about four arrays of the input's size per row (point, tangent,
gradient, product) besides the model's own: the default chunk is sized for that."""


class Grouping(NamedTuple):
    """Which features form each group, and which groups are rows of the matrix.

    Attributes:
        ids: shape (features,), int64: the group of each feature (C order over the
            per-example feature shape).
        labels: one name per group.
        rows: shape (rows,), int64: the groups whose rows are computed, in order.
        identity: every feature is its own group, in order (no summing over groups needed).
    """

    ids: np.ndarray
    labels: tuple[str, ...]
    rows: np.ndarray
    identity: bool

    @property
    def size(self) -> int:
        """The number of groups."""
        return len(self.labels)

    def masks(self) -> np.ndarray:
        """Shape (rows + 1, features), float64: 1 where a feature is in the row's group; the
        last row is all ones (the direction Δ itself)."""
        rows = (self.ids[None, :] == self.rows[:, None]).astype(np.float64)
        return np.concatenate([rows, np.ones((1, self.ids.size))])

    def membership(self) -> np.ndarray:
        """Shape (features, groups), float64: 1 where a feature is in a group."""
        matrix = np.zeros((self.ids.size, self.size))
        matrix[np.arange(self.ids.size), self.ids] = 1.0
        return matrix


def _feature_labels(shape: tuple[int, ...]) -> tuple[str, ...]:
    size = int(np.prod(shape))
    if len(shape) <= 1:
        return tuple(str(i) for i in range(size))
    return tuple(str(tuple(int(v) for v in np.unravel_index(i, shape))) for i in range(size))


def _ids_of_array(groups: object, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(groups)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"groups must be an array of integer group ids, got dtype {array.dtype}")
    if array.ndim == 0 or array.shape != shape[: array.ndim]:
        raise ValueError(
            f"groups of shape {array.shape} must have the per-example feature shape {shape} "
            "(or a leading part of it, broadcast over the rest)"
        )
    expanded = array.reshape(array.shape + (1,) * (len(shape) - array.ndim))
    ids = np.broadcast_to(expanded, shape).reshape(-1).astype(np.int64)
    if int(ids.min()) < 0:
        raise ValueError(f"group ids must be >= 0, got {int(ids.min())}")
    missing = np.setdiff1d(np.arange(int(ids.max()) + 1), ids)
    if missing.size:
        raise ValueError(
            f"groups must number the groups 0..{int(ids.max())} with every id used; "
            f"missing {missing.tolist()[:10]}"
        )
    return ids


def _ids_of_mapping(groups: Mapping[Any, Sequence[int]], size: int) -> np.ndarray:
    ids = np.full(size, -1, dtype=np.int64)
    for position, (name, members) in enumerate(groups.items()):
        index = np.asarray(members, dtype=np.int64).reshape(-1)
        if index.size == 0:
            raise ValueError(f"group {name!r} has no features")
        if int(index.min()) < 0 or int(index.max()) >= size:
            raise ValueError(f"group {name!r} indexes features outside 0..{size - 1}")
        taken = index[ids[index] >= 0]
        if taken.size or np.unique(index).size != index.size:
            raise ValueError(f"group {name!r} repeats feature(s) already in a group")
        ids[index] = position
    left = np.flatnonzero(ids < 0)
    if left.size:
        raise ValueError(
            f"groups leave features {left.tolist()[:10]} in no group; every feature needs one "
            "(the interactions add up to F(x) − F(x′) over all of them)"
        )
    return ids


def _row_index(item: object, labels: tuple[str, ...]) -> int:
    if isinstance(item, (bool, np.bool_)):
        raise TypeError(f"features must be group indices or names, got {item!r}")
    if isinstance(item, str):
        if item not in labels:
            raise ValueError(f"unknown group {item!r}; groups are {list(labels)[:10]}")
        return labels.index(item)
    if not isinstance(item, (int, np.integer)):
        raise TypeError(f"features must be group indices or names, got {type(item).__name__}")
    if not 0 <= int(item) < len(labels):
        raise ValueError(f"feature {int(item)} is out of range for {len(labels)} groups")
    return int(item)


def _rows(features: object, labels: tuple[str, ...], max_groups: int | None) -> np.ndarray:
    if features is None:
        if max_groups is not None and len(labels) > max_groups:
            raise ValueError(
                f"the full interaction matrix of {len(labels)} groups costs {len(labels)} "
                f"Hessian-vector products per path point (more than max_groups={max_groups}); "
                "pass features= (the rows to compute), groups= (fewer groups) or "
                "max_groups=None"
            )
        return np.arange(len(labels), dtype=np.int64)
    items: list[object]
    if isinstance(features, (int, np.integer, str, bool, np.bool_)):
        items = [features]
    elif isinstance(features, Iterable):
        items = list(features)
    else:
        raise TypeError(f"features must be group indices or names, got {features!r}")
    if not items:
        raise ValueError("features must name at least one group")
    rows = np.array([_row_index(item, labels) for item in items], dtype=np.int64)
    if np.unique(rows).size != rows.size:
        raise ValueError(f"features repeat a group: {rows.tolist()}")
    return rows


def resolve_grouping(
    shape: tuple[int, ...],
    groups: object,
    features: object,
    labels: Sequence[str] | None,
    max_groups: int | None,
) -> Grouping:
    """The :class:`Grouping` of a call's ``groups``, ``features`` and ``labels`` arguments.

    Args:
        shape: the per-example feature shape (of the inputs, or of the layer's activations).
        groups: ``None`` (every feature its own group); an integer array of ``shape`` (or of a
            leading part of it, broadcast over the rest) numbering the groups 0..G−1; or a
            mapping of group names to flat feature indices that partitions the features (as
            :attr:`intgrad.tabular.TabularSchema.groups`).
        features: ``None`` (every group is a row: the full matrix), or a group index or name,
            or a sequence of them: the rows to compute.
        labels: names of the groups (default: the mapping's keys, the ids, or the features'
            indices).
        max_groups: the most groups the full matrix is computed for; ``None``: no limit.
    """
    if max_groups is not None and (
        isinstance(max_groups, bool) or not isinstance(max_groups, (int, np.integer))
    ):
        raise TypeError(f"max_groups must be a positive int or None, got {max_groups!r}")
    size = int(np.prod(shape))
    if groups is None:
        ids, names = np.arange(size, dtype=np.int64), _feature_labels(shape)
    elif isinstance(groups, Mapping):
        ids, names = _ids_of_mapping(groups, size), tuple(str(k) for k in groups)
    else:
        ids = _ids_of_array(groups, shape)
        names = tuple(str(g) for g in range(int(ids.max()) + 1))
    if labels is not None:
        if isinstance(labels, str) or len(labels) != len(names):
            raise ValueError(f"labels must give one name per group ({len(names)})")
        names = tuple(str(label) for label in labels)
    identity = bool(np.array_equal(ids, np.arange(size)))
    return Grouping(ids, names, _rows(features, names, max_groups), identity)


class HessianPoints(NamedTuple):
    """Where each start's path is evaluated, and the weights there: shape (starts, points) each.

    Attributes:
        t: the path coordinate of γ(t) = x′ + t(x − x′).
        second: the weight of the second-order term Δ_j (H(Δ ⊙ 1_a))_j.
        first: the weight of the first-order term Σ_{i∈a} Δ_i ∂_i F (the diagonal only).
        gradient: the weight of Δ ⊙ ∂F in the Integrated Gradients of the same points.
        sampled: Monte Carlo points (one sample per start): slots per example, sums of squares,
            and one product along all of Δ per sample for the attributions.
        method: the rule's name, reported with the result.
    """

    t: np.ndarray
    second: np.ndarray
    first: np.ndarray
    gradient: np.ndarray
    sampled: bool
    method: str


def quadrature_points(rule: QuadratureRule, starts: int, method: str) -> HessianPoints:
    """Integrated Hessians' points for ``starts`` start points: ``rule`` in s with t = s², then
    t = 0 carrying the first-order weight the rule misses (the module's docstring says why).

    Args:
        rule: nodes and weights on [0, 1] (in s).
        starts: the number of start points (baselines × examples).
        method: the rule's name.

    Returns:
        :class:`HessianPoints` of shape (starts, nodes + 1).
    """
    s, w = rule.alphas, rule.weights
    log_s = np.log(np.where(s > 0, s, 1.0))  # s^k ln s → 0 at s = 0
    second = -4.0 * s**3 * log_s * w
    first = -4.0 * s * log_s * w
    gradient = 2.0 * s * w

    def tiled(column: np.ndarray, at_zero: float) -> np.ndarray:
        return np.tile(np.append(column, at_zero), (starts, 1))

    return HessianPoints(
        t=tiled(s**2, 0.0),
        second=tiled(second, 0.0),
        first=tiled(first, 1.0 - math.fsum(first.tolist())),
        gradient=tiled(gradient, 0.0),
        sampled=False,
        method=method,
    )


class Schedule(Protocol):
    """Where a call's paths start and where they are evaluated."""

    method: str

    def plan(
        self, num_examples: int, input_shape: tuple[int, ...], to_numpy: Callable[[Any], Any]
    ) -> tuple[list[tuple[BaselineRule, ...]], HessianPoints]:
        """The baselines (one rule per baseline, a tuple for the one input) and the points.

        Args:
            num_examples: examples in the call.
            input_shape: the prepared inputs' shape, (examples, ...).
            to_numpy: the backend's conversion of its arrays to NumPy.
        """
        ...


class QuadratureSchedule:
    """Integrated Hessians: every baseline of ``baselines``, the quadrature rule in s."""

    def __init__(self, rule: QuadratureRule, method: str, baselines: object, seed: int | None):
        self.rule, self.method, self.baselines, self.seed = rule, method, baselines, seed

    def plan(
        self, num_examples: int, input_shape: tuple[int, ...], to_numpy: Callable[[Any], Any]
    ) -> tuple[list[tuple[BaselineRule, ...]], HessianPoints]:
        rules = resolve_baselines(self.baselines, 1, self.seed)
        return rules, quadrature_points(self.rule, len(rules) * num_examples, self.method)


class SampledSchedule:
    """Expected Hessians: per example ``samples`` references drawn from ``background`` with
    replacement and t = αβ with α, β ~ U(0, 1), all from ``seed``."""

    method = "monte_carlo"

    def __init__(self, background: object, samples: int, seed: int | None) -> None:
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)):
            raise TypeError(f"samples must be an int >= 2, got {samples!r}")
        if samples < 2:
            raise ValueError(f"samples must be >= 2 (for a standard error), got {samples}")
        self.background, self.samples, self.seed = background, int(samples), seed

    def plan(
        self, num_examples: int, input_shape: tuple[int, ...], to_numpy: Callable[[Any], Any]
    ) -> tuple[list[tuple[BaselineRule, ...]], HessianPoints]:
        background = np.asarray(to_numpy(self.background))
        if background.ndim == 0 or background.shape[1:] != tuple(input_shape[1:]):
            raise ValueError(
                f"background of shape {background.shape} must be (references, "
                f"{', '.join(str(n) for n in input_shape[1:])}): rows like the inputs'"
            )
        if background.shape[0] == 0:
            raise ValueError("background must hold at least one reference")
        rng = np.random.default_rng(self.seed)
        drawn = rng.integers(0, background.shape[0], size=(self.samples, num_examples))
        t = (rng.uniform(size=drawn.shape) * rng.uniform(size=drawn.shape)).reshape(-1, 1)
        rules: list[tuple[BaselineRule, ...]] = [
            (ExplicitBaseline(background[row]),) for row in drawn
        ]
        ones = np.ones_like(t)
        return rules, HessianPoints(t, t, ones, 0 * ones, True, self.method)


class _HessianRows(NamedTuple):
    """The rows of one call, all of shape (rows,): NumPy on the host, arrays on the device.

    ``mask_index`` picks the tangent's mask (the row group, or the last mask: all of Δ);
    ``on_interaction``/``on_total`` say whether a row adds to the interactions or is a
    sample's product along all of Δ, added to the attributions.
    """

    example_index: Any
    start_index: Any
    mask_index: Any
    interaction_slot: Any
    attribution_slot: Any
    t: Any
    second: Any
    first: Any
    gradient: Any
    on_interaction: Any
    on_total: Any

    def slice(self, start: int, stop: int) -> _HessianRows:
        return _HessianRows(*(column[start:stop] for column in self))

    def padded(self, size: int) -> _HessianRows:
        """These rows, then copies of the last one with every weight 0, up to ``size``."""
        missing = size - len(self.t)
        if missing <= 0:
            return self
        columns = []
        for name, column in zip(self._fields, self, strict=True):
            extra = np.repeat(column[-1:], missing)
            columns.append(np.concatenate([column, 0 * extra if name in _WEIGHTS else extra]))
        return _HessianRows(*columns)


_WEIGHTS = ("second", "first", "gradient", "on_interaction", "on_total")
_INDICES = ("example_index", "start_index", "mask_index", "interaction_slot", "attribution_slot")


def _hessian_rows(points: HessianPoints, owners: np.ndarray, grouping_rows: int) -> _HessianRows:
    """Rows start by start, point by point, row group by row group (plus, for samples, one
    product along all of Δ)."""
    starts, nodes = points.t.shape
    width = grouping_rows + int(points.sampled)
    start = np.repeat(np.arange(starts, dtype=np.int64), nodes * width)
    node = np.tile(np.repeat(np.arange(nodes, dtype=np.int64), width), starts)
    group = np.tile(np.arange(width, dtype=np.int64), starts * nodes)
    slot = owners[start] if points.sampled else start
    interaction = group < grouping_rows
    return _HessianRows(
        example_index=owners[start],
        start_index=start,
        mask_index=group,
        interaction_slot=slot * grouping_rows + np.minimum(group, grouping_rows - 1),
        attribution_slot=slot,
        t=points.t[start, node],
        second=points.second[start, node],
        first=points.first[start, node],
        gradient=points.gradient[start, node] * (group == 0),
        on_interaction=interaction.astype(np.float64),
        on_total=(~interaction).astype(np.float64),
    )


def _on_device(ops: ArrayOps, rows: _HessianRows) -> _HessianRows:
    # int32 indices, as the IG loop's: JAX has no int64 without x64.
    return _HessianRows(
        *(
            ops.from_host(column.astype(np.int32) if name in _INDICES else column)
            for name, column in zip(rows._fields, rows, strict=True)
        )
    )


class _HessianStep:
    """One chunk of rows: a Hessian-vector product per row, summed over groups, scatter-added.

    The state holds per (slot, row group) the interactions (slots · rows, groups) and per slot
    the attributions (slots, groups), then, for sampled points, the same two sums of squares.
    """

    def __init__(
        self,
        ops: ArrayOps,
        program: Program,
        output: str | Callable[[Any], Any] | None,
        grouped: bool,
        squares: bool,
    ) -> None:
        self.ops, self.program, self.output = ops, program, output
        self.grouped, self.squares = grouped, squares
        self.output_shapes: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.run = ops.compile(self._step)

    def _products(
        self, arrays: CallArrays, rows: _HessianRows, masks: Any
    ) -> tuple[Any, Any, Any, Any]:
        """Δ, the tangent Δ ⊙ 1_a, ∂F and H·tangent at each row's point."""
        ops = self.ops
        origin = ops.take(arrays.starts[0], rows.start_index)
        delta = ops.take(arrays.ends[0], rows.example_index) - origin
        point = origin + ops.per_row(rows.t, origin) * delta
        tangent = delta * ops.reshape(ops.take(masks, rows.mask_index), ops.shape(point))
        row_args = tuple(ops.take(a, rows.example_index) for a in arrays.row_args)
        row_targets = tuple(ops.take(t, rows.example_index) for t in arrays.targets)

        def selected(p: tuple[Any, ...]) -> Any:
            raw = self.program.outputs(p, row_args, arrays.fixed)
            return select_outputs(ops, raw, row_targets, self.output, self.output_shapes)

        _, grads, products = ops.hessian_vector(selected, (point,), (tangent,))
        return delta, tangent, grads[0], products[0]

    def _step(
        self,
        state: tuple[Any, ...],
        arrays: CallArrays,
        rows: _HessianRows,
        tables: tuple[Any, Any],
    ) -> tuple[Any, ...]:
        ops = self.ops
        masks, membership = tables
        delta, tangent, gradient, product = self._products(arrays, rows, masks)
        like = state[0]
        delta, tangent = ops.cast(delta, like), ops.cast(tangent, like)
        gradient, product = ops.cast(gradient, like), ops.cast(product, like)

        def weighted(column: Any, values: Any) -> Any:
            return ops.per_row(column, values) * values

        interaction = weighted(rows.second, delta * product) + weighted(
            rows.first, tangent * gradient
        )
        attribution = weighted(rows.on_total, interaction) + weighted(
            rows.gradient, delta * gradient
        )
        count = ops.shape(delta)[0]
        flat = [ops.reshape(v, (count, -1)) for v in (interaction, attribution)]
        if self.grouped:
            flat = [ops.einsum("rf,fg->rg", v, membership) for v in flat]
        sums = (weighted(rows.on_interaction, flat[0]), flat[1])
        slots = (rows.interaction_slot, rows.attribution_slot)
        added = [ops.scatter_add(state[k], slots[k], sums[k]) for k in range(2)]
        if self.squares:
            added += [ops.scatter_add(state[2 + k], slots[k], sums[k] * sums[k]) for k in range(2)]
        return tuple(added)


class HessianSums(NamedTuple):
    """What one Integrated or Expected Hessians call found, on the host, float64.

    Attributes:
        interactions: shape (examples, rows, groups): Γ_ab for each row group a.
        attributions: shape (examples, groups): Integrated (or Expected) Gradients per group.
        standard_error: shape (examples, rows, groups) for sampled points, else ``None``.
        attribution_error: shape (examples, groups) for sampled points, else ``None``.
        f_input: shape (examples,): F(x).
        f_baseline: shape (examples,): F(x′), averaged over the starts of each example.
        grouping: the groups and rows.
        feature_shape: the per-example feature shape the groups refer to.
        points: path points per example (nodes × baselines, or samples).
        products: Hessian-vector products per example.
        method: the quadrature rule's name, or ``"monte_carlo"``.
        target: the selected output per example, as :attr:`intgrad.Attribution.target`.
    """

    interactions: np.ndarray
    attributions: np.ndarray
    standard_error: np.ndarray | None
    attribution_error: np.ndarray | None
    f_input: np.ndarray
    f_baseline: np.ndarray
    grouping: Grouping
    feature_shape: tuple[int, ...]
    points: int
    products: int
    method: str
    target: np.ndarray | None


class _Call(NamedTuple):
    """One call's validated arguments besides the inputs."""

    request: _Request
    points: HessianPoints
    groups: object
    features: object
    labels: Sequence[str] | None
    max_groups: int | None


def run_hessians(
    explainer: Explainer,
    inputs: Any,
    schedule: Schedule,
    *,
    target: object = None,
    groups: object = None,
    features: object = None,
    labels: Sequence[str] | None = None,
    max_groups: int | None = DEFAULT_MAX_GROUPS,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> HessianSums:
    """Interactions of one input tensor's features (or of ``explainer``'s layer's activations).

    Args:
        explainer: the session: model, backend, layer and output transform.
        inputs: one tensor of shape (examples, ...); a tuple is refused.
        schedule: the baselines and path points (:class:`QuadratureSchedule` or
            :class:`SampledSchedule`).
        target, batch_size, additional_forward_args, progress: as
            :meth:`intgrad.Explainer.attribute`; ``batch_size`` bounds the rows (one
            Hessian-vector product each) per model call.
        groups, features, labels, max_groups: as :func:`resolve_grouping`.
    """
    if isinstance(inputs, (tuple, list)):
        raise TypeError(
            f"interactions take one input tensor, got a {type(inputs).__name__} of "
            f"{len(inputs)}; pass the others in additional_forward_args"
        )
    backend = explainer.resolve_backend((inputs,))
    prepared = backend.prepare_inputs((inputs,), allow_integer=explainer.layer is not None)
    num_examples = validate_inputs(prepared)
    targets = normalise_targets(target, num_examples, backend.to_numpy)
    rules, points = schedule.plan(num_examples, tuple(prepared[0].shape), backend.to_numpy)
    request = _Request(
        integration=_Integration(None, None, schedule.method),
        targets=targets,
        rules=rules,
        layer_rules=None,
        extras=as_argument_tuple(additional_forward_args),
        batch_size=_validate_batch_size(batch_size),
        compute_delta=True,
        record=False,
        progress=progress,
        path_method=PathMethod(explainer.path, name="integrated_hessians"),
    )
    call = _Call(request, points, groups, features, labels, max_groups)
    with backend.model_guard(explainer.model, prepared) as model_fn:
        return _evaluate(explainer, backend, model_fn, prepared, num_examples, call)


def _call_arrays(
    ops: ArrayOps,
    program: Program,
    ends: tuple[Any, ...],
    starts: list[tuple[Any, ...]],
    row_args: tuple[Any, ...],
    targets: tuple[np.ndarray, ...],
    extras: tuple[tuple[Any, ...], tuple[Any, ...]],
    owners: np.ndarray,
) -> CallArrays:
    row_extras, fixed_extras = extras
    return CallArrays(
        ends=ends,
        starts=tuple(ops.concat(group) for group in zip(*starts, strict=True))
        if len(starts) > 1
        else starts[0],
        targets=tuple(ops.from_host(t.astype(np.int32)) for t in targets),
        row_args=(*row_args, *row_extras),
        fixed=(*program.fixed, *fixed_extras),
        start_owner=ops.from_host(owners.astype(np.int32)),
    )


def _evaluate(
    explainer: Explainer,
    backend: Backend,
    model_fn: Callable[..., Any],
    inputs: tuple[Any, ...],
    num_examples: int,
    call: _Call,
) -> HessianSums:
    request = call.request
    ops = backend.ops(inputs)
    layout, row_extras, fixed_extras = ArgumentLayout.split(
        request.extras, backend.is_native, num_examples
    )
    program, ends, starts, row_args, _ = explainer._bind(backend, model_fn, inputs, request, layout)
    if len(ends) != 1:
        raise ValueError(
            f"interactions are computed on one path tensor; the layer gives {len(ends)}"
        )
    shape = tuple(ops.shape(ends[0])[1:])
    grouping = resolve_grouping(shape, call.groups, call.features, call.labels, call.max_groups)
    owners = np.tile(np.arange(num_examples, dtype=np.int64), len(starts))
    arrays = _call_arrays(
        ops, program, ends, starts, row_args, request.targets, (row_extras, fixed_extras), owners
    )
    rows = _hessian_rows(call.points, owners, grouping.rows.size)
    features = int(np.prod(shape))
    most = request.batch_size or default_chunk_rows(
        HVP_ELEMENTS_PER_FEATURE * features, len(rows.t), backend.chunk_elements(inputs)
    )
    chunk_rows = balanced_chunk_rows(most, len(rows.t))
    forward = explainer._steps_for(ops, program, explainer.path)
    f_input, f_start = _end_values(forward, arrays, owners, num_examples, chunk_rows)
    for output_shape in list(forward.output_shapes):
        check_targets(request.targets, output_shape)
    grouped, squares = not grouping.identity, call.points.sampled
    step = explainer.compiled(
        program,
        ("hessians", grouped, squares),
        lambda: _HessianStep(ops, program, explainer.output, grouped, squares),
    )
    state = _sum_rows(step, arrays, grouping, rows, chunk_rows, request.progress)
    return _finish(ops, state, call.points, grouping, shape, f_input, f_start, request)


def _end_values(
    steps: Steps, arrays: CallArrays, owners: np.ndarray, num_examples: int, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """F at every end point (examples,) and at every start point (starts,): the loop's own
    forward pass over the path's end rows."""
    rows = endpoint_rows(owners, num_examples)
    _, values, _ = _run_rows(steps, arrays, None, rows, chunk_rows, False, lambda _: None)
    assert values is not None  # there is at least one example
    return values[:num_examples], values[num_examples:]


def _sum_rows(
    step: _HessianStep,
    arrays: CallArrays,
    grouping: Grouping,
    rows: _HessianRows,
    chunk_rows: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[Any, ...]:
    """Every row through the step, chunk by chunk; the accumulated sums on the device."""
    ops, end = step.ops, arrays.ends[0]
    slots = int(rows.attribution_slot.max()) + 1
    masks = ops.from_host(grouping.masks(), like=end)
    accumulator = ops.zeros(ops.from_host(np.zeros((1, 1)), like=end))  # its dtype only
    membership = ops.from_host(
        grouping.membership() if step.grouped else np.zeros((1, 1)), like=accumulator
    )
    shapes = [(slots * grouping.rows.size, grouping.size), (slots, grouping.size)]
    if step.squares:
        shapes += shapes
    state = tuple(ops.zeros(ops.from_host(np.zeros(s), like=end)) for s in shapes)
    total, done = len(rows.t), 0
    for start in range(0, total, chunk_rows):
        chunk = rows.slice(start, start + chunk_rows)
        real = len(chunk.t)
        if ops.pads_chunks:
            chunk = chunk.padded(padded_rows(real, chunk_rows))
        state = step.run(state, arrays, _on_device(ops, chunk), (masks, membership))
        done += real
        if progress is not None:
            progress(done, total)
    return state


def _mean_and_error(
    sums: np.ndarray, squares: np.ndarray | None, count: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The mean of ``count`` samples and its standard error, from their sum and sum of squares."""
    mean = sums / count
    if squares is None:
        return mean, None
    variance = np.maximum(squares - count * mean * mean, 0.0) / (count - 1)
    return mean, np.sqrt(variance / count)


def _finish(
    ops: ArrayOps,
    state: tuple[Any, ...],
    points: HessianPoints,
    grouping: Grouping,
    shape: tuple[int, ...],
    f_input: np.ndarray,
    f_start: np.ndarray,
    request: _Request,
) -> HessianSums:
    num_examples = f_input.shape[0]
    per_example = f_start.shape[0] // num_examples  # baselines, or samples
    host = [ops.to_host(s) for s in state]
    count, groups = grouping.rows.size, grouping.size
    if points.sampled:
        interactions, error = _mean_and_error(
            host[0], host[2] if len(host) > 2 else None, per_example
        )
        attributions, attribution_error = _mean_and_error(
            host[1], host[3] if len(host) > 3 else None, per_example
        )
    else:
        interactions = host[0].reshape(per_example, -1).mean(axis=0)
        attributions = host[1].reshape(per_example, -1).mean(axis=0)
        error = attribution_error = None
    interactions = interactions.reshape(num_examples, count, groups)
    attributions = attributions.reshape(num_examples, groups)
    _check_finite("interactions", interactions)
    _check_finite("model outputs at the input and baseline", np.concatenate([f_input, f_start]))
    nodes = points.t.shape[1]
    return HessianSums(
        interactions=interactions,
        attributions=attributions,
        standard_error=None if error is None else error.reshape(interactions.shape),
        attribution_error=None
        if attribution_error is None
        else attribution_error.reshape(attributions.shape),
        f_input=f_input,
        f_baseline=f_start.reshape(per_example, num_examples).mean(axis=0),
        grouping=grouping,
        feature_shape=shape,
        points=nodes * per_example,
        products=nodes * per_example * (count + int(points.sampled)),
        method=points.method,
        target=_reported_targets(request.targets),
    )
