"""Drop-ins for Captum's ``IntegratedGradients`` and ``LayerIntegratedGradients``.

The classes take Captum's constructor and ``attribute`` arguments and return Captum's
structures (a tensor for a tensor input, a tuple for a tuple, a list for a list of layers; the
convergence delta as a tensor of shape (examples,)), and wrap ``attribute`` the way Captum's
``log_usage`` does, so ``captum.attr.NoiseTunnel`` can wrap them. The work is done by the
engine (:class:`intgrad.Explainer`), so inputs of any supported framework work.

Deliberate differences from Captum (docs/captum-compat.md): ``riemann_trapezoid`` uses the true
trapezoid weights, which sum to 1 (Captum's sum to 1 − 1/n); malformed arguments raise
``ValueError``/``TypeError`` where Captum asserts; and ``LayerIntegratedGradients`` returns the
completeness gap of the path it integrated, F at the layer's activations at the input minus F
at its activations at the baseline, where Captum evaluates F on the full baseline inputs
(captum#1413). ``compute_convergence_delta`` keeps Captum's definition on model inputs.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar, cast

import numpy as np

from intgrad._core.arguments import ArgumentLayout, as_argument_tuple
from intgrad._core.backend import Acceleration, Backend
from intgrad._core.baselines import GaussianBaseline, UniformBaseline, resolve_baselines
from intgrad._core.primitives import ArrayOps
from intgrad._core.session import Explainer
from intgrad._core.targets import check_targets, normalise_targets, select_outputs

__all__ = ["IntegratedGradients", "LayerIntegratedGradients"]

_Method = TypeVar("_Method", bound=Callable[..., Any])

_GRAD_KWARGS = frozenset({"materialize_grads", "allow_unused"})
"""``grad_kwargs`` of Captum's LayerIntegratedGradients that describe what intgrad does anyway:
gradients of layers the output does not use are zeros."""


def _captum_entry_point(method: _Method) -> _Method:
    """Wrap ``method`` as Captum's ``log_usage`` does: ``NoiseTunnel`` calls
    ``attribute.__wrapped__(explainer, inputs, **kwargs)``."""

    @functools.wraps(method)
    def entry_point(*args: Any, **kwargs: Any) -> Any:
        return method(*args, **kwargs)

    return cast(_Method, entry_point)


def _as_tuple(inputs: Any) -> tuple[Any, ...]:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _flat_tensors(attributions: Any) -> tuple[Any, ...]:
    """Every tensor of a tensor, tuple or list (of tuples): LayerIG's structures flattened."""
    if isinstance(attributions, (tuple, list)):
        return tuple(t for part in attributions for t in _flat_tensors(part))
    return (attributions,)


def _is_float64(value: Any) -> bool:
    return "float64" in str(getattr(value, "dtype", ""))


def _native_delta(ops: ArrayOps, delta: np.ndarray, like: Sequence[Any]) -> Any:
    """The delta, shape (examples,), as a tensor of the inputs' framework and device: float64
    when the attributions or outputs are, else float32 (Captum's dtype for float32 models)."""
    wide = any(_is_float64(value) for value in like)
    return ops.from_host(np.asarray(delta, dtype=np.float64 if wide else np.float32))


def _backend_for(model: Any, inputs: tuple[Any, ...]) -> tuple[Backend, tuple[Any, ...]]:
    """The backend of ``inputs`` (as the engine picks it) for plain forward passes of the
    user's model itself, and the inputs as its tensors."""
    from intgrad.backends._registry import select_backend

    backend = select_backend(model, inputs).accelerated(Acceleration(channels_last=False))
    return backend, backend.prepare_inputs(inputs, allow_integer=True)


def _engine_delta(model: Any, inputs: Any, delta: np.ndarray, attributions: Any) -> Any:
    """The engine's delta as a tensor of the inputs' framework and device."""
    backend, prepared = _backend_for(model, _as_tuple(inputs))
    return _native_delta(backend.ops(prepared), delta, _flat_tensors(attributions))


