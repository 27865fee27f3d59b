"""IDGI: Integrated Gradients with each step's output change given along the gradient."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from intgrad._core.blur import BlurPath, check_max_sigma
from intgrad._core.idgi import Reweighted, UniformDifferences, check_steps, idgi_step
from intgrad._core.paths import Path, StraightLine
from intgrad._core.result import Attribution
from intgrad._core.session import PathMethod
from intgrad.family._session import as_explainer
from intgrad.family.blur import check_images

__all__ = ["IDGI_PATHS", "idgi", "idgi_step"]

IDGI_PATHS = ("straight", "blur")
"""The paths :func:`idgi` runs on."""


def idgi(
    model: Any,
    inputs: Any,
    *,
    baselines: object = None,
    target: object = None,
    path: str = "straight",
    max_sigma: float = 50.0,
    steps: int = 50,
    channels_last: bool | None = None,
    batch_size: int | None = None,
    additional_forward_args: Any = None,
    backend: str | None = None,
    output: str | Callable[[Any], Any] | None = None,
    return_delta: bool = True,
    return_path: bool = False,
    progress: Callable[[int, int], None] | None = None,
    seed: int | None = None,
    layer_baselines: object = None,
) -> Attribution:
    """Attribute the selected output with IDGI on the straight-line or the blur path.

    F is evaluated forward at ``steps + 1`` uniform nodes α_j = j / steps; the gradient g_j at
    each node but the last gives the step's change Δf_j = F(α_{j+1}) − F(α_j) to the features
    as Δf_j · g_j ⊙ g_j / Σ g_j² (Σ over every feature of every input; a zero gradient gives
    0). The attributions then sum to F(x) − F(x′) exactly, so ``delta`` is rounding only (or
    the Δf_j of steps whose gradient is zero).

    Args:
        model: a model of the inputs' framework, or an :class:`~intgrad.Explainer`.
        inputs: a tensor of shape (examples, ...) or a tuple of such tensors; images (see
            :func:`~intgrad.family.blur.blur_ig`) for ``path="blur"``.
        baselines: the start x′ of the straight path, as
            :func:`intgrad.integrated_gradients` (a list averages over baselines); not used
            by the blur path, which starts at the blurred input.
        target: which output to explain.
        path: ``"straight"`` (x′ + α(x − x′), IDGI on IG) or ``"blur"`` (Blur IG's path,
            from the input blurred with ``max_sigma`` pixels to the input).
        max_sigma: with ``path="blur"``, the blur of the start, > 0.
        steps: gradient evaluations per example and baseline, >= 1 (``steps + 1`` forward
            passes besides).
        channels_last: with ``path="blur"``, the images' layout (see ``blur_ig``).
        batch_size, additional_forward_args, backend, output, return_delta, return_path,
            progress, seed: as :func:`intgrad.integrated_gradients` (``seed`` for the random
            baselines).
        layer_baselines: with an Explainer of a ``layer``, the start activations of the
            straight path (e.g. ``0`` for zero word embeddings), instead of ``baselines``.

    Returns:
        An :class:`~intgrad.Attribution` with ``algorithm="idgi"``.

    References:
        Yang, Wang & Bilen (2023), "IDGI: A Framework to Eliminate Explanation Noise from
        Integrated Gradients", CVPR.
    """
    planner = UniformDifferences(check_steps(steps))
    given = baselines if layer_baselines is None else layer_baselines
    inner = _inner_path(path, max_sigma, channels_last, given, inputs)
    explainer = as_explainer(model, backend=backend, output=output)
    result = explainer.run(
        PathMethod(Reweighted(inner), planner, "idgi"),
        inputs,
        baselines=baselines,
        target=target,
        steps=planner.steps,
        batch_size=batch_size,
        additional_forward_args=additional_forward_args,
        return_delta=return_delta,
        return_path=return_path,
        seed=seed,
        progress=progress,
        layer_baselines=layer_baselines,
    )
    if isinstance(inner, BlurPath):
        result = dataclasses.replace(result, baselines=(f"blur(max_sigma={inner.max_sigma:g})",))
    return result


def _inner_path(
    path: object, max_sigma: float, channels_last: bool | None, baselines: object, inputs: Any
) -> Path:
    if path == "straight":
        return StraightLine()
    if path != "blur":
        raise ValueError(f"path must be one of {', '.join(IDGI_PATHS)}; got {path!r}")
    if baselines is not None:
        raise ValueError("baselines apply to path='straight'; the blur path starts at the blur")
    check_images(inputs)
    return BlurPath(check_max_sigma(max_sigma), channels_last=channels_last)
