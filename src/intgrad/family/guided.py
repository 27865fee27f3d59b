"""Guided Integrated Gradients: an adaptive path that moves the least important features first.

The path is chosen on the host by :mod:`intgrad._core.guided` (framework-free, NumPy); the
gradients at its points come from :meth:`~intgrad.Explainer.gradients`, one call per step for
the whole batch (chunked by ``batch_size``), so it runs in every framework the engine runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad._core.baselines import resolve_baselines
from intgrad._core.guided import GuidedSettings, guided_path_integral
from intgrad._core.primitives import ArrayOps
from intgrad._core.result import Attribution
from intgrad._core.session import Explainer, validate_inputs
from intgrad._core.targets import normalise_targets
from intgrad.family._session import as_explainer

__all__ = ["guided_ig"]


def guided_ig(
    model: Any,
    inputs: Any,
    *,
    baselines: object = None,
    target: object = None,
    steps: int = 128,
    fraction: float = 0.25,
    max_dist: float = 1.0,
    reweight: str | None = None,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    return_delta: bool = True,
    seed: int | None = None,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Attribution:
    """Attribute the selected output with Guided Integrated Gradients.

    At each of ``steps`` steps the gradient is taken at the current point of every example and
    the features with the smallest |gradient| (the lowest ``fraction`` of an example's
    features, over all its input tensors together) move towards the input, until the example
    has covered 1/``steps`` of its L1 distance from baseline to input; each move adds
    ``Δxᵢ · ∂F/∂xᵢ``. The path ends exactly at the input, so ``delta`` is the discretisation
    error of the path sum and shrinks as ``steps`` grows.

    Args:
        model: a model of the inputs' framework (see :func:`intgrad.integrated_gradients`) or
            an :class:`~intgrad.Explainer` (without a layer).
        inputs: a tensor of shape (examples, ...) or a tuple of such tensors; floating point.
        baselines: one baseline x′ (as :func:`intgrad.integrated_gradients`: a name, a number,
            a tensor broadcastable to the input, or a tuple with one per input); default black.
            A list of several baselines is refused: Guided IG follows one path per example.
        target: which output to explain, as :func:`intgrad.integrated_gradients`.
        steps: gradient evaluations per example, >= 1 (the paper and PAIR use 128–200).
        fraction: the share of an example's features moved at once, in (0, 1]; features
            already at the end of their range count as having infinite gradient (PAIR's rule).
        max_dist: how far, in α, a feature may stray from the straight line, in [0, 1]: 1 is
            the unbounded method (the paper's Algorithm 1), 0 is Integrated Gradients with a
            left Riemann sum; PAIR's anchored default is 0.02.
        reweight: ``None`` (Guided IG as published) or ``"idgi"``: each step's change of F
            along the guided path is spread over the features by g ⊙ g / Σ g² (Yang, Wang &
            Bilen 2023), so the attributions add up to F(x) − F(x′) exactly (``algorithm``
            "idgi:guided_ig"; one more forward pass at the inputs, always made).
        batch_size: the most points per model call (default: as the engine decides).
        additional_forward_args: extra model arguments, as :func:`intgrad.integrated_gradients`.
        return_delta: report completeness: one forward pass at the inputs (F at the baselines
            comes with the first step's gradients).
        seed: seed for the "uniform" and "gaussian" baselines.
        backend, output: as :func:`intgrad.integrated_gradients` (with a model, not a session).
        progress: ``progress(done, total)`` in gradient evaluations after each step.

    Returns:
        An :class:`~intgrad.Attribution` with ``algorithm="guided_ig"``, ``method="guided"``,
        ``steps`` gradient evaluations per example and ``delta = Σ attributions − (F(x) −
        F(x′))``. Attributions have the inputs' structure, dtype and device.

    References:
        Kapishnikov, Venugopalan, Avci, Wedin, Terry & Bolukbasi (2021), "Guided Integrated
        Gradients: an Adaptive Path Method for Removing Noise", CVPR.
    """
    if reweight not in (None, "idgi"):
        raise ValueError(f"reweight must be None or 'idgi', got {reweight!r}")
    explainer = as_explainer(model, backend=backend, output=output)
    _check_explainer(explainer)
    settings = GuidedSettings(steps, fraction, max_dist).checked()
    call = _Call.of(explainer, inputs, baselines, target, seed)
    examples = call.examples

    def gradients_at(points: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return call.gradients(points, batch_size, additional_forward_args)

    def f_at_inputs() -> np.ndarray:
        return explainer.evaluate(
            inputs,
            target=call.target,
            batch_size=batch_size,
            additional_forward_args=additional_forward_args,
        )

    total = settings.steps * examples
    ends: dict[str, np.ndarray] = {}

    def f_end() -> np.ndarray:
        ends["f_input"] = f_at_inputs()
        return ends["f_input"]

    outcome = guided_path_integral(
        call.flat.join([call.ops.to_host(x) for x in call.prepared]),
        call.flat.join([call.ops.to_host(s) for s in call.starts]),
        gradients_at,
        settings,
        None if progress is None else lambda done: progress(done * examples, total),
        f_end=f_end if reweight == "idgi" else None,
    )
    f_input = ends.get("f_input")
    if return_delta and f_input is None:
        f_input = f_at_inputs()
    result = call.attribution(outcome.attributions, f_input, outcome.f_start, settings.steps)
    if reweight == "idgi":
        result = dataclasses.replace(result, algorithm="idgi:guided_ig")
    return result


def _check_explainer(explainer: Explainer) -> None:
    if explainer.layer is not None:
        raise ValueError(
            "guided_ig attributes to the model's inputs; use an Explainer without a layer"
        )
    if not explainer.multiplies_by_inputs:
        raise ValueError(
            "guided_ig has no path-averaged gradient; use an Explainer with multiply_by_inputs=True"
        )


class _Flattened:
    """Each example's features of every input tensor as one row, and back."""

    def __init__(self, shapes: Sequence[tuple[int, ...]]) -> None:
        self.shapes = tuple(shapes)
        self.sizes = [int(np.prod(s[1:])) for s in self.shapes]

    def join(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Arrays of the input shapes → shape (examples, features), float64."""
        return np.concatenate(
            [np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1) for a in arrays], axis=1
        )

    def split(self, rows: np.ndarray) -> list[np.ndarray]:
        """Shape (examples, features) → one contiguous array per input shape."""
        cuts = np.cumsum(self.sizes)[:-1]
        return [
            np.ascontiguousarray(part).reshape(shape)
            for part, shape in zip(np.split(rows, cuts, axis=1), self.shapes, strict=True)
        ]


@dataclass(frozen=True)
class _Call:
    """One call's validated inputs, baselines and targets, and how points reach the model."""

    explainer: Explainer
    single: bool
    ops: ArrayOps
    prepared: tuple[Any, ...]
    starts: tuple[Any, ...]
    described: str
    targets: tuple[np.ndarray, ...]
    flat: _Flattened

    @staticmethod
    def of(
        explainer: Explainer, inputs: Any, baselines: object, target: object, seed: int | None
    ) -> _Call:
        single = not isinstance(inputs, (tuple, list))
        raw = (inputs,) if single else tuple(inputs)
        backend = explainer.resolve_backend(raw)
        prepared = backend.prepare_inputs(raw)
        examples = validate_inputs(prepared)
        rules = resolve_baselines(baselines, len(prepared), seed)
        if len(rules) != 1:
            raise ValueError(
                "guided_ig follows one path per example: give one baseline, not a list of "
                f"{len(rules)}"
            )
        (per_input,) = rules
        ops = backend.ops(prepared)
        return _Call(
            explainer=explainer,
            single=single,
            ops=ops,
            prepared=prepared,
            starts=tuple(
                backend.make_baseline(r, x) for r, x in zip(per_input, prepared, strict=True)
            ),
            described="+".join(sorted({r.describe() for r in per_input})),
            targets=normalise_targets(target, examples, backend.to_numpy),
            flat=_Flattened(tuple(ops.shape(x) for x in prepared)),
        )

    @property
    def examples(self) -> int:
        return int(self.ops.shape(self.prepared[0])[0])

    @property
    def target(self) -> object:
        """The targets, checked once up front, in a form every later call accepts."""
        if not self.targets:
            return None
        if len(self.targets) == 1:
            return [int(t) for t in self.targets[0]]
        return [tuple(int(t) for t in row) for row in np.stack(self.targets, axis=1)]

    def native(self, rows: np.ndarray) -> tuple[Any, ...]:
        """Host rows (examples, features) → one framework array per input, like the inputs."""
        return tuple(
            self.ops.from_host(part, like=x)
            for part, x in zip(self.flat.split(rows), self.prepared, strict=True)
        )

    def gradients(
        self, points: np.ndarray, batch_size: int | None, extras: Any
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """∂F/∂x at host ``points`` (examples, features), one batched call, and F there."""
        tensors = self.native(points)
        result = self.explainer.gradients(
            tensors[0] if self.single else tensors,
            target=self.target,
            batch_size=batch_size,
            additional_forward_args=extras,
        )
        grads = (result.attributions,) if self.single else tuple(result.attributions)
        return self.flat.join([self.ops.to_host(g) for g in grads]), result.f_input

    def attribution(
        self,
        attributions: np.ndarray,
        f_input: np.ndarray | None,
        f_start: np.ndarray | None,
        steps: int,
    ) -> Attribution:
        """The result: attributions in the inputs' structure, and the completeness report."""
        sums = attributions.sum(axis=1)
        delta = None
        if f_input is not None and f_start is not None:
            delta = sums - (f_input - f_start)
        native = self.native(attributions)
        return Attribution(
            attributions=native[0] if self.single else native,
            delta=delta,
            f_input=f_input,
            f_baseline=f_start,
            baseline_deltas=None if delta is None else delta[None, :],
            attribution_sums=sums,
            steps=steps,
            forward_evaluations=0 if f_input is None else 1,
            method="guided",
            target=_reported(self.targets),
            baselines=(self.described,),
            steps_per_example=np.full(attributions.shape[0], steps, dtype=np.int64),
            algorithm="guided_ig",
        )


def _reported(targets: tuple[np.ndarray, ...]) -> np.ndarray | None:
    """As :attr:`Attribution.target`: (examples,), (examples, indices), or ``None``."""
    if not targets:
        return None
    return targets[0] if len(targets) == 1 else np.stack(targets, axis=1)
