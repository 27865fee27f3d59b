"""The TensorFlow tutorial's workflow for photos: classify, pick a target, attribute, measure.

Everything here calls the public API (an :class:`intgrad.Explainer` session per model, held by
:class:`ImageExplainer`) and returns NumPy arrays, channels-last (height, width, 3) in [0, 1], so
the figures need no framework.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from intgrad import (
    BACKEND_NAMES,
    BASELINE_NAMES,
    Attribution,
    BlurBaseline,
    ConstantBaseline,
    Explainer,
    GaussianBaseline,
    PathRecord,
    UniformBaseline,
)
from intgrad.images.decode import Box, load_image, preprocess_box
from intgrad.images.efficientnet_lite_keras import KerasClassifier, load_keras_efficientnet_lite0
from intgrad.images.labels import resolve_label
from intgrad.images.models import DEFAULT_MODEL, LoadedModel, ModelLoadError, load_model
from intgrad.io import json_first

__all__ = [
    "IMAGE_BACKENDS",
    "IMAGE_BASELINES",
    "ImageExplainer",
    "ImageExplanation",
    "ImageModel",
    "Prediction",
    "baseline_images",
    "explain_image",
    "explain_images",
    "load_image_model",
    "prepare_image",
    "top_k_predictions",
]

PREDICT_BATCH = 8
"""Images per forward pass when classifying."""

GAUSSIAN_SIGMA = 0.1
"""Standard deviation of the "gaussian" image baseline, in [0, 1] pixel units."""

_PhotoRule = ConstantBaseline | UniformBaseline | GaussianBaseline | BlurBaseline

# The core's named baselines set up for photos, channels-last in [0, 1]: (rule, description) for
# a seed. The core's "zeros" is its alias of "black" and is not offered for photos.
_PHOTO_BASELINES: dict[str, Callable[[int | None], tuple[_PhotoRule, str]]] = {
    "black": lambda seed: (ConstantBaseline(0.0, "black"), "black"),
    "white": lambda seed: (ConstantBaseline(1.0, "white"), "white"),
    "uniform": lambda seed: (UniformBaseline(0.0, 1.0, seed), f"uniform(seed={seed})"),
    "gaussian": lambda seed: (
        GaussianBaseline(GAUSSIAN_SIGMA, seed, clip=(0.0, 1.0)),
        f"gaussian(sigma={GAUSSIAN_SIGMA:g}, seed={seed})",
    ),
    # The spatial axes of (examples, height, width, 3), even for images 4 pixels high or less.
    "blur": lambda seed: (BlurBaseline(axes=(1, 2)), "blur(sigma=5)"),
}

IMAGE_BASELINES: tuple[str, ...] = tuple(
    name for name in BASELINE_NAMES if name in _PHOTO_BASELINES
)
"""Baselines a photo can be explained against by name (or give an image file): the core's
:data:`intgrad.BASELINE_NAMES` without the alias "zeros", in the core's order."""


@dataclass(frozen=True)
class Prediction:
    """One class of a prediction: its index, display name and softmax probability."""

    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class ImageExplanation:
    """Integrated Gradients of one photo, with everything the tutorial's figures show.

    Attributes:
        image: shape (height, width, 3), float32 in [0, 1], the model's input (resized).
        box: where the photo lies inside ``image`` (the rest is padding).
        baseline: shape (height, width, 3), float32, the baseline image x′.
        attributions: shape (height, width, 3), float32, attributions of the target
            probability (Integrated Gradients, or the member of the family asked for).
        model: the model's name.
        target: the explained class index; ``target_label`` its display name.
        top_k: the model's best classes for ``image``, most probable first.
        result: this image's :class:`~intgrad.Attribution` (framework tensors, delta, path),
            with its own ``steps`` and ``estimated_error`` when explained with others.
        seconds: wall-clock time of the attribution, in seconds.
    """

    image: np.ndarray
    box: Box
    baseline: np.ndarray
    attributions: np.ndarray
    model: str
    target: int
    target_label: str
    top_k: tuple[Prediction, ...]
    result: Attribution
    baseline_name: str
    seconds: float

    @property
    def path(self) -> PathRecord | None:
        """Target probability and mean gradient along the path (the saturation plots)."""
        return self.result.path

    def summary(self) -> dict[str, Any]:
        """The numbers of this explanation as JSON-ready Python values."""
        result = self.result
        return {
            "model": self.model,
            "target": self.target,
            "target_label": self.target_label,
            "top_k": [vars(p) for p in self.top_k],
            "f_input": json_first(result.f_input),
            "f_baseline": json_first(result.f_baseline),
            "attribution_sum": float(result.attribution_sums[0]),
            "delta": json_first(result.delta),
            "relative_delta": json_first(result.relative_delta),
            "steps": result.steps,
            "method": result.method,
            "attribution": result.algorithm,
            "baseline": self.baseline_name,
            "seconds": round(self.seconds, 4),
        }


