"""An explanation session: one model, its backend and compiled steps, many attribution calls.

:class:`Explainer` holds what does not change between calls — the backend, the model, the layer
to attribute to, the output transform and the path — and keeps the compiled chunk steps (keyed
on the program's static content; the frameworks key their traces on shapes and dtypes), so the
second and later calls of the same shapes cost the compute they do and little more. Calls from
several threads on one session are safe: nothing process-wide is changed under another call.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from intgrad._core.adaptive import AdaptiveSettings, accumulator_slots, adaptive, max_nodes
from intgrad._core.arguments import ArgumentLayout, as_argument_tuple
from intgrad._core.backend import Acceleration, Backend, CallArrays, LayerBinding, Program
from intgrad._core.baselines import BaselineRule, resolve_baselines
from intgrad._core.chunks import balanced_chunk_rows, default_chunk_rows
from intgrad._core.layers import is_layer_pair
from intgrad._core.loop import PlanGenerator, Planner, PlanReport, Steps, combine_rows, integrate
from intgrad._core.paths import AtEnds, Path, StraightLine
from intgrad._core.planners import fixed_rule, once_per_example
from intgrad._core.primitives import ArrayOps
from intgrad._core.quadrature import QuadratureRule, quadrature_rule
from intgrad._core.result import Attribution
from intgrad._core.targets import check_targets, normalise_targets, validate_output

__all__ = ["DEFAULT_METHOD", "Explainer", "PathMethod", "PlannerFactory", "validate_inputs"]

DEFAULT_METHOD = "gausslegendre"


def _validate_batch_size(batch_size: object) -> int | None:
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def validate_inputs(inputs: tuple[Any, ...]) -> int:
    """The batch size of prepared ``inputs``; ``ValueError`` unless all share a non-empty one."""
    if not inputs:
        raise ValueError("inputs must be a tensor or a non-empty tuple of tensors")
    for position, x in enumerate(inputs):
        if len(x.shape) == 0:
            raise ValueError(f"inputs[{position}] must have a batch axis first, got a scalar")
    sizes = {int(x.shape[0]) for x in inputs}
    if len(sizes) != 1:
        raise ValueError(f"all inputs must have the same batch size, got {sorted(sizes)}")
    (size,) = sizes
    if size == 0:
        raise ValueError("inputs must hold at least one example")
    return size


@dataclass(frozen=True)
class _Integration:
    """How the path integral is computed: a fixed rule, or the adaptive settings."""

    rule: QuadratureRule | None
    settings: AdaptiveSettings | None
    method: str

    @staticmethod
    def of(
        steps: object,
        method: str | None,
        tolerance: float,
        attribution_tolerance: float | None,
        max_steps: int,
    ) -> _Integration:
        if steps == "auto":
            if method is not None:
                raise ValueError(
                    "method applies to a fixed number of steps; omit it with steps='auto'"
                )
            settings = AdaptiveSettings(tolerance, attribution_tolerance, max_steps).checked()
            return _Integration(None, settings, "auto")
        if isinstance(steps, str):
            raise ValueError(f"steps must be a positive int or 'auto', got {steps!r}")
        name = method or DEFAULT_METHOD
        return _Integration(quadrature_rule(name, steps), None, name)  # type: ignore[arg-type]

    def most_steps(self) -> int:
        if self.settings is not None:
            return max_nodes(self.settings.max_steps)
        assert self.rule is not None
        return int(self.rule.alphas.shape[0])


class _Progress:
    """Turns per-chunk row counts into ``progress(done, total)`` calls."""

    def __init__(self, report: Callable[[int, int], None] | None, total: int) -> None:
        self.report, self.total, self.done = report, total, 0

    def __call__(self, rows: int) -> None:
        self.done += rows
        if self.report is not None:
            self.report(self.done, self.total)

    def finish(self) -> None:
        """Report completion (the adaptive mode may stop before its planned total)."""
        if self.report is not None and self.done != self.total:
            self.report(self.done, self.done)


def _check_finite(name: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(np.asarray(values).reshape(values.shape[0], -1)).all(1))
    if bad.size:
        raise ValueError(
            f"{name} contain NaN or inf for example(s) {bad.tolist()[:10]}: the model's outputs "
            "or gradients are not finite along the path"
        )


class PlannerFactory(Protocol):
    """Makes the planner of one call (see ``planners.py``): which rows, in which order."""

    rows_per_slot: int
    """The most gradient rows the planner evaluates per slot (sizes chunks and progress)."""

    method: str
    """How the planner places its rows, reported as :attr:`Attribution.method`."""

    def __call__(
        self, owners: np.ndarray, num_examples: int, compute_delta: bool, record: bool
    ) -> PlanGenerator: ...


@dataclass(frozen=True)
class PathMethod:
    """A member of the IG family as the engine runs it: a path, a planner and a name.

    Attributes:
        path: which points the rows evaluate and what each adds (``paths.py``).
        planner: the planner, or ``None`` for the call's quadrature rule (or ``steps="auto"``).
        name: reported as :attr:`Attribution.algorithm`.
    """

    path: Path
    planner: PlannerFactory | None = None
    name: str = "integrated_gradients"


class Explainer:
    """Integrated Gradients of one model, for many calls.

    Args:
        model: a model of the inputs' framework (see :func:`intgrad.integrated_gradients`).
        backend: ``"torch"``, ``"tensorflow"``, ``"jax"`` (or ``"numpy"``, the reference
            backend for :class:`~intgrad.backends.numpy.ClosedForm` models), or a backend
            object; default: detected from the first call's inputs, then the model's type.
        layer: attribute to a layer's activations instead of the model's inputs: a torch
            module (or a tuple of modules that do not feed each other), a Keras layer of a
            functional or sequential model, or in any framework a pair ``(embed_fn, head_fn)``
            with ``model(x, *extra) == head_fn(embed_fn(x), *extra)``.
        attribute_to_layer_input: with a torch ``layer``, attribute to its input instead.
        output: ``None`` (raw outputs), ``"probability"`` (softmax) or a callable.
        multiply_by_inputs: ``False`` returns the path-averaged gradient instead of
            attributions (Captum's option of that name); the completeness check still
            measures the attributions.
        autocast, compile_model, allow_tf32, channels_last: the torch levers of
            :func:`intgrad.integrated_gradients`.
    """

    def __init__(
        self,
        model: Any,
        *,
        backend: str | Backend | None = None,
        layer: object = None,
        attribute_to_layer_input: bool = False,
        output: str | Callable[[Any], Any] | None = None,
        multiply_by_inputs: bool = True,
        autocast: Literal["bfloat16", "float16"] | None = None,
        compile_model: bool | str = False,
        allow_tf32: bool = False,
        channels_last: bool | None = None,
    ) -> None:
        if not isinstance(multiply_by_inputs, bool):
            raise TypeError(f"multiply_by_inputs must be a bool, got {multiply_by_inputs!r}")
        self.model = model
        self.layer = layer
        self.attribute_to_layer_input = bool(attribute_to_layer_input)
        self.output = validate_output(output)
        self.path = StraightLine(multiply_by_inputs)
        # Layer hooks live on the user's modules, so the model itself must run, not a copy.
        if layer is not None and channels_last is None:
            channels_last = False
        self._acceleration = Acceleration(autocast, compile_model, allow_tf32, channels_last)
        self._acceleration.checked()
        self._backend_name = backend
        self._backend: Backend | None = None
        self._steps: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by ``x − x′`` (Captum's property name)."""
        return bool(self.path.multiply_by_inputs)

    def resolve_backend(self, inputs: Sequence[Any]) -> Backend:
        """The session's backend, chosen on its first call from ``inputs`` and the model.

        For family members that move arrays between host and framework themselves.
        """
        from intgrad.backends._registry import select_backend

        with self._lock:
            if self._backend is None:
                chosen = (
                    select_backend(self.model, inputs, self._backend_name)
                    if self._backend_name is None or isinstance(self._backend_name, str)
                    else self._backend_name
                )
                self._backend = chosen.accelerated(self._acceleration)
            return self._backend

    def _steps_for(self, ops: ArrayOps, program: Program, path: Path) -> Steps:
        steps: Steps = self.compiled(
            program, ("path", path.key), lambda: Steps(ops, program, path, self.output)
        )
        return steps

    def compiled(self, program: Program, key: Hashable, make: Callable[[], Any]) -> Any:
        """A compiled step of this session for ``program``, made by ``make`` once per ``key``.

        Kept for the session's life, so later calls of the same shapes reuse the framework's
        traces; an eager backend (``program.key`` is ``None``) has nothing to keep and gets a
        fresh one. The key also holds the output transform. Used by the family's own loops
        (Integrated Hessians) as well as the path steps.
        """
        if program.key is None:
            return make()
        output_key = ("id", id(self.output)) if callable(self.output) else self.output
        full = (program.key, key, output_key)
        with self._lock:
            if full not in self._steps:
                self._steps[full] = make()
            return self._steps[full]

    def attribute(
        self,
        inputs: Any,
        *,
        baselines: object = None,
        target: object = None,
        steps: int | Literal["auto"] = 50,
        method: str | None = None,
        batch_size: int | None = None,
        additional_forward_args: Any = None,
        return_delta: bool = True,
        return_path: bool = False,
        seed: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        tolerance: float = 0.01,
        attribution_tolerance: float | None = None,
        max_steps: int = 513,
        layer_baselines: object = None,
    ) -> Attribution:
        """Attribute the selected output; arguments as :func:`intgrad.integrated_gradients`.

        ``layer_baselines`` (with a ``layer``): the start activations themselves, a tensor
        (or a tuple per layer tensor) broadcastable to the layer's activations, instead of
        ``baselines`` given as model inputs.
        """
        return self.run(
            PathMethod(self.path),
            inputs,
            baselines=baselines,
            target=target,
            steps=steps,
            method=method,
            batch_size=batch_size,
            additional_forward_args=additional_forward_args,
            return_delta=return_delta,
            return_path=return_path,
            seed=seed,
            progress=progress,
            tolerance=tolerance,
            attribution_tolerance=attribution_tolerance,
            max_steps=max_steps,
            layer_baselines=layer_baselines,
        )

    def evaluate(
        self,
        inputs: Any,
        *,
        target: object = None,
        batch_size: int | None = None,
        additional_forward_args: Any = None,
    ) -> np.ndarray:
        """The selected output F at each example: shape (examples,), float64, forward only.

        Arguments as :meth:`attribute`; what the metrics perturb and score.
        """
        result = self.run(
            PathMethod(AtEnds(), once_per_example(gradients=False), "evaluate"),
            inputs,
            target=target,
            batch_size=batch_size,
            additional_forward_args=additional_forward_args,
            return_delta=False,
        )
        assert result.f_input is not None
        return result.f_input

    def gradients(
        self,
        inputs: Any,
        *,
        target: object = None,
        batch_size: int | None = None,
        additional_forward_args: Any = None,
    ) -> Attribution:
        """The gradient ∂F/∂x at each example (saliency; Simonyan et al. 2014), with F(x).

        ``attributions`` holds the gradients in the inputs' structure; ``f_input`` is F(x);
        there is no baseline and no completeness check (``delta`` is ``None``).
        """
        return self.run(
            PathMethod(AtEnds(), once_per_example(gradients=True), "gradient"),
            inputs,
            target=target,
            batch_size=batch_size,
            additional_forward_args=additional_forward_args,
            return_delta=False,
            return_path=True,  # F comes back with the gradients, not from a second pass
        )

    def run(
        self,
        path_method: PathMethod,
        inputs: Any,
        *,
        baselines: object = None,
        target: object = None,
        steps: int | Literal["auto"] = 50,
        method: str | None = None,
        batch_size: int | None = None,
        additional_forward_args: Any = None,
        return_delta: bool = True,
        return_path: bool = False,
        seed: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        tolerance: float = 0.01,
        attribution_tolerance: float | None = None,
        max_steps: int = 513,
        layer_baselines: object = None,
    ) -> Attribution:
        """One call of any member of the IG family: :meth:`attribute`'s arguments, and the
        path and planner of ``path_method`` (``steps``/``method`` apply where its planner is
        the quadrature rule). The building block of ``intgrad.family``."""
        single = not isinstance(inputs, (tuple, list))
        raw = (inputs,) if single else tuple(inputs)
        backend = self.resolve_backend(raw)
        prepared = backend.prepare_inputs(raw, allow_integer=self.layer is not None)
        num_examples = validate_inputs(prepared)
        integration = _Integration.of(steps, method, tolerance, attribution_tolerance, max_steps)
        if layer_baselines is not None and self.layer is None:
            raise ValueError("layer_baselines needs a layer; pass baselines= instead")
        if layer_baselines is not None and baselines is not None:
            raise ValueError("pass either baselines (inputs) or layer_baselines, not both")
        request = _Request(
            integration=integration,
            targets=normalise_targets(target, num_examples, backend.to_numpy),
            rules=resolve_baselines(baselines, len(prepared), seed),
            layer_rules=(
                None
                if layer_baselines is None
                else resolve_baselines(layer_baselines, _layer_count(layer_baselines), seed)
            ),
            extras=as_argument_tuple(additional_forward_args),
            batch_size=_validate_batch_size(batch_size),
            compute_delta=bool(return_delta),
            record=bool(return_path),
            progress=progress,
            path_method=path_method,
        )
        with backend.model_guard(self.model, prepared) as model_fn:
            result, layer_single = self._run(backend, model_fn, prepared, num_examples, request)
        if single if self.layer is None else layer_single:
            return dataclasses.replace(result, attributions=result.attributions[0])
        return result

    def _bind(
        self,
        backend: Backend,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        request: _Request,
        layout: ArgumentLayout,
    ) -> tuple[Program, tuple[Any, ...], list[tuple[Any, ...]], tuple[Any, ...], bool]:
        """The program, the path's ends and per-baseline starts, extra row arrays, single."""
        if self.layer is None:
            program = backend.program(model_fn, layout)
            starts = [
                tuple(backend.make_baseline(r, x) for r, x in zip(rules, inputs, strict=True))
                for rules in request.rules
            ]
            return program, inputs, starts, (), False
        baseline_inputs: list[tuple[Any, ...]] = (
            []
            if request.layer_rules is not None
            else [
                tuple(backend.make_baseline(r, x) for r, x in zip(rules, inputs, strict=True))
                for rules in request.rules
            ]
        )
        binding: LayerBinding = backend.layer_program(
            model_fn,
            self.layer,
            self.attribute_to_layer_input,
            layout,
            request.extras,
            inputs,
            baseline_inputs,
        )
        starts = binding.starts
        if request.layer_rules is not None:
            if any(len(rules) != len(binding.ends) for rules in request.layer_rules):
                raise ValueError(
                    f"layer_baselines must give one baseline per layer tensor ({len(binding.ends)})"
                )
            starts = [
                tuple(backend.make_baseline(r, a) for r, a in zip(rules, binding.ends, strict=True))
                for rules in request.layer_rules
            ]
        several = isinstance(self.layer, (tuple, list)) and not is_layer_pair(self.layer)
        single = len(binding.ends) == 1 and not several
        return binding.program, binding.ends, starts, binding.row_args, single

    def _run(
        self,
        backend: Backend,
        model_fn: Callable[..., Any],
        inputs: tuple[Any, ...],
        num_examples: int,
        request: _Request,
    ) -> tuple[Attribution, bool]:
        ops = backend.ops(inputs)
        layout, row_extras, fixed_extras = ArgumentLayout.split(
            request.extras, backend.is_native, num_examples
        )
        program, ends, starts, row_args, layer_single = self._bind(
            backend, model_fn, inputs, request, layout
        )
        path = request.path_method.path
        steps = self._steps_for(ops, program, path)
        num_starts = len(starts)
        owners = np.tile(np.arange(num_examples, dtype=np.int64), num_starts)
        arrays = CallArrays(
            ends=ends,
            starts=tuple(ops.concat(group) for group in zip(*starts, strict=True))
            if num_starts > 1
            else starts[0],
            targets=tuple(ops.from_host(t.astype(np.int32)) for t in request.targets),
            row_args=(*row_args, *row_extras),
            fixed=(*program.fixed, *fixed_extras),
            start_owner=ops.from_host(owners.astype(np.int32)),
        )
        features = sum(int(np.prod(ops.shape(e)[1:])) for e in ends)
        planner_factory = request.path_method.planner
        planned = owners.size * (
            request.integration.most_steps()
            if planner_factory is None
            else planner_factory.rows_per_slot
        )
        most_rows = request.batch_size or default_chunk_rows(
            features, planned, backend.chunk_elements(inputs)
        )
        adaptive_mode = planner_factory is None and request.integration.settings is not None
        # The adaptive mode's plan is only an upper bound: even chunks over it would mean nothing.
        chunk_rows = (
            min(most_rows, planned) if adaptive_mode else balanced_chunk_rows(most_rows, planned)
        )
        progress = _Progress(request.progress, planned)
        planner = Planner(self._planner(request, owners, num_examples, chunk_rows), request.record)
        working = _accumulator_arrays(ops, arrays, owners, path) if adaptive_mode else arrays
        state = tuple(ops.zeros(s) for s in working.starts)

        def check() -> None:
            for shape in list(steps.output_shapes):
                check_targets(request.targets, shape)

        state = integrate(steps, working, state, planner, chunk_rows, progress, check)
        progress.finish()
        report = planner.report
        if report.combination is not None:
            state = combine_rows(ops, state, report.combination)
        result = self._finish(ops, arrays, state, report, request, num_starts, num_examples)
        return result, layer_single

    def _planner(
        self, request: _Request, owners: np.ndarray, num_examples: int, chunk_rows: int
    ) -> PlanGenerator:
        factory = request.path_method.planner
        if factory is not None:
            return factory(owners, num_examples, request.compute_delta, request.record)
        integration = request.integration
        if integration.settings is not None:
            return adaptive(integration.settings, owners, num_examples, chunk_rows, request.record)
        assert integration.rule is not None
        return fixed_rule(
            integration.rule, owners, num_examples, request.compute_delta, request.record
        )

    def _finish(
        self,
        ops: ArrayOps,
        arrays: CallArrays,
        state: tuple[Any, ...],
        report: PlanReport,
        request: _Request,
        num_starts: int,
        num_examples: int,
    ) -> Attribution:
        path = request.path_method.path
        per_slot = path.slot_attributions(ops, arrays, state)
        if isinstance(path, StraightLine) and not path.multiply_by_inputs:
            multiplied = StraightLine(True).slot_attributions(ops, arrays, state)
        else:
            multiplied = per_slot
        slot_sums = sum(ops.to_host(ops.row_sums(a)) for a in multiplied)
        slot_sums = np.asarray(slot_sums, dtype=np.float64)
        _check_finite("attributions", slot_sums.reshape(-1, 1))
        attributions = tuple(
            ops.cast(_mean_over_starts(ops, a, end, arrays, num_starts), end)
            for a, end in zip(per_slot, arrays.ends, strict=True)
        )
        sums = slot_sums.reshape(num_starts, num_examples)
        deltas = f_baseline = None
        if report.f_input is not None and report.f_start is not None:
            f_starts = report.f_start.reshape(num_starts, num_examples)
            _check_finite(
                "model outputs at the input and baseline",
                np.concatenate([report.f_input[None], f_starts]).T,
            )
            deltas = sums - (report.f_input[None, :] - f_starts)
            f_baseline = f_starts.mean(axis=0)
        steps_per_example = report.steps.reshape(num_starts, num_examples).sum(axis=0)
        estimated = report.estimated_error
        rules = request.layer_rules if request.layer_rules is not None else request.rules
        return Attribution(
            attributions=attributions,
            delta=None if deltas is None else deltas.mean(axis=0),
            f_input=report.f_input,
            f_baseline=f_baseline,
            baseline_deltas=deltas,
            attribution_sums=sums.mean(axis=0),
            steps=int(steps_per_example.max()),
            forward_evaluations=report.forward_evaluations,
            method=request.integration.method
            if request.path_method.planner is None
            else request.path_method.planner.method,
            target=_reported_targets(request.targets),
            baselines=tuple("+".join(sorted({r.describe() for r in rules_k})) for rules_k in rules),
            paths=report.paths,
            estimated_error=None
            if estimated is None
            else estimated.reshape(num_starts, num_examples).max(axis=0),
            steps_per_example=steps_per_example,
            algorithm=request.path_method.name,
        )


def _reported_targets(targets: tuple[np.ndarray, ...]) -> np.ndarray | None:
    if not targets:
        return None
    if len(targets) == 1:
        return targets[0]
    return np.stack(targets, axis=1)


def _accumulator_arrays(
    ops: ArrayOps, arrays: CallArrays, owners: np.ndarray, path: Path
) -> CallArrays:
    """The call's arrays with one start per accumulator row of the adaptive planner (its cells
    each accumulate apart; see :func:`intgrad._core.adaptive.accumulator_slots`)."""
    if not path.per_start:
        raise ValueError("steps='auto' needs a path that accumulates one slot per start point")
    slot_of_row = accumulator_slots(owners.size)
    index = ops.from_host(slot_of_row.astype(np.int32))
    return arrays._replace(
        starts=tuple(ops.take(start, index) for start in arrays.starts),
        start_owner=ops.from_host(owners[slot_of_row].astype(np.int32)),
    )


def _mean_over_starts(
    ops: ArrayOps, per_slot: Any, end: Any, arrays: CallArrays, starts: int
) -> Any:
    """Average the slots of each example: shape (starts, ...) to ``end``'s (examples, ...)."""
    if starts == 1:
        return per_slot
    return ops.scatter_add(ops.zeros(end), arrays.start_owner, per_slot) * (1.0 / starts)


def _layer_count(layer_baselines: object) -> int:
    return len(layer_baselines) if isinstance(layer_baselines, tuple) else 1


@dataclass(frozen=True)
class _Request:
    """One call's validated arguments."""

    integration: _Integration
    targets: tuple[np.ndarray, ...]
    rules: list[tuple[BaselineRule, ...]]
    layer_rules: list[tuple[BaselineRule, ...]] | None
    extras: tuple[Any, ...]
    batch_size: int | None
    compute_delta: bool
    record: bool
    progress: Callable[[int, int], None] | None
    path_method: PathMethod
