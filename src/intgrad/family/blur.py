"""Blur IG: integrate along the path from a heavily blurred image to the image itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from intgrad._core.blur import BlurPath, check_max_sigma
from intgrad._core.result import Attribution
from intgrad._core.session import PathMethod
from intgrad.family._session import as_explainer

__all__ = ["blur_ig", "check_images"]


def check_images(inputs: Any) -> None:
    """``ValueError`` unless every input tensor is a batch of images of rank 3 or 4."""
    for position, x in enumerate(inputs if isinstance(inputs, (tuple, list)) else (inputs,)):
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) not in (3, 4):
            raise ValueError(
                f"inputs[{position}] must be images of shape (examples, C, H, W), "
                f"(examples, H, W, C) or (examples, H, W); got shape {shape}"
            )


def blur_ig(
    model: Any,
    inputs: Any,
    *,
    target: object = None,
    max_sigma: float = 50.0,
    steps: int | Literal["auto"] = "auto",
    method: str | None = None,
    channels_last: bool | None = None,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    return_delta: bool = True,
    return_path: bool = False,
    progress: Callable[[int, int], None] | None = None,
    tolerance: float = 0.01,
    attribution_tolerance: float | None = None,
    max_steps: int = 513,
) -> Attribution:
    """Attribute the selected output with Blur IG: the path blurs the image less and less.

    The path is γ(α) = blur(x, max_sigma · (1 − α)), a separable Gaussian whose kernel is cut
    at the image border and renormalised there (see ``intgrad._core.blur``); it starts at the
    image blurred with ``max_sigma`` (the baseline's part, reported as ``f_baseline``) and ends
    at the image. Each quadrature node adds ``w · ∂F/∂x ⊙ dγ/dα`` with the exact tangent, so
    ``delta = Σ attributions − (F(x) − F(blur(x, max_sigma)))`` measures only the rule's error.

    Args:
        model: a model of the inputs' framework, or an :class:`~intgrad.Explainer` (its
            compiled steps are reused; ``backend`` and ``output`` then belong to it).
        inputs: images of shape (examples, C, H, W) or (examples, H, W, C), or grayscale
            (examples, H, W); or a tuple of such tensors (each blurred along its own H, W).
        target: which output to explain, as :func:`intgrad.integrated_gradients`.
        max_sigma: the blur of the path's start, in pixels, > 0 (the paper's 50 by default).
        steps: gradient evaluations along the path, or ``"auto"`` (the default, as
            :func:`intgrad.integrated_gradients`, with ``tolerance``, ``attribution_tolerance``
            and ``max_steps``). The image changes fastest near α = 1, where σ is a few pixels,
            so fixed rules need many nodes: on 224 × 224 images with ``max_sigma=50`` 50
            Gauss–Legendre nodes left a 12–15 % completeness gap where ``"auto"`` reached
            0.1 % with 97 (measured on a small CNN); ``delta`` reports it.
        method: the quadrature rule for a fixed ``steps`` (default Gauss–Legendre).
        channels_last: the layout of 4-D images: ``True`` (examples, H, W, C), ``False``
            (examples, C, H, W), ``None``: from the shape when the last axis has 1, 3 or 4
            entries and axis 1 not (channels last) or the reverse (channels first), else the
            framework's convention (channels last for TensorFlow and JAX, first for PyTorch).
        batch_size, additional_forward_args, backend, output, return_delta, return_path,
            progress, tolerance, attribution_tolerance, max_steps: as
            :func:`intgrad.integrated_gradients`.

    Returns:
        An :class:`~intgrad.Attribution` with ``algorithm="blur_ig"``; ``baselines`` describes
        the blurred start.

    References:
        Xu, Venugopalan & Sundararajan (2020), "Attribution in Scale and Space", CVPR.
    """
    sigma = check_max_sigma(max_sigma)
    check_images(inputs)
    explainer = as_explainer(model, backend=backend, output=output)
    path = BlurPath(sigma, channels_last=channels_last)
    result = explainer.run(
        PathMethod(path, None, "blur_ig"),
        inputs,
        target=target,
        steps=steps,
        method=method,
        batch_size=batch_size,
        additional_forward_args=additional_forward_args,
        return_delta=return_delta,
        return_path=return_path,
        progress=progress,
        tolerance=tolerance,
        attribution_tolerance=attribution_tolerance,
        max_steps=max_steps,
    )
    return dataclasses.replace(result, baselines=(f"blur(max_sigma={sigma:g})",))