ImageModel = LoadedModel | KerasClassifier
"""A PyTorch classifier (channels-first) or the Keras one (channels-last), both on [0, 1] RGB."""


def _load_keras_model(spec: str) -> KerasClassifier:
    if spec.strip().lower() != DEFAULT_MODEL:
        raise ModelLoadError(
            f"with the tensorflow backend only {DEFAULT_MODEL!r} is available, got {spec!r}"
        )
    return load_keras_efficientnet_lite0()


_MODEL_LOADERS: dict[str, Callable[[str], ImageModel]] = {
    "torch": load_model,
    "tensorflow": _load_keras_model,
}

IMAGE_BACKENDS: tuple[str, ...] = tuple(name for name in BACKEND_NAMES if name in _MODEL_LOADERS)
"""The core's backends (:data:`intgrad.BACKEND_NAMES`) that have image classifiers here."""


def load_image_model(spec: str = DEFAULT_MODEL, backend: str = "torch") -> ImageModel:
    """Load an image classifier for ``backend``.

    Args:
        spec: a model spec (see :func:`intgrad.images.models.load_model`); with
            ``backend="tensorflow"`` only the embedded ``efficientnet-lite0`` exists (its
            weights are converted to Keras when loaded).
        backend: one of :data:`IMAGE_BACKENDS`, "torch" or "tensorflow".
    """
    if backend not in IMAGE_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(IMAGE_BACKENDS)}; got {backend!r}")
    return _MODEL_LOADERS[backend](spec)


def _as_model(model: ImageModel | str) -> ImageModel:
    return load_image_model(model) if isinstance(model, str) else model


def _channels_last(model: ImageModel) -> bool:
    return isinstance(model, KerasClassifier)


def prepare_image(
    image: np.ndarray | str | os.PathLike[str], size: tuple[int, int], resize: str = "pad"
) -> tuple[np.ndarray, Box]:
    """Decode (if a path) and fit a photo to ``size``: float32 (height, width, 3) and its box."""
    pixels = image if isinstance(image, np.ndarray) else load_image(image)
    return preprocess_box(pixels, size, mode=resize)  # type: ignore[arg-type]


def _model_input(model: ImageModel, images: np.ndarray) -> Any:
    """(examples, height, width, 3) float32 → the model's tensor type and layout."""
    if _channels_last(model):
        import tensorflow as tf

        return tf.constant(images)
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def _model_output(model: ImageModel, tensor: Any) -> np.ndarray:
    """A tensor in the model's layout → NumPy (examples, height, width, 3)."""
    if _channels_last(model):
        return np.asarray(tensor.numpy())
    return np.asarray(tensor.detach().cpu().numpy().transpose(0, 2, 3, 1))


def _probabilities(model: ImageModel, images: np.ndarray) -> np.ndarray:
    if _channels_last(model):
        import tensorflow as tf

        logits = model.module(tf.constant(images), training=False)
        return np.asarray(tf.nn.softmax(tf.cast(logits, tf.float64)).numpy())
    import torch

    with torch.no_grad():
        logits = model.module(_model_input(model, images))
    return np.asarray(torch.softmax(logits.double(), dim=-1).numpy())


def top_k_predictions(
    model: ImageModel | str, images: np.ndarray, k: int = 3
) -> list[tuple[Prediction, ...]]:
    """The ``k`` most probable classes of each image.

    Args:
        model: a loaded model or a model spec (see :func:`intgrad.images.models.load_model`).
        images: shape (examples, height, width, 3) or (height, width, 3), float in [0, 1], at
            the model's input size.
        k: how many classes per image, >= 1.
    """
    if k < 1:
        raise ValueError(f"top-k must be >= 1, got {k}")
    loaded = _as_model(model)
    batch = np.asarray(images, dtype=np.float32)
    batch = batch[None] if batch.ndim == 3 else batch
    # Small batches: on a CPU a forward pass of 16+ images is slower per image than of 8.
    probabilities = np.concatenate(
        [
            _probabilities(loaded, batch[i : i + PREDICT_BATCH])
            for i in range(0, len(batch), PREDICT_BATCH)
        ]
    )
    order = np.argsort(-probabilities, axis=1)[:, :k]
    return [
        tuple(Prediction(int(i), loaded.labels[i], float(row[i])) for i in best)
        for row, best in zip(probabilities, order, strict=True)
    ]


