"""The one-shot entry point :func:`integrated_gradients`: a session used for one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from intgrad._core.result import Attribution
from intgrad._core.session import DEFAULT_METHOD, Explainer

__all__ = ["DEFAULT_METHOD", "integrated_gradients"]


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
    layer: object = None,
    attribute_to_layer_input: bool = False,
    layer_baselines: object = None,
    multiply_by_inputs: bool = True,
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
            Default: about 2^20 input elements on the CPU (6 rows of a 224×224 RGB image;
            PyTorch 5·2^17, 4 rows, which its cache suits), 2^24 on a GPU.
        additional_forward_args: extra positional model arguments after the inputs: a tuple
            of arguments, or one argument that is not a tuple (a list is one argument, as in
            Captum). Tensors of the inputs' framework whose first axis has one entry per
            example follow their example along the path; anything else is passed as it is.
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
            baseline, >= 25 (the first check: 12 cells' boundaries and midpoints).
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
            with 4-D inputs, its eval-mode batch norms folded into the convolutions that feed
            them. ``None`` (default): on the CPU, for models without hooks and up to 512 MiB of
            parameters (14–43 % less time on the embedded model); ``True``: also
            on GPUs and with hooks (hooks then see the copy's modules); ``False``: never. The
            user's model is never converted.
        layer: attribute to a layer's activations instead of the inputs: a torch module (or
            a tuple of modules that do not feed each other), a Keras layer, or in any
            framework a pair ``(embed_fn, head_fn)`` with
            ``model(x, *extra) == head_fn(embed_fn(x), *extra)``. Inputs may then be integers
            (token ids); ``baselines`` are inputs too, and the path runs from the layer's
            activations at the baseline to those at the input. Attributions have the
            activations' shapes.
        attribute_to_layer_input: with a torch module ``layer``, its input instead of its
            output.
        layer_baselines: with ``layer``, the start activations themselves (a tensor or a
            tuple per layer tensor, or a list of these to average) instead of ``baselines``.
        multiply_by_inputs: ``False`` returns the path-averaged gradient instead of
            ``(x − x′) ·`` it (Captum's option); ``delta`` still checks the attributions.

    Returns:
        An :class:`~intgrad.Attribution`.

    References:
        Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML.
    """
    explainer = Explainer(
        model,
        backend=backend,
        layer=layer,
        attribute_to_layer_input=attribute_to_layer_input,
        output=output,
        multiply_by_inputs=multiply_by_inputs,
        autocast=autocast,
        compile_model=compile_model,
        allow_tf32=allow_tf32,
        channels_last=channels_last,
    )
    return explainer.attribute(
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
