"""The IG family for photos: one dispatcher from a method's name to the public API call.

:func:`attribute_photos` runs any member of the family (``intgrad.family``) on a batch of
prepared photos for :func:`intgrad.images.explain_images`, the CLI and the benchmark, and
returns NumPy arrays channels-last, so everything downstream (figures, metrics) is the same for
every method. Every member runs on the caller's :class:`intgrad.Explainer` session, so a caller
that keeps one (:class:`intgrad.images.ImageExplainer`) reuses its compiled steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from intgrad import Attribution, Explainer
from intgrad.images.xrai import DILATION_RADIUS, FELZENSZWALB_SCALES, MIN_REGION_FRACTION

__all__ = [
    "IMAGE_ATTRIBUTIONS",
    "SMOOTHGRAD_INNER",
    "PhotoAttribution",
    "attribute_photos",
    "method_options",
]

IMAGE_ATTRIBUTIONS: tuple[str, ...] = (
    "ig",
    "expected-gradients",
    "smoothgrad",
    "blur-ig",
    "guided-ig",
    "idgi",
    "xrai",
)
"""The attribution methods a photo can be explained with (``--attribution`` of the CLI)."""

SMOOTHGRAD_INNER: dict[str, str] = {"ig": "integrated_gradients", "gradient": "gradient"}
"""SmoothGrad's inner methods for photos (``inner``): the name here → the noise tunnel's own
(:data:`intgrad.family.noise.INNER_METHODS`); "gradient" is the classic SmoothGrad."""

# Each method's options and their defaults: what the CLI offers and what a caller may override.
_OPTIONS: dict[str, dict[str, Any]] = {
    "ig": {},
    "expected-gradients": {"samples": 32, "background": None},
    "smoothgrad": {
        "samples": 16,
        "stdev": 0.15,
        "kind": "smoothgrad",
        "inner": "ig",
        "noise": "fraction",
    },
    "blur-ig": {"max_sigma": 50.0},
    "guided-ig": {"fraction": 0.25, "max_dist": 1.0, "reweight": None},
    "idgi": {"path": "straight", "max_sigma": 50.0},
    "xrai": {
        "scales": FELZENSZWALB_SCALES,
        "min_region_fraction": MIN_REGION_FRACTION,
        "dilation_radius": DILATION_RADIUS,
    },
}


@dataclass(frozen=True)
class PhotoAttribution:
    """One batched call's attributions, channels-last on the host.

    Attributes:
        attributions: shape (examples, height, width, 3), float32 (XRAI's region map is
            spread evenly over the three channels, so channel sums give the map).
        baselines: shape (examples, height, width, 3), float32, the start of each path (the
            blurred photo for Blur IG; the mean reference for Expected Gradients).
        baseline_name: a description of the baselines.
        result: the family's :class:`~intgrad.Attribution` (completeness report and all).
    """

    attributions: np.ndarray
    baselines: np.ndarray
    baseline_name: str
    result: Attribution


def method_options(attribution: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options of ``attribution`` with ``options`` applied; ``ValueError`` for unknown ones."""
    if attribution not in _OPTIONS:
        raise ValueError(
            f"attribution must be one of {', '.join(IMAGE_ATTRIBUTIONS)}; got {attribution!r}"
        )
    merged = dict(_OPTIONS[attribution])
    unknown = sorted(set(options or {}) - set(merged))
    if unknown:
        allowed = ", ".join(sorted(merged)) or "none"
        raise ValueError(
            f"{attribution} takes no option(s) {', '.join(unknown)} (its options: {allowed})"
        )
    merged.update(options or {})
    if attribution == "smoothgrad" and merged["inner"] not in SMOOTHGRAD_INNER:
        raise ValueError(
            f"smoothgrad's inner must be one of {', '.join(SMOOTHGRAD_INNER)}; "
            f"got {merged['inner']!r}"
        )
    return merged