def baseline_images(
    baseline: str, images: np.ndarray, seed: int | None = 0, resize: str = "pad"
) -> tuple[np.ndarray, str]:
    """The baseline x′ for each image, and a description of it.

    Args:
        baseline: "black", "white", "uniform" (noise in [0, 1]), "gaussian" (the image plus
            noise of standard deviation ``GAUSSIAN_SIGMA``, clipped to [0, 1]), "blur" (the image
            blurred with a Gaussian of 5 pixels) or the path of an image file.
        images: shape (examples, height, width, 3), float32 in [0, 1].
        seed: seed of the random baselines.
        resize: how an image-file baseline is fitted to the images' size.

    Returns:
        Shape (examples, height, width, 3), float32, and e.g. ``"uniform(seed=0)"``.
    """
    if baseline in IMAGE_BASELINES:
        rule, name = _PHOTO_BASELINES[baseline](seed)
        if isinstance(rule, ConstantBaseline):
            return np.full_like(images, rule.value), name
        return rule.sample(images.astype(np.float64)).astype(np.float32), name
    if baseline in BASELINE_NAMES or not os.path.isfile(baseline):
        raise ValueError(
            f"baseline must be one of {', '.join(IMAGE_BASELINES)} or an image file; "
            f"got {baseline!r}"
        )
    pixels, _ = prepare_image(baseline, images.shape[1:3], resize)
    return np.broadcast_to(pixels, images.shape).copy(), os.path.basename(baseline)


def _resolve_targets(
    model: ImageModel, target: int | str | None, predictions: list[tuple[Prediction, ...]]
) -> list[int]:
    if target is None:
        return [best[0].index for best in predictions]
    return [resolve_label(target, model.labels)] * len(predictions)


