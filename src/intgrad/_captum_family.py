"""Drop-ins for Captum's ``GradientShap`` and ``NoiseTunnel``, on Expected Gradients and the
noise tunnel of :mod:`intgrad.family`.

The classes take Captum 0.9's constructor and ``attribute`` arguments and return its
structures: a tensor for a tensor input, a tuple for a tuple; the convergence delta a tensor
with one entry per *sample*, shape (examples · samples,), ordered by example and then by
sample (Captum's ``repeat_interleave`` order). The noise is absolute (``stdevs`` in input
units) as in Captum. The draws come from NumPy generators seeded from torch's global
generator when torch is loaded, so ``torch.manual_seed`` makes calls repeatable (the numbers
differ from Captum's own draws; their expectations agree).

Deliberate differences from Captum: a multi-input ``GradientShap`` draws one background row
per sample for all inputs together (Captum draws each input's row separately), so the
backgrounds must have the same number of rows; with ``nt_samples_batch_size`` the samples
still run in one engine call, whose model calls are bounded to that many samples' rows; and
malformed arguments raise ``ValueError``/``TypeError`` where Captum asserts.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, NoReturn

import numpy as np

from intgrad._captum import (
    IntegratedGradients,
    _as_tuple,
    _backend_for,
    _captum_entry_point,
    _CaptumAttribution,
    _native_delta,
)
from intgrad._core.session import Explainer
from intgrad.family._samples import (
    Sampled,
    Samples,
    as_tuple,
    check_samples,
    reference_rows,
    restructure,
    take_rows,
)
from intgrad.family.expected import sample_expected_gradients
from intgrad.family.noise import KINDS, sample_noise_tunnel

__all__ = ["GradientShap", "NoiseTunnel"]

_IG_ARGUMENTS = frozenset(
    {
        "baselines",
        "target",
        "additional_forward_args",
        "n_steps",
        "method",
        "internal_batch_size",
        "return_convergence_delta",
    }
)
"""What ``NoiseTunnel.attribute`` passes on to ``IntegratedGradients.attribute``."""


def _torch_seed() -> int | None:
    """A seed drawn from torch's global generator when torch is loaded, else ``None``."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return int(torch.randint(0, 2**62, (1,)).item())


def _called_baselines(baselines: Any, inputs: Any) -> Any:
    """Captum's callable baselines: called with the inputs, or without when it takes none."""
    if not callable(baselines):
        return baselines
    return baselines() if not inspect.signature(baselines).parameters else baselines(inputs)


def _sample_deltas(forward_func: Any, inputs: Any, sampled: Sampled) -> Any:
    """Captum's convergence delta of each sample, ``sum(φ_k) − (F(x_k) − F(x′_k))`` on the
    attributions as returned (so also without ``multiply_by_inputs``), example-major, as a
    tensor of shape (examples · samples,)."""
    rows = sampled.rows
    if rows.f_input is None or rows.f_baseline is None:
        raise RuntimeError("the completeness gap was not computed")
    gaps = sampled.row_sums - (rows.f_input - rows.f_baseline)
    backend, prepared = _backend_for(forward_func, _as_tuple(inputs))
    example_major = sampled.samples.example_major(gaps)
    return _native_delta(
        backend.ops(prepared), example_major, as_tuple(sampled.result.attributions)
    )