def attribute_photos(
    attribution: str,
    session: Explainer,
    to_model: Callable[[np.ndarray], Any],
    to_host: Callable[[Any], np.ndarray],
    pixels: np.ndarray,
    baselines: np.ndarray,
    baseline_name: str,
    targets: list[int],
    *,
    options: Mapping[str, Any] | None = None,
    **call: Any,
) -> PhotoAttribution:
    """Attribute the target probability of each photo with one member of the family.

    Args:
        attribution: one of :data:`IMAGE_ATTRIBUTIONS`.
        session: the classifier's :class:`intgrad.Explainer` (a torch module or a Keras model
            returning logits), made with ``output="probability"`` and no ``layer``; every
            member runs on it, so its compiled steps are reused from call to call.
        to_model: (examples, height, width, 3) float32 → the model's tensor and layout.
        to_host: the model's tensor → (examples, height, width, 3) NumPy.
        pixels: shape (examples, height, width, 3), float32 in [0, 1].
        baselines: shape of ``pixels``: the baseline photos (unused by Blur IG, whose path
            starts at the blurred photo, and by Expected Gradients, whose references come
            from ``options["background"]``).
        baseline_name: description of ``baselines``.
        targets: the class index of each photo.
        options: the method's options (see :func:`method_options`).
        call: ``steps``, ``method``, ``batch_size``, ``seed``, ``progress``, ``tolerance``.
    """
    chosen = method_options(attribution, options)
    _check_session(session)
    inputs, starts = to_model(pixels), to_model(baselines)
    # The session fixes the output (the target's probability): the family refuses it again.
    common: dict[str, Any] = {
        "target": targets,
        "batch_size": call.get("batch_size"),
        "progress": call.get("progress"),
    }
    steps, method, seed = call.get("steps", 50), call.get("method"), call.get("seed")
    tolerance = call.get("tolerance", 0.01)
    if attribution == "ig":
        result = session.attribute(
            inputs,
            baselines=starts,
            steps=steps,
            method=method,
            return_path=True,
            seed=seed,
            tolerance=tolerance,
            **common,
        )
    elif attribution == "expected-gradients":
        from intgrad.family.expected import expected_gradients

        background = chosen["background"]
        if background is None:
            background = _sample_background(pixels.shape[1:3])
        result = expected_gradients(
            session,
            inputs,
            background=to_model(np.asarray(background, dtype=np.float32)),
            samples=chosen["samples"],
            seed=seed,
            **common,
        )
        baselines = np.broadcast_to(np.asarray(background).mean(axis=0), pixels.shape)
        baseline_name = f"{len(background)} background photos"
    elif attribution == "smoothgrad":
        from intgrad.family.noise import noise_tunnel

        # The gradient has no path: no baseline, steps or rule to pass it.
        path = (
            {}
            if chosen["inner"] == "gradient"
            else {"baselines": starts, "steps": steps, "method": method}
        )
        result = noise_tunnel(
            session,
            inputs,
            attribution=SMOOTHGRAD_INNER[chosen["inner"]],
            kind=chosen["kind"],
            samples=chosen["samples"],
            stdev=chosen["stdev"],
            noise=chosen["noise"],
            seed=seed,
            **path,
            **common,
        )
        if not path:
            baseline_name = "none (the gradient)"
    elif attribution == "blur-ig":
        from intgrad.family.blur import blur_ig

        result = blur_ig(
            session,
            inputs,
            max_sigma=chosen["max_sigma"],
            steps=steps,
            method=method,
            tolerance=tolerance,
            return_path=True,
            **common,
        )
        baselines = _blurred(pixels, chosen["max_sigma"])
        baseline_name = f"blur(sigma={chosen['max_sigma']:g})"
    elif attribution == "guided-ig":
        from intgrad.family.guided import guided_ig

        result = guided_ig(
            session,
            inputs,
            baselines=starts,
            steps=steps if isinstance(steps, int) else 128,
            fraction=chosen["fraction"],
            max_dist=chosen["max_dist"],
            reweight=chosen["reweight"],
            **common,
        )
    elif attribution == "idgi":
        from intgrad.family.idgi import idgi

        blur = chosen["path"] == "blur"
        result = idgi(
            session,
            inputs,
            baselines=None if blur else starts,
            path=chosen["path"],
            max_sigma=chosen["max_sigma"],
            steps=steps if isinstance(steps, int) else 50,
            **common,
        )
        if blur:
            baselines = _blurred(pixels, chosen["max_sigma"])
            baseline_name = f"blur(sigma={chosen['max_sigma']:g})"
    else:
        return _xrai(session, to_model, to_host, pixels, targets, steps, chosen, call)
    attributions = to_host(result.attributions).astype(np.float32)
    return PhotoAttribution(attributions, np.asarray(baselines, np.float32), baseline_name, result)


