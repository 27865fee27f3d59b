"""Integrated Hessians and Expected Hessians: which pairs of features act together, and how much.

Γ_ab says how much of group a's attribution is owed to its interaction with group b; Γ_aa is a's
main effect. Every row adds up to a's Integrated Gradients attribution, and the whole matrix to
F(x) − F(x′). Computed with one Hessian-vector product per row group and path point (see
:mod:`intgrad._core.hessians`), so a chosen feature against all others costs a handful of
gradient evaluations per point, not a d × d Hessian.

A network's Hessian must exist for the interactions to mean anything: a ReLU network's is zero
almost everywhere, so its off-diagonal interactions vanish and the rows no longer add up to the
attributions (``delta`` shows it). The paper explains such networks with their ReLUs replaced
by SoftPlus.

PyTorch's fused attention kernels on the CPU have no second derivative: explain a transformer
under ``torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH)``, as
``intgrad interactions text`` does (the context sets a process-wide flag, so it is left to the
caller rather than entered here, where another thread's call could see it).

References:
    Janizek, Sturmfels & Lee (2021), "Explaining Explanations: Axiomatic Feature Interactions
    for Deep Networks", Journal of Machine Learning Research 22.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.hessians import (
    DEFAULT_MAX_GROUPS,
    HessianSums,
    QuadratureSchedule,
    SampledSchedule,
    Schedule,
    run_hessians,
)
from intgrad._core.quadrature import quadrature_rule
from intgrad._core.session import DEFAULT_METHOD
from intgrad.family._session import as_explainer

__all__ = ["Interactions", "expected_hessians", "integrated_hessians"]


@dataclass(frozen=True)
class Interactions:
    """Pairwise interactions Γ of groups of features, and what they add up to.

    Attributes:
        interactions: shape (examples, rows, groups), float64: Γ_ab for each row group a
            (:attr:`rows`) and every group b. With every group a row (the full matrix) it is
            symmetric.
        attributions: shape (examples, groups), float64: the Integrated (Expected) Gradients of
            each group, from the same path points; each row of :attr:`interactions` adds up to
            its group's entry.
        delta: shape (examples,), float64: the completeness gap Σ_{a ∈ rows} Σ_b Γ_ab
            + Σ_{a ∉ rows} attributions_a − (F(x) − F(x′)); with the full matrix,
            Σ Γ − (F(x) − F(x′)).
        f_input: shape (examples,): F(x) of the selected output.
        f_baseline: shape (examples,): F(x′), averaged over baselines (or drawn references).
        rows: shape (rows,), int64: the group of each row of :attr:`interactions`.
        labels: the name of each group.
        groups: the per-example feature shape, int64: the group of each feature.
        steps: path points per example (nodes × baselines, or samples).
        hessian_vector_products: Hessian-vector products per example.
        method: the quadrature rule in s, or ``"monte_carlo"``.
        algorithm: ``"integrated_hessians"`` or ``"expected_hessians"``.
        target: the selected output per example, or ``None``.
        standard_error: for Expected Hessians, shape (examples, rows, groups): the standard
            error of each interaction (the standard deviation of the mean over samples).
        attribution_error: for Expected Hessians, shape (examples, groups): the same for the
            attributions.
    """

    interactions: np.ndarray
    attributions: np.ndarray
    delta: np.ndarray
    f_input: np.ndarray
    f_baseline: np.ndarray
    rows: np.ndarray
    labels: tuple[str, ...]
    groups: np.ndarray
    steps: int
    hessian_vector_products: int
    method: str
    algorithm: str
    target: np.ndarray | None = None
    standard_error: np.ndarray | None = None
    attribution_error: np.ndarray | None = None

    @property
    def is_full(self) -> bool:
        """Whether every group is a row, in order (the square matrix)."""
        return bool(np.array_equal(self.rows, np.arange(len(self.labels))))

    @property
    def main_effects(self) -> np.ndarray:
        """Shape (examples, rows): Γ_aa of each row group (the diagonal)."""
        return self.interactions[:, np.arange(self.rows.size), self.rows]

    def matrix(self, example: int = 0) -> np.ndarray:
        """Shape (rows, groups): the interactions of one example (square for the full matrix)."""
        return self.interactions[example]

    def top_pairs(self, example: int = 0, k: int = 10) -> list[tuple[str, str, float]]:
        """The ``k`` strongest interactions a ≠ b of one example, by |Γ_ab|: (a, b, Γ_ab).

        A pair whose two groups are both rows is listed once (Γ_ab = Γ_ba up to rounding).
        """
        matrix = self.interactions[example]
        row_of = {int(group): position for position, group in enumerate(self.rows)}
        pairs = []
        for position, a in enumerate(self.rows.tolist()):
            for b in range(len(self.labels)):
                if b == a or (b in row_of and row_of[b] < position):
                    continue
                pairs.append((self.labels[a], self.labels[b], float(matrix[position, b])))
        pairs.sort(key=lambda pair: -abs(pair[2]))
        return pairs[:k]


def _interactions(sums: HessianSums, algorithm: str) -> Interactions:
    grouping = sums.grouping
    outside = np.ones(grouping.size, dtype=bool)
    outside[grouping.rows] = False
    total = sums.interactions.sum(axis=(1, 2)) + sums.attributions[:, outside].sum(axis=1)
    return Interactions(
        interactions=sums.interactions,
        attributions=sums.attributions,
        delta=total - (sums.f_input - sums.f_baseline),
        f_input=sums.f_input,
        f_baseline=sums.f_baseline,
        rows=grouping.rows,
        labels=grouping.labels,
        groups=grouping.ids.reshape(sums.feature_shape),
        steps=sums.points,
        hessian_vector_products=sums.products,
        method=sums.method,
        algorithm=algorithm,
        target=sums.target,
        standard_error=sums.standard_error,
        attribution_error=sums.attribution_error,
    )


def _run(
    model: Any,
    inputs: Any,
    schedule: Schedule,
    algorithm: str,
    options: dict[str, Any],
    session: dict[str, Any],
) -> Interactions:
    explainer = as_explainer(model, **session)
    return _interactions(run_hessians(explainer, inputs, schedule, **options), algorithm)


def integrated_hessians(
    model: Any,
    inputs: Any,
    *,
    baselines: object = None,
    target: object = None,
    steps: int = 32,
    method: str | None = None,
    features: int | str | Sequence[int | str] | None = None,
    groups: object = None,
    labels: Sequence[str] | None = None,
    max_groups: int | None = DEFAULT_MAX_GROUPS,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    seed: int | None = None,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    layer: object = None,
    progress: Callable[[int, int], None] | None = None,
) -> Interactions:
    """Integrated Hessians: the interactions Γ_ab of groups of features along the straight path.

    Γ_ab = Σ_{i∈a, j∈b} [Δ_i Δ_j ∫₀¹ (−t ln t) H_ij(γ(t)) dt + δ_ij Δ_i ∫₀¹ (−ln t) ∂_i F(γ(t)) dt]
    with Δ = x − x′ and γ(t) = x′ + tΔ (Janizek et al. 2021; the double integral over
    α, β reduced to t = αβ). Each row adds up to the group's Integrated Gradients attribution.

    Args:
        model: a model of the inputs' framework, as :func:`intgrad.integrated_gradients`, or an
            :class:`~intgrad.Explainer` (whose layer, output and backend are then used).
        inputs: one tensor of shape (examples, ...) (token ids with a layer); not a tuple.
        baselines: as :func:`intgrad.integrated_gradients` (several in a list are averaged).
        target: the output to explain, as :func:`intgrad.integrated_gradients`.
        steps: quadrature nodes in s (t = s²) per baseline, and one more point at the baseline
            (t = 0) that makes the rule exact for a constant gradient; 32 Gauss–Legendre nodes
            integrate a smooth network to about 1e-10 relative.
        method: the rule in s, one of :data:`intgrad.METHODS`; default Gauss–Legendre.
        features: the rows to compute: ``None`` (every group: the full matrix), a group index
            (or name), or a sequence of them. Without ``groups`` a group is one feature, indexed
            flat in C order over the per-example shape.
        groups: ``None`` (each feature its own group); an integer array of the per-example
            feature shape (or of a leading part of it, broadcast over the rest: ``arange(T)``
            groups a (T, width) embedding by token) numbering groups 0..G−1; or a mapping of
            group names to flat feature indices that covers every feature once, such as
            :attr:`intgrad.tabular.TabularSchema.groups`.
        labels: one name per group; default the mapping's keys or the group ids.
        max_groups: the most groups the full matrix is computed for (it costs one
            Hessian-vector product per group and path point); ``None``: no limit.
        batch_size: rows (Hessian-vector products) per model call; bounds memory.
        additional_forward_args: extra model arguments, as :func:`intgrad.integrated_gradients`.
        seed: for the random named baselines.
        backend, output, layer: as :func:`intgrad.integrated_gradients`; with a ``layer`` the
            interactions are those of its activations (token × token at an embedding layer).
        progress: called as ``progress(done, total)`` with Hessian-vector product rows.

    Returns:
        :class:`Interactions`.
    """
    name = method or DEFAULT_METHOD
    schedule = QuadratureSchedule(quadrature_rule(name, steps), name, baselines, seed)
    options = _options(
        target, features, groups, labels, max_groups, batch_size, additional_forward_args, progress
    )
    session = {"backend": backend, "output": output, "layer": layer}
    return _run(model, inputs, schedule, "integrated_hessians", options, session)


def expected_hessians(
    model: Any,
    inputs: Any,
    *,
    background: Any,
    samples: int = 64,
    seed: int | None = None,
    target: object = None,
    features: int | str | Sequence[int | str] | None = None,
    groups: object = None,
    labels: Sequence[str] | None = None,
    max_groups: int | None = DEFAULT_MAX_GROUPS,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    layer: object = None,
    progress: Callable[[int, int], None] | None = None,
) -> Interactions:
    """Expected Hessians: Integrated Hessians averaged over references drawn from a background.

    Per example and sample, a reference x′ is drawn from ``background`` and α, β ~ U(0, 1);
    the sample's interactions are Δ_i Δ_j t H_ij(γ(t)) + δ_ij Δ_i ∂_i F(γ(t)) at t = αβ
    (Janizek et al. 2021), summed over the groups. One more product along all of Δ per
    sample gives the Expected Gradients attributions. Standard errors come with both.

    Args:
        model, inputs, target, features, groups, labels, max_groups, batch_size,
            additional_forward_args, backend, output, layer, progress: as
            :func:`integrated_hessians`.
        background: references, shape (references, ...) like the inputs' rows (model inputs,
            also with a layer), a framework tensor or array; drawn with replacement.
        samples: samples per example (>= 2).
        seed: seeds the draws; the same seed gives the same references and points.

    Returns:
        :class:`Interactions` with ``standard_error`` and ``attribution_error``.
    """
    schedule = SampledSchedule(background, samples, seed)
    options = _options(
        target, features, groups, labels, max_groups, batch_size, additional_forward_args, progress
    )
    session = {"backend": backend, "output": output, "layer": layer}
    return _run(model, inputs, schedule, "expected_hessians", options, session)


def _options(
    target: object,
    features: object,
    groups: object,
    labels: Sequence[str] | None,
    max_groups: int | None,
    batch_size: int | None,
    additional_forward_args: Any,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    return {
        "target": target,
        "features": features,
        "groups": groups,
        "labels": labels,
        "max_groups": max_groups,
        "batch_size": batch_size,
        "additional_forward_args": additional_forward_args,
        "progress": progress,
    }