def _selected_outputs(
    backend: Backend,
    model: Any,
    points: Sequence[tuple[Any, ...]],
    target: object,
    additional_forward_args: Any,
) -> list[Any]:
    """The target output of ``model`` at each tuple of inputs in ``points``, shape (examples,)
    each, from plain forward passes (the engine's target semantics)."""
    ops = backend.ops(points[0])
    num_examples = int(points[0][0].shape[0])
    targets = normalise_targets(target, num_examples, backend.to_numpy)
    device_targets = tuple(ops.from_host(t.astype(np.int32)) for t in targets)
    layout, row_extras, fixed_extras = ArgumentLayout.split(
        as_argument_tuple(additional_forward_args), backend.is_native, num_examples
    )
    shapes: dict[tuple[int, ...], tuple[int, ...]] = {}
    with backend.model_guard(model, points[0]) as model_fn:
        program = backend.program(model_fn, layout)
        fixed = (*program.fixed, *fixed_extras)

        def selected(inputs: tuple[Any, ...]) -> Any:
            raw = program.outputs(inputs, row_extras, fixed)
            return select_outputs(ops, raw, device_targets, None, shapes)

        outputs = [ops.value(selected, inputs) for inputs in points]
    for shape in list(shapes):
        check_targets(targets, shape)
    return outputs


def _convergence_delta(
    model: Any,
    attributions: Any,
    start_point: object,
    end_point: Any,
    target: object,
    additional_forward_args: Any,
) -> Any:
    """``sum(attributions) − (F(end_point) − F(start_point))`` per example, as Captum defines
    it (F at the model inputs), summed in float64; the mean F over a list of start points."""
    backend, ends = _backend_for(model, _as_tuple(end_point))
    tensors = _flat_tensors(attributions)
    for position, attribution in enumerate(tensors):
        if int(attribution.shape[0]) != int(ends[0].shape[0]):
            raise ValueError(
                f"attributions[{position}] has {int(attribution.shape[0])} examples but "
                f"end_point has {int(ends[0].shape[0])}"
            )
    starts = [
        tuple(backend.make_baseline(r, x) for r, x in zip(rules, ends, strict=True))
        for rules in resolve_baselines(start_point, len(ends))
    ]
    f_end, *f_starts = _selected_outputs(
        backend, model, [ends, *starts], target, additional_forward_args
    )
    ops = backend.ops(ends)
    sums = np.sum([ops.to_host(ops.row_sums(a)) for a in tensors], axis=0)
    f_start = np.mean([ops.to_host(f) for f in f_starts], axis=0)
    return _native_delta(ops, sums - (ops.to_host(f_end) - f_start), (*tensors, f_end))


def _random_baselines(baselines: object, num_inputs: int) -> bool:
    """Whether ``baselines`` names a random baseline, drawn anew by every evaluation."""
    rules = resolve_baselines(baselines, num_inputs)
    return any(isinstance(r, (UniformBaseline, GaussianBaseline)) for rs in rules for r in rs)