def _check_session(session: object) -> None:
    """``TypeError`` unless ``session`` is an Explainer, ``ValueError`` unless it attributes
    the target probability to the pixels (``output="probability"``, no layer, multiplied by
    ``x − x′``): what every photo's figures and completeness report assume."""
    if not isinstance(session, Explainer):
        raise TypeError(
            "attribute_photos takes the model's intgrad.Explainer(module, output='probability'), "
            f"got {type(session).__name__}"
        )
    if (
        session.output != "probability"
        or session.layer is not None
        or not session.multiplies_by_inputs
    ):
        raise ValueError(
            "attribute_photos needs an Explainer(module, output='probability') without layer "
            "or multiply_by_inputs=False"
        )


def _xrai(
    session: Explainer,
    to_model: Callable[[np.ndarray], Any],
    to_host: Callable[[Any], np.ndarray],
    pixels: np.ndarray,
    targets: list[int],
    steps: Any,
    chosen: Mapping[str, Any],
    call: Mapping[str, Any],
) -> PhotoAttribution:
    """XRAI's region map from IG with black and white baselines (Kapishnikov et al. 2019);
    ``chosen`` holds its ``scales``, ``min_region_fraction`` and ``dilation_radius``."""
    from intgrad.images.xrai import xrai

    ig = session.attribute(
        to_model(pixels),
        baselines=[to_model(np.zeros_like(pixels)), to_model(np.ones_like(pixels))],
        target=targets,
        steps=steps if isinstance(steps, int) else 50,
        batch_size=call.get("batch_size"),
        progress=call.get("progress"),
    )
    regions = xrai(
        None,
        pixels,
        attributions=to_host(ig.attributions).sum(axis=-1),
        scales=chosen["scales"],
        min_region_fraction=chosen["min_region_fraction"],
        dilation_radius=chosen["dilation_radius"],
    )
    spread = np.repeat(regions.saliency[..., None] / 3.0, 3, axis=-1).astype(np.float32)
    half = np.full_like(pixels, 0.5)
    return PhotoAttribution(spread, half, "black+white (XRAI regions)", ig)


def _sample_background(size: tuple[int, int]) -> np.ndarray:
    """Expected Gradients' default references: every sample photo, fitted to ``size``."""
    from intgrad.images.decode import preprocess_box
    from intgrad.images.samples import load_sample, sample_names

    return np.stack([preprocess_box(load_sample(name), size)[0] for name in sample_names()])


def _blurred(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """The start of Blur IG's path as a picture, with the path's own border: the Gaussian cut
    at the image edge and renormalised there (``intgrad._core.blur``), so the picture is the
    image whose F the result reports as ``f_baseline``."""
    from scipy.ndimage import gaussian_filter

    size = pixels.shape[1:3]
    reach = max(size) / sigma + 1.0  # a kernel wider than the image: nothing truncated
    weights = gaussian_filter(np.ones(size), sigma, mode="constant", truncate=reach)
    blurred = [
        gaussian_filter(
            image.astype(np.float64), (sigma, sigma, 0), mode="constant", truncate=reach
        )
        / weights[..., None]
        for image in pixels
    ]
    return np.stack(blurred).astype(np.float32)