class GradientShap(_CaptumAttribution):
    """Captum's ``GradientShap(forward_func, multiply_by_inputs=True)``, on Expected Gradients.

    Per example and sample: a background row x′ drawn uniformly, Gaussian noise on the input,
    α ∼ U(0, 1), and the gradient at x′ + α(x̃ − x′) times ``x̃ − x′``; the attributions are the
    mean over the samples (:func:`intgrad.family.expected.expected_gradients`).

    Args:
        forward_func: the model, or a callable of the inputs and additional arguments.
        multiply_by_inputs: ``False`` returns the mean gradient without ``(x̃ − x′) ·``.

    References:
        Lundberg & Lee (2017), "A Unified Approach to Interpreting Model Predictions", NeurIPS.
        Erion et al. (2021), Nature Machine Intelligence 3, 620–631.
    """

    def __init__(self, forward_func: Any, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, multiply_by_inputs)
        self._explainer = Explainer(forward_func, multiply_by_inputs=multiply_by_inputs)

    @_captum_entry_point
    def attribute(
        self,
        inputs: Any,
        baselines: Any,
        n_samples: int = 5,
        stdevs: float | tuple[float, ...] = 0.0,
        target: object = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
    ) -> Any:
        """GradientSHAP with Captum's arguments and return values.

        Args:
            inputs: a tensor of shape (examples, ...) or a tuple of such tensors.
            baselines: the reference distribution: a tensor (rows, ...) with the input's
                per-example shape, a tuple with one per input (the same rows each), or a
                callable returning one (called with ``inputs`` when it takes an argument).
            n_samples: samples (background draws) per example.
            stdevs: the standard deviation of the Gaussian noise added to the inputs, or a
                tuple with one per input.
            target, additional_forward_args: as in
                :meth:`intgrad.IntegratedGradients.attribute`.
            return_convergence_delta: also return each sample's completeness gap.

        Returns:
            The attributions, shaped like ``inputs``; with ``return_convergence_delta`` the
            pair ``(attributions, delta)``, ``delta`` of shape (examples · n_samples,),
            ordered by example, then sample.
        """
        sampled = sample_expected_gradients(
            self._explainer,
            inputs,
            background=_called_baselines(baselines, inputs),
            samples=n_samples,
            stdevs=stdevs,
            target=target,
            batch_size=None,
            additional_forward_args=additional_forward_args,
            seed=_torch_seed(),
            return_delta=bool(return_convergence_delta),
            multiply_by_inputs=self.multiplies_by_inputs,
            progress=None,
        )
        attributions = sampled.result.attributions
        if not return_convergence_delta:
            return attributions
        return attributions, _sample_deltas(self.forward_func, inputs, sampled)


