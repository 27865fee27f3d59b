"""Captum-compatible classes: ``IntegratedGradients`` and ``LayerIntegratedGradients``."""

from __future__ import annotations

from typing import Any

from intgrad._api import integrated_gradients

__all__ = ["IntegratedGradients", "LayerIntegratedGradients"]


class IntegratedGradients:
    """``IntegratedGradients(model).attribute(inputs, ...)`` with Captum's argument names."""

    def __init__(self, forward_func: Any, multiply_by_inputs: bool = True) -> None:
        self.forward_func = forward_func
        self._multiply_by_inputs = multiply_by_inputs

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
            multiply_by_inputs=self._multiply_by_inputs,
        )
        if return_convergence_delta:
            return result.attributions, result.delta
        return result.attributions


class LayerIntegratedGradients(IntegratedGradients):
    """Captum's ``LayerIntegratedGradients(forward_func, layer)``."""

    def __init__(self, forward_func: Any, layer: Any, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func, multiply_by_inputs)
        self.layer = layer