class ImageExplainer:
    """Integrated Gradients (or another member of the family) of one image classifier, for
    many calls.

    The model is loaded once and one :class:`intgrad.Explainer` session of its target
    probability is kept, so later calls reuse its compiled steps. Calls from several threads
    on one ImageExplainer are safe (the session changes nothing process-wide under another
    call, and the model's parameters are left as they were).

    Args:
        model: a loaded :data:`ImageModel` or a model spec (see
            :func:`intgrad.images.models.load_model`); default the embedded EfficientNet-Lite0.
            Never modified.
        backend: "torch" or "tensorflow" (see :func:`load_image_model`), when ``model`` is a
            spec; a loaded model keeps its own framework.
    """

    def __init__(self, model: ImageModel | str = DEFAULT_MODEL, backend: str = "torch") -> None:
        self._model: ImageModel = (
            load_image_model(model, backend) if isinstance(model, str) else model
        )
        self._explainer = Explainer(self._model.module, output="probability")

    def __repr__(self) -> str:
        return f"ImageExplainer({self.name!r})"

    @property
    def model(self) -> ImageModel:
        """The loaded classifier."""
        return self._model

    @property
    def explainer(self) -> Explainer:
        """The session every call runs on: the model's target probability (softmax)."""
        return self._explainer

    @property
    def labels(self) -> tuple[str, ...]:
        """One display name per class of the model."""
        return self._model.labels

    @property
    def name(self) -> str:
        """The model's name (the spec it was loaded from)."""
        return self._model.name

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) in pixels the model takes; photos are fitted to it."""
        return self._model.input_size

    def predict(self, images: np.ndarray, k: int = 3) -> list[tuple[Prediction, ...]]:
        """The ``k`` most probable classes of each image (see :func:`top_k_predictions`).

        Args:
            images: shape (examples, height, width, 3) or (height, width, 3), float in
                [0, 1], at :attr:`input_size`.
            k: how many classes per image, >= 1.
        """
        return top_k_predictions(self._model, images, k)

    def explain(
        self,
        images: Sequence[np.ndarray | str | os.PathLike[str]],
        *,
        target: int | str | None = None,
        steps: int | Literal["auto"] = "auto",
        method: str | None = None,
        baseline: str = "black",
        batch_size: int | None = None,
        seed: int | None = 0,
        top_k: int = 3,
        resize: str = "pad",
        progress: Callable[[int, int], None] | None = None,
        tolerance: float = 0.01,
        attribution: str = "ig",
        attribution_options: dict[str, Any] | None = None,
    ) -> list[ImageExplanation]:
        """Explain several photos in one batched call (all paths share the model's chunks).

        Args:
            images: arrays (height, width, 3) in [0, 1] of any size, or image file paths;
                each is fitted to :attr:`input_size`.
            target: a class index or name (see ``resolve_label``); default each image's top
                class.
            steps, method, batch_size, progress, tolerance: as in
                :func:`intgrad.integrated_gradients`, except that ``steps`` defaults to
                ``"auto"`` (adapted per image until the completeness gap is within
                ``tolerance``, default 1 %); give a count for a fixed rule.
            baseline: "black", "white", "uniform", "gaussian", "blur" or an image file path.
            seed: seed of the random baselines.
            top_k: how many classes to report per image.
            resize: "pad" (keep the aspect ratio, zero pad) or "crop" (centre crop).
            attribution: the member of the IG family, one of
                :data:`~intgrad.images.methods.IMAGE_ATTRIBUTIONS` (default Integrated
                Gradients); ``attribution_options`` its options (e.g. ``{"samples": 64}``;
                see :func:`~intgrad.images.methods.method_options`).

        Returns:
            One :class:`ImageExplanation` per image, in order.
        """
        from intgrad.images.methods import attribute_photos, method_options

        method_options(attribution, attribution_options)  # bad options fail before any work
        loaded = self._model
        prepared = [prepare_image(image, loaded.input_size, resize) for image in images]
        pixels = np.stack([p for p, _ in prepared])
        predictions = top_k_predictions(loaded, pixels, top_k)
        targets = _resolve_targets(loaded, target, predictions)
        baselines, baseline_name = baseline_images(baseline, pixels, seed, resize)
        started = time.perf_counter()
        photos = attribute_photos(
            attribution,
            self._explainer,
            lambda array: _model_input(loaded, array),
            lambda tensor: _model_output(loaded, tensor),
            pixels,
            baselines,
            baseline_name,
            targets,
            options=attribution_options,
            steps=steps,
            method=method,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            tolerance=tolerance,
        )
        seconds = (time.perf_counter() - started) / len(images)
        result, attributions = photos.result, photos.attributions
        baselines, baseline_name = photos.baselines, photos.baseline_name
        return [
            ImageExplanation(
                image=pixels[index],
                box=prepared[index][1],
                baseline=baselines[index],
                attributions=attributions[index],
                model=loaded.name,
                target=targets[index],
                target_label=loaded.labels[targets[index]],
                top_k=predictions[index],
                result=result.example(index),
                baseline_name=baseline_name,
                seconds=seconds,
            )
            for index in range(len(prepared))
        ]


def explain_images(
    images: Sequence[np.ndarray | str | os.PathLike[str]],
    *,
    model: ImageExplainer | ImageModel | str = DEFAULT_MODEL,
    target: int | str | None = None,
    steps: int | Literal["auto"] = "auto",
    method: str | None = None,
    baseline: str = "black",
    batch_size: int | None = None,
    seed: int | None = 0,
    top_k: int = 3,
    resize: str = "pad",
    progress: Callable[[int, int], None] | None = None,
    tolerance: float = 0.01,
    backend: str = "torch",
    attribution: str = "ig",
    attribution_options: dict[str, Any] | None = None,
) -> list[ImageExplanation]:
    """Explain several photos in one batched call (all paths share the model's chunks).

    Makes a new :class:`ImageExplainer` for each call unless ``model`` is one; to explain
    many batches with one model, keep an ImageExplainer and call its
    :meth:`~ImageExplainer.explain` (the same options, without ``model`` and ``backend``).

    Args:
        images: arrays (height, width, 3) in [0, 1] of any size, or image file paths.
        model: an :class:`ImageExplainer` (its session is reused), a loaded model or a spec,
            default the embedded EfficientNet-Lite0.
        target: a class index or name (see ``resolve_label``); default each image's top class.
        steps, method, batch_size, progress, tolerance: as in
            :func:`intgrad.integrated_gradients`, except that ``steps`` defaults to
            ``"auto"`` (adapted per image until the completeness gap is within ``tolerance``,
            default 1 %); give a count for a fixed rule.
        baseline: "black", "white", "uniform", "gaussian", "blur" or an image file path.
        seed: seed of the random baselines.
        top_k: how many classes to report per image.
        resize: "pad" (keep the aspect ratio, zero pad) or "crop" (centre crop).
        backend: "torch" or "tensorflow" (the embedded model converted to Keras: the
            TensorFlow tutorial's workflow in TensorFlow), when ``model`` is a spec.
        attribution: the member of the IG family, one of
            :data:`~intgrad.images.methods.IMAGE_ATTRIBUTIONS` (default Integrated Gradients);
            ``attribution_options`` its options (e.g. ``{"samples": 64}``; see
            :func:`~intgrad.images.methods.method_options`).

    Returns:
        One :class:`ImageExplanation` per image, in order.
    """
    from intgrad.images.methods import method_options

    method_options(attribution, attribution_options)  # bad options fail before any work
    session = model if isinstance(model, ImageExplainer) else ImageExplainer(model, backend)
    return session.explain(
        images,
        target=target,
        steps=steps,
        method=method,
        baseline=baseline,
        batch_size=batch_size,
        seed=seed,
        top_k=top_k,
        resize=resize,
        progress=progress,
        tolerance=tolerance,
        attribution=attribution,
        attribution_options=attribution_options,
    )


def explain_image(image: np.ndarray | str | os.PathLike[str], **options: Any) -> ImageExplanation:
    """Explain one photo; ``options`` as in :func:`explain_images`."""
    return explain_images([image], **options)[0]
