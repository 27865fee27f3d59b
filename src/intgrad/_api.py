"""The public entry points: :func:`integrated_gradients` and Captum's ``IntegratedGradients``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from intgrad._core.adaptive import AdaptiveSettings
from intgrad._core.backend import Acceleration
from intgrad._core.engine import AttributionRequest, normalise_targets, run
from intgrad._core.quadrature import QuadratureRule, quadrature_rule
from intgrad._core.result import Attribution
from intgrad.backends._common import validate_output
from intgrad.backends._registry import select_backend

__all__ = ["DEFAULT_METHOD", "IntegratedGradients", "integrated_gradients"]

DEFAULT_METHOD = "gausslegendre"


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _validate_batch_size(batch_size: object) -> int | None:
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return batch_size


def _validate_inputs(inputs: tuple[Any, ...]) -> None:
    if not inputs:
        raise ValueError("inputs must be a tensor or a non-empty tuple of tensors")
    for position, x in enumerate(inputs):
        if len(x.shape) == 0:
            raise ValueError(f"inputs[{position}] must have a batch axis first, got a scalar")
    sizes = {int(x.shape[0]) for x in inputs}
    if len(sizes) != 1:
        raise ValueError(f"all inputs must have the same batch size, got {sorted(sizes)}")


def _integration_plan(
    steps: object,
    method: str | None,
    tolerance: float,
    attribution_tolerance: float | None,
    max_steps: int,
) -> tuple[AdaptiveSettings | None, QuadratureRule, str]:
    """The adaptive settings (or None), the fixed rule and the method name reported back."""
    if steps == "auto":
        if method is not None:
            raise ValueError("method applies to a fixed number of steps; omit it with steps='auto'")
        settings = AdaptiveSettings(tolerance, attribution_tolerance, max_steps).checked()
        return settings, quadrature_rule("gausslegendre", 1), "auto"
    if isinstance(steps, str):
        raise ValueError(f"steps must be a positive int or 'auto', got {steps!r}")
    name = method or DEFAULT_METHOD
    return None, quadrature_rule(name, steps), name  # type: ignore[arg-type]


def integrated_gradients(
    model: Any,
    inputs: Any,
    *,
    baselines: object = None,
    target: object = None,
    steps: int | Literal["auto"] = 50,
    method: str | None = None,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    output: str | Callable[[Any], Any] | None = None,
    return_delta: bool = True,
    return_path: bool = False,
    seed: int | None = None,
    backend: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    tolerance: float = 0.01,
    attribution_tolerance: float | None = None,
    max_steps: int = 513,
    autocast: Literal["bfloat16", "float16"] | None = None,
    compile_model: bool | str = False,
    allow_tf32: bool = False,
    channels_last: bool | None = None,
) -> Attribution:
    """Attribute the model's selected output to its inputs with Integrated Gradients.

    Args:
        model: a model or callable of the inputs' framework, mapping inputs of shape
            (examples, ...) to outputs of shape (examples, classes) — or (examples,) when
            ``target`` is None.
        inputs: a tensor of shape (examples, ...) or a tuple of such tensors (one per model
            argument). Floating point. Attributions come back with the same structure.
        baselines: the reference x′. ``None``/"black"/"zeros" (default), "white", "uniform",
            "gaussian", "blur", a number, a tensor broadcastable to the input, a tuple with one
            of these per input, or a *list* of baselines whose attributions are averaged.
        target: which output to explain: an int, one int per example, or None for models
            returning a single value per example. Indexes the flattened per-example output.
        steps: number of gradient evaluations along the path (the paper suggests 20–300), or
            "auto": a forward-only pilot places the evaluations where the path needs them and
            refinement stops once ``tolerance`` and ``attribution_tolerance`` are met (see
            ``intgrad._core.adaptive``); the completeness check then comes from the pilot.
        method: quadrature rule for a fixed ``steps``: "gausslegendre" (default),
            "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle".
        batch_size: the most path points (examples × steps) per model call; bounds memory.
            Default: about 2^20 input elements on the CPU (6 rows of a 224×224 RGB image),
            2^24 on a GPU.
        additional_forward_args: extra positional model arguments after the inputs. Tensors
            of the inputs' framework whose first axis has one entry per example are repeated
            along the path; anything else is passed as it is.
        output: None (raw outputs), "probability" (softmax over the last axis, as in the
            TensorFlow tutorial) or a callable applied to the raw outputs.
        return_delta: compute the completeness gap (two extra forward passes per example).
        return_path: record F and the mean gradient at every path point (saturation plots).
        seed: seed for the "uniform" and "gaussian" baselines.
        backend: "torch", "tensorflow" or "jax" to force a framework; default: detected from
            the inputs' tensor type, then the model's type.
        progress: called as ``progress(done, total)`` (gradient evaluations, all examples and
            baselines together) after each chunk, e.g. to drive a progress bar. With
            ``steps="auto"`` the total is the most it may take; it ends with ``(done, done)``.
        tolerance: with ``steps="auto"``, the largest relative completeness gap accepted.
        attribution_tolerance: with ``steps="auto"``, the largest estimated relative L2 error
            of the attributions; default ``3 * tolerance``.
        max_steps: with ``steps="auto"``, the most gradient evaluations per example and
            baseline (levels have 7, 13, 25, 49, 97, 193, 385 evaluations).
        autocast: torch only: ``"bfloat16"`` or ``"float16"`` runs the model under
            ``torch.autocast`` (mixed precision, for GPUs); gradients are still summed in
            float32. Costs accuracy: see docs/benchmarks-gpu.md for measured errors.
        compile_model: torch only: ``True`` runs ``torch.compile(model)`` (static shapes,
            chunks padded to one size); a string picks the compile mode, e.g.
            ``"reduce-overhead"`` (CUDA graphs). The first call compiles (tens of seconds);
            later calls with the same shapes reuse the compiled code. The model is not changed.
        allow_tf32: torch only: keep PyTorch's TF32 convolutions and matrix products on GPUs.
            By default intgrad computes float32 models in full float32 during the call (the
            global flags are restored after): TF32 put a 3 % L2 error into attributions on an
            H100, at no gain in speed on the embedded model.
        channels_last: torch only: run a private channels-last copy of a convolutional model
            with 4-D inputs. ``None`` (default): on the CPU, for models without hooks and up to
            512 MiB of parameters (15–19 % less time on the embedded model); ``True``: also
            on GPUs and with hooks (hooks then see the copy's modules); ``False``: never. The
            user's model is never converted.

    Returns:
        An :class:`~intgrad.Attribution`.

    References:
        Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML.
    """
    single = not isinstance(inputs, (tuple, list))
    raw_inputs = _as_tuple(inputs)
    chosen = select_backend(model, raw_inputs, backend).accelerated(
        Acceleration(autocast, compile_model, allow_tf32, channels_last)
    )
    prepared = chosen.prepare_inputs(raw_inputs)
    _validate_inputs(prepared)
    adaptive, rule, method_name = _integration_plan(
        steps, method, tolerance, attribution_tolerance, max_steps
    )
    request = AttributionRequest(
        rule=rule,
        adaptive=adaptive,
        method=method_name,
        baselines=baselines,
        targets=normalise_targets(target, int(prepared[0].shape[0]), chosen),
        batch_size=_validate_batch_size(batch_size),
        additional_forward_args=_as_tuple(additional_forward_args),
        output=validate_output(output),
        compute_delta=return_delta,
        return_path=return_path,
        seed=seed,
        progress=progress,
    )
    with chosen.model_guard(model, prepared) as model_fn:
        result = run(chosen, model_fn, prepared, request)
    if single:
        return _replace_attributions(result, result.attributions[0])
    return result


def _replace_attributions(result: Attribution, attributions: Any) -> Attribution:
    import dataclasses

    return dataclasses.replace(result, attributions=attributions)


class IntegratedGradients:
    """Captum-compatible front end: ``IntegratedGradients(model).attribute(inputs, ...)``.

    Argument names follow ``captum.attr.IntegratedGradients`` so code can switch by changing an
    import; the rules are ours (the trapezoid rule's weights sum to 1).
    """

    def __init__(self, forward_func: Any, multiply_by_inputs: bool = True) -> None:
        if not multiply_by_inputs:
            raise ValueError("multiply_by_inputs=False is not supported: IG multiplies by x − x′")
        self.forward_func = forward_func

    def attribute(
        self,
        inputs: Any,
        baselines: object = None,
        target: object = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
    ) -> Any:
        """Attributions like Captum's; with ``return_convergence_delta`` also the signed gap."""
        result = integrated_gradients(
            self.forward_func,
            inputs,
            baselines=baselines,
            target=target,
            steps=n_steps,
            method=method,
            batch_size=internal_batch_size,
            additional_forward_args=additional_forward_args,
            return_delta=return_convergence_delta,
        )
        if return_convergence_delta:
            return result.attributions, result.delta
        return result.attributions