class NoiseTunnel:
    """Captum's ``NoiseTunnel(attribution_method)`` for :class:`intgrad.IntegratedGradients`.

    SmoothGrad, SmoothGrad² and VarGrad of Integrated Gradients over absolute Gaussian noise
    (:func:`intgrad.family.noise.noise_tunnel`), all noisy copies in one engine call.

    Args:
        attribution_method: an :class:`intgrad.IntegratedGradients`. (Captum's own
            ``captum.attr.NoiseTunnel`` wraps it too, one batch of samples at a time.)

    References:
        Smilkov et al. (2017), "SmoothGrad: removing noise by adding noise".
        Adebayo et al. (2018), arXiv:1810.03307 (VarGrad).
    """

    def __init__(self, attribution_method: Any) -> None:
        if not isinstance(attribution_method, IntegratedGradients):
            raise TypeError(
                "NoiseTunnel wraps an intgrad.IntegratedGradients, got "
                f"{type(attribution_method).__name__}; use captum.attr.NoiseTunnel for others"
            )
        self.attribution_method = attribution_method
        self.forward_func = attribution_method.forward_func
        self.is_delta_supported = attribution_method.has_convergence_delta()
        self.is_gradient_method = True

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether the wrapped method multiplies by ``inputs − baselines``."""
        return self.attribution_method.multiplies_by_inputs

    def has_convergence_delta(self) -> bool:
        """Whether ``attribute`` can return a convergence delta (the wrapped method's)."""
        return self.is_delta_supported

    def attribute_future(self) -> NoReturn:
        """Not implemented, as in Captum."""
        raise NotImplementedError("attribute_future is not implemented for NoiseTunnel")

    @_captum_entry_point
    def attribute(
        self,
        inputs: Any,
        nt_type: str = "smoothgrad",
        nt_samples: int = 5,
        nt_samples_batch_size: int | None = None,
        stdevs: float | tuple[float, ...] = 1.0,
        draw_baseline_from_distrib: bool = False,
        **kwargs: Any,
    ) -> Any:
        """The noise tunnel with Captum's arguments and return values.

        Args:
            inputs: a tensor of shape (examples, ...) or a tuple of such tensors.
            nt_type: ``"smoothgrad"``, ``"smoothgrad_sq"`` or ``"vargrad"``.
            nt_samples: noisy copies per example.
            nt_samples_batch_size: bounds each model call to the rows of this many copies
                (unless ``internal_batch_size`` is given); ``None``: the engine's default.
            stdevs: the standard deviation of the noise, or a tuple with one per input.
            draw_baseline_from_distrib: ``baselines`` is a distribution (rows, ...) and each
                copy draws its baseline from it uniformly.
            **kwargs: :meth:`intgrad.IntegratedGradients.attribute`'s arguments
                (``baselines``, ``target``, ``additional_forward_args``, ``n_steps``,
                ``method``, ``internal_batch_size``, ``return_convergence_delta``).

        Returns:
            The combined attributions, shaped like ``inputs``; with
            ``return_convergence_delta`` the pair ``(attributions, delta)``, ``delta`` each
            copy's completeness gap, shape (examples · nt_samples,), ordered by example, then
            copy.
        """
        unknown = sorted(set(kwargs) - _IG_ARGUMENTS)
        if unknown:
            raise TypeError(f"unexpected arguments for IntegratedGradients: {', '.join(unknown)}")
        if nt_type not in KINDS:
            raise ValueError(f"nt_type must be one of {', '.join(KINDS)}; got {nt_type!r}")
        samples = check_samples(nt_samples, "nt_samples")
        return_delta = bool(kwargs.get("return_convergence_delta", False))
        steps = kwargs.get("n_steps", 50)
        seed = _torch_seed()
        baselines = kwargs.get("baselines")
        if draw_baseline_from_distrib:
            baselines = self._drawn_baselines(inputs, baselines, samples, seed)
        sampled = sample_noise_tunnel(
            self.attribution_method._explainer,
            inputs,
            attribution="integrated_gradients",
            kind=nt_type,
            samples=samples,
            stdev=stdevs,
            noise="absolute",
            seed=seed,
            target=kwargs.get("target"),
            batch_size=_batch_size(
                kwargs.get("internal_batch_size"), nt_samples_batch_size, inputs, steps
            ),
            additional_forward_args=kwargs.get("additional_forward_args"),
            progress=None,
            options={
                "baselines": baselines,
                "steps": steps,
                "method": kwargs.get("method", "gausslegendre"),
                "return_delta": return_delta,
            },
        )
        attributions = sampled.result.attributions
        if not (return_delta and self.is_delta_supported):
            return attributions
        return attributions, _sample_deltas(self.forward_func, inputs, sampled)

    def _drawn_baselines(self, inputs: Any, baselines: Any, samples: int, seed: int | None) -> Any:
        """One baseline per noisy copy, drawn from the distribution ``baselines``: shape
        (samples · examples, ...) per input, in the tunnel's sample-major row order."""
        if baselines is None:
            raise ValueError("draw_baseline_from_distrib needs baselines: a tensor (rows, ...)")
        backend, prepared = _backend_for(self.forward_func, _as_tuple(inputs))
        ops = backend.ops(prepared)
        references, rows = reference_rows(backend, ops, baselines, prepared, "baselines")
        plan = Samples(samples, int(ops.shape(prepared[0])[0]))
        # A generator of its own: the tunnel's draws from ``seed`` stay those without it.
        rng = np.random.default_rng(None if seed is None else seed + 1)
        drawn = take_rows(ops, references, rng.integers(0, rows, size=plan.rows))
        return restructure(drawn, not isinstance(inputs, (tuple, list)))


def _batch_size(
    internal_batch_size: int | None, nt_samples_batch_size: int | None, inputs: Any, steps: Any
) -> int | None:
    """The rows per model call: ``internal_batch_size``, else those of
    ``nt_samples_batch_size`` copies of every example at every step."""
    if nt_samples_batch_size is not None:
        check_samples(nt_samples_batch_size, "nt_samples_batch_size")
    if internal_batch_size is not None or nt_samples_batch_size is None:
        return internal_batch_size
    examples = int(_as_tuple(inputs)[0].shape[0])
    per_copy = steps if isinstance(steps, int) and steps > 0 else 1
    return int(nt_samples_batch_size) * examples * per_copy