class _CaptumAttribution:
    """What both classes share: the model, ``multiply_by_inputs`` and the delta."""

    def __init__(self, forward_func: Any, multiply_by_inputs: bool) -> None:
        if not callable(forward_func):
            raise TypeError(f"forward_func must be callable, got {type(forward_func).__name__}")
        if not isinstance(multiply_by_inputs, bool):
            raise TypeError(f"multiply_by_inputs must be a bool, got {multiply_by_inputs!r}")
        self.forward_func = forward_func
        self._multiply_by_inputs = multiply_by_inputs

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether attributions are multiplied by ``inputs − baselines`` (Captum's property)."""
        return self._multiply_by_inputs

    def has_convergence_delta(self) -> bool:
        """True: ``attribute`` can return the completeness gap (Captum's query)."""
        return True

    def compute_convergence_delta(
        self,
        attributions: Any,
        start_point: object,
        end_point: Any,
        target: object = None,
        additional_forward_args: Any = None,
    ) -> Any:
        """The completeness gap of ``attributions`` between two model inputs, as in Captum.

        Args:
            attributions: a tensor or tuple of tensors of shape (examples, ...) (for
                ``LayerIntegratedGradients`` also a list of these, one per layer).
            start_point: the baselines: None (zeros), a number, a tensor broadcastable to the
                input, or a tuple of these per input.
            end_point: the inputs, a tensor or tuple of tensors of shape (examples, ...).
            target, additional_forward_args: as for ``attribute``.

        Returns:
            ``sum(attributions) − (F(end_point) − F(start_point))`` per example, shape
            (examples,), a tensor of the inputs' framework and device.
        """
        return _convergence_delta(
            self.forward_func,
            attributions,
            start_point,
            end_point,
            target,
            additional_forward_args,
        )

    def attribute_future(self) -> NoReturn:
        """Not implemented, as in Captum."""
        raise NotImplementedError(f"attribute_future is not implemented for {type(self).__name__}")


class IntegratedGradients(_CaptumAttribution):
    """Captum's ``IntegratedGradients(forward_func, multiply_by_inputs=True)``, on the engine.

    Args:
        forward_func: the model, or any callable of the inputs (and the additional
            arguments) returning outputs of shape (examples, ...).
        multiply_by_inputs: ``False`` returns the path-averaged gradient instead of
            ``(inputs − baselines) ·`` it.

    References:
        Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML.
    """

    def __init__(self, forward_func: Any, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, multiply_by_inputs)
        self._explainer = Explainer(forward_func, multiply_by_inputs=multiply_by_inputs)

    @_captum_entry_point
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
        """Integrated Gradients with Captum's arguments and return values.

        Args:
            inputs: a tensor of shape (examples, ...) or a tuple of such tensors.
            baselines: None (zeros), a number, a tensor broadcastable to the input, or a
                tuple of these per input.
            target: Captum's forms: an int, a tuple of ints, a list with one per example, a
                tensor with one element or one per example, or None.
            additional_forward_args: extra model arguments after the inputs (a tuple, or one
                argument; a list is one argument).
            n_steps: gradient evaluations per example.
            method: ``gausslegendre``, ``riemann_left``, ``riemann_right``,
                ``riemann_middle`` or ``riemann_trapezoid`` (weights summing to 1).
            internal_batch_size: the most path points (examples × steps) per model call.
            return_convergence_delta: also return the completeness gap per example.

        Returns:
            The attributions, shaped like ``inputs``; with ``return_convergence_delta`` the
            pair ``(attributions, delta)``, ``delta`` a tensor of shape (examples,) equal to
            :meth:`compute_convergence_delta` of the attributions.
        """
        random = return_convergence_delta and _random_baselines(baselines, len(_as_tuple(inputs)))
        result = self._explainer.attribute(
            inputs,
            baselines=baselines,
            target=target,
            steps=n_steps,
            method=method,
            batch_size=internal_batch_size,
            additional_forward_args=additional_forward_args,
            return_delta=random,
        )
        if not return_convergence_delta:
            return result.attributions
        if random:  # a second evaluation would draw other baselines: the engine's own gap
            assert result.delta is not None
            return result.attributions, _engine_delta(
                self.forward_func, inputs, result.delta, result.attributions
            )
        delta = self.compute_convergence_delta(
            result.attributions, baselines, inputs, target, additional_forward_args
        )
        return result.attributions, delta


class LayerIntegratedGradients(_CaptumAttribution):
    """Captum's ``LayerIntegratedGradients(forward_func, layer, device_ids=None,
    multiply_by_inputs=True)``, on the engine.

    Args:
        forward_func: the model, or a callable of the inputs and additional arguments.
        layer: a torch module, or a list of modules that do not feed each other (then
            ``attribute`` returns a list, one entry per module). A module's activations are
            its output tensor, or the tensors of a tuple or list it returns — or, with
            ``attribute_to_layer_input``, the tensors among its positional arguments. Any
            ``layer`` the engine accepts works too (a Keras layer, ``(embed_fn, head_fn)``);
            its attributions come back as the engine returns them.
        device_ids: accepted for Captum's signature (None or a list of ints) and not used:
            the model runs as given; for ``DataParallel`` pass its ``.module``.
        multiply_by_inputs: ``False`` returns the path-averaged gradient.

    References:
        Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML.
    """

    def __init__(
        self,
        forward_func: Any,
        layer: Any,
        device_ids: Sequence[int] | None = None,
        multiply_by_inputs: bool = True,
    ) -> None:
        super().__init__(forward_func, multiply_by_inputs)
        if device_ids is not None and (
            isinstance(device_ids, (str, bytes))
            or not isinstance(device_ids, Sequence)
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in device_ids)
        ):
            raise TypeError(f"device_ids must be None or a list of ints, got {device_ids!r}")
        self.layer = layer
        self.device_ids = None if device_ids is None else list(device_ids)
        self._explainers = {
            to_input: Explainer(
                forward_func,
                layer=layer,
                attribute_to_layer_input=to_input,
                multiply_by_inputs=multiply_by_inputs,
            )
            for to_input in (False, True)
        }

    @_captum_entry_point
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
        attribute_to_layer_input: bool = False,
        grad_kwargs: dict[str, Any] | None = None,
    ) -> Any:
        """Layer Integrated Gradients with Captum's arguments and return values.

        Args:
            inputs: the model inputs, a tensor or tuple of tensors of shape (examples, ...);
                integer token ids are fine.
            baselines: model inputs for the path's start (forms as in
                :meth:`IntegratedGradients.attribute`); the path runs from the layer's
                activations at the baselines to those at the inputs.
            target, additional_forward_args, n_steps, method, internal_batch_size: as in
                :meth:`IntegratedGradients.attribute`.
            return_convergence_delta: also return the completeness gap per example, that of
                the path integrated: F with the layer at its input activations minus F with
                it at its baseline activations (other inputs unchanged).
            attribute_to_layer_input: attribute to the layer's inputs instead of its output.
            grad_kwargs: Captum's extra ``torch.autograd.grad`` arguments; only
                ``materialize_grads`` and ``allow_unused`` are accepted, and they are what
                intgrad does anyway (an unused layer gets zeros).

        Returns:
            Per layer a tensor shaped like its activations, or a tuple when it has several;
            a list of these for a list of layers. With ``return_convergence_delta`` the pair
            ``(attributions, delta)``, ``delta`` a tensor of shape (examples,).
        """
        unknown = sorted(set(grad_kwargs or {}) - _GRAD_KWARGS)
        if unknown:
            raise ValueError(
                f"grad_kwargs {unknown} are not supported; only {sorted(_GRAD_KWARGS)} are"
            )
        explainer = self._explainers[bool(attribute_to_layer_input)]
        with _counting_layer_tensors(self.layer, bool(attribute_to_layer_input)) as counts:
            result = explainer.attribute(
                inputs,
                baselines=baselines,
                target=target,
                steps=n_steps,
                method=method,
                batch_size=internal_batch_size,
                additional_forward_args=additional_forward_args,
                return_delta=return_convergence_delta,
            )
        attributions = result.attributions
        if counts is not None:
            attributions = _per_layer(attributions, counts, isinstance(self.layer, (list, tuple)))
        if not return_convergence_delta:
            return attributions
        assert result.delta is not None
        return attributions, _engine_delta(
            self.forward_func, inputs, result.delta, result.attributions
        )


def _torch_modules(layer: object) -> bool:
    """Whether ``layer`` is a torch module or a list or tuple of them (without importing torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    parts = layer if isinstance(layer, (list, tuple)) else (layer,)
    return bool(parts) and all(isinstance(part, torch.nn.Module) for part in parts)


@contextmanager
def _counting_layer_tensors(layer: object, to_input: bool) -> Iterator[list[int | None] | None]:
    """For torch modules, the activation tensors of each module seen during the call."""
    if not _torch_modules(layer):
        yield None
        return
    from intgrad.backends.torch import counting_layer_tensors

    with counting_layer_tensors(layer, to_input) as counts:
        yield counts


def _per_layer(attributions: Any, counts: Sequence[int | None], as_list: bool) -> Any:
    """The engine's flat attributions grouped as Captum returns them: per module a tensor, or a
    tuple when it has several activation tensors; a list of these for a list of modules."""
    flat = _flat_tensors(attributions)
    groups: list[Any] = []
    start = 0
    for count in counts:
        assert count is not None, "every layer ran during the call"
        group = flat[start : start + count]
        groups.append(group[0] if count == 1 else group)
        start += count
    return groups if as_list else groups[0]
