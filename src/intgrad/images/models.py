"""Image classifiers by name: the embedded EfficientNet-Lite0, torchvision, timm, or a file.

Every loaded model takes RGB images of shape (batch, 3, height, width) with values in [0, 1] and
returns logits of shape (batch, classes); any normalisation the weights expect happens inside,
so attribution works in pixel space and a black baseline is a black image.

Specs understood by ``load_model``:

- ``efficientnet-lite0``: the embedded classifier; works offline.
- ``torchvision:<name>``, e.g. ``torchvision:googlenet`` (Inception V1): torchvision's default
  weights, downloaded once into the torch hub cache.
- ``timm:<name>``, e.g. ``timm:resnet50``: timm's pretrained weights, downloaded once.
- a TorchScript file (``.pt``, ``.pth`` or ``.ts``) loaded with ``torch.jit.load``. It must take
  [0, 1] RGB input and return logits of shape (batch, classes). Optional attributes ``labels``
  (list of str) and ``input_size`` ([height, width]) describe it; otherwise 224x224 is assumed,
  and 1000 classes are taken as ImageNet's. Loading runs the file's code: load only files you
  trust. Plain pickles and state dicts are refused, never unpickled.
- an ONNX file (``.onnx``), converted with ``onnx2torch`` when that is installed; the same input
  contract as TorchScript.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from intgrad.images.efficientnet_lite import load_efficientnet_lite0
from intgrad.images.labels import imagenet_labels

__all__ = [
    "DEFAULT_MODEL",
    "LoadedModel",
    "ModelLoadError",
    "NormalizedClassifier",
    "available_models",
    "load_model",
]

DEFAULT_MODEL = "efficientnet-lite0"
_DEFAULT_INPUT_SIZE = (224, 224)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts")
_ONNX_SUFFIX = ".onnx"


class ModelLoadError(ValueError):
    """A model spec that names no model, or a model that could not be loaded."""


@dataclass(frozen=True)
class LoadedModel:
    """A classifier ready for attribution, with what a caller needs to feed and read it.

    Attributes:
        module: maps RGB (batch, 3, height, width) in [0, 1] to logits (batch, classes);
            in eval mode, on the CPU.
        name: the spec it was loaded from.
        input_size: (height, width) in pixels the model expects.
        labels: one display name per class.
    """

    module: nn.Module
    name: str
    input_size: tuple[int, int]
    labels: tuple[str, ...]


class NormalizedClassifier(nn.Module):
    """Wrap a classifier that expects standardised input so that it takes [0, 1] pixels.

    Args:
        network: maps standardised (batch, 3, height, width) to logits (batch, classes).
        mean: per-channel mean of the training pixels, RGB, in [0, 1].
        std: per-channel standard deviation of the training pixels, RGB, in [0, 1].
    """

    def __init__(self, network: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map RGB (batch, 3, height, width) in [0, 1] to the network's logits (batch, classes)."""
        mean, std = self.get_buffer("mean"), self.get_buffer("std")
        return self.network((images - mean.to(images.dtype)) / std.to(images.dtype))


def available_models() -> tuple[str, ...]:
    """Return the forms of spec ``load_model`` accepts, for help text."""
    return (
        DEFAULT_MODEL,
        "torchvision:<name>",
        "timm:<name>",
        "<file>.pt|.pth|.ts (TorchScript)",
        "<file>.onnx (needs onnx2torch)",
    )


def load_model(spec: str = DEFAULT_MODEL) -> LoadedModel:
    """Load an image classifier by spec (see the module docstring), in eval mode, on the CPU.

    Parameters keep PyTorch's default ``requires_grad``.

    Args:
        spec: ``efficientnet-lite0``, ``torchvision:<name>``, ``timm:<name>``, or a path to a
            TorchScript or ONNX file.

    Raises:
        ModelLoadError: the spec is unknown, the file is missing or not a model, a needed package
            is not installed, or weights could not be fetched.
    """
    if not isinstance(spec, str):
        raise TypeError(f"expected a model spec string, got {type(spec).__name__}")
    text = spec.strip()
    if text.lower() == DEFAULT_MODEL:
        return _load_efficientnet_lite0()
    prefix, colon, name = text.partition(":")
    if colon and prefix.lower() in _HUB_LOADERS:
        if not name.strip():
            raise ModelLoadError(f"expected a model name after {prefix}:, got {spec!r}")
        return _HUB_LOADERS[prefix.lower()](name.strip())
    return _load_file(text)


def _load_efficientnet_lite0() -> LoadedModel:
    """Load the embedded classifier, turning a missing package into a ModelLoadError."""
    try:
        module = load_efficientnet_lite0()
        labels = imagenet_labels()
    except ModuleNotFoundError as error:
        raise ModelLoadError(str(error)) from error
    return LoadedModel(module, DEFAULT_MODEL, module.input_size, labels)


def _import_optional(module: str, package: str, spec: str) -> ModuleType:
    """Import an optional dependency, or say which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModelLoadError(
            f"{spec} needs the package {package}; install it with `pip install {package}`"
        ) from error


def _labels_for(count: int, fallback: Sequence[str] | None = None) -> tuple[str, ...]:
    """Return ImageNet's labels for 1000 classes, else ``fallback``, else "class 0", ..."""
    if count == 1000:
        try:
            return imagenet_labels()
        except ModuleNotFoundError:
            pass
    if fallback is not None and len(fallback) == count:
        return tuple(str(label) for label in fallback)
    return tuple(f"class {index}" for index in range(count))


def _load_torchvision(name: str) -> LoadedModel:
    """Load ``torchvision:<name>`` with its default weights, normalising inside."""
    spec = f"torchvision:{name}"
    models = _import_optional("torchvision", "torchvision", spec).models
    try:
        weights = models.get_model_weights(name).DEFAULT
    except ValueError as error:
        raise ModelLoadError(
            f"torchvision has no model {name!r} with weights; see torchvision.models.list_models()"
        ) from error
    try:
        network = models.get_model(name, weights=weights)
    except (OSError, RuntimeError) as error:
        raise ModelLoadError(_fetch_failure(spec, error)) from error
    transform = weights.transforms()
    if not hasattr(transform, "crop_size"):
        raise ModelLoadError(f"expected {spec} to be an image classifier; its weights are not")
    size = int(transform.crop_size[0])
    categories = weights.meta.get("categories") or []
    module = NormalizedClassifier(network, transform.mean, transform.std).eval()
    return LoadedModel(module, spec, (size, size), _labels_for(len(categories), categories))


def _load_timm(name: str) -> LoadedModel:
    """Load ``timm:<name>`` with its pretrained weights, normalising inside."""
    spec = f"timm:{name}"
    timm = _import_optional("timm", "timm", spec)
    if not timm.is_model(name):
        raise ModelLoadError(f"timm has no model {name!r}; see timm.list_models()")
    try:
        network = timm.create_model(name, pretrained=True)
    # timm fetches through huggingface_hub and urllib, whose errors share no base class.
    except Exception as error:
        raise ModelLoadError(_fetch_failure(spec, error)) from error
    config = getattr(network, "pretrained_cfg", None) or {}
    mean = config.get("mean", _IMAGENET_MEAN)
    std = config.get("std", _IMAGENET_STD)
    height, width = config.get("input_size", (3, *_DEFAULT_INPUT_SIZE))[-2:]
    module = NormalizedClassifier(network, mean, std).eval()
    return LoadedModel(module, spec, (int(height), int(width)), _labels_for(network.num_classes))


def _fetch_failure(spec: str, error: BaseException) -> str:
    """Say that weights could not be fetched, with the first line of the cause."""
    cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"could not fetch the weights of {spec} ({cause}); "
        "connect to the internet once so they are cached"
    )


_HUB_LOADERS: dict[str, Callable[[str], LoadedModel]] = {
    "torchvision": _load_torchvision,
    "timm": _load_timm,
}


def _load_file(text: str) -> LoadedModel:
    """Load a TorchScript or ONNX file, or explain why the spec names neither."""
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if suffix in _TORCHSCRIPT_SUFFIXES or suffix == _ONNX_SUFFIX:
        if not path.is_file():
            raise ModelLoadError(f"model file {str(path)!r} does not exist")
        module = _load_torchscript(path) if suffix != _ONNX_SUFFIX else _load_onnx(path)
        return _describe_file_model(module.eval(), str(path))
    if path.is_file():
        raise ModelLoadError(
            f"cannot load {str(path)!r}: expected a TorchScript file (.pt, .pth, .ts) "
            "or an ONNX file (.onnx)"
        )
    raise ModelLoadError(f"unknown model {text!r}: expected one of {', '.join(available_models())}")


def _load_torchscript(path: Path) -> nn.Module:
    """Load a TorchScript archive on the CPU; pickles and state dicts are refused."""
    with warnings.catch_warnings():
        # TorchScript is deprecated in recent PyTorch, but it is the safe format users have.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as error:
            raise ModelLoadError(
                f"{str(path)!r} is not a TorchScript file; "
                "save one with torch.jit.script(model).save(path)"
            ) from error


def _load_onnx(path: Path) -> nn.Module:
    """Convert an ONNX file into a PyTorch module with onnx2torch."""
    onnx2torch = _import_optional("onnx2torch", "onnx2torch", f"loading {path.name}")
    try:
        module: nn.Module = onnx2torch.convert(str(path))
    # The converter raises protobuf, onnx-checker and NotImplementedError failures alike.
    except Exception as error:
        raise ModelLoadError(f"could not convert {str(path)!r} from ONNX: {error}") from error
    return module


def _describe_file_model(module: nn.Module, name: str) -> LoadedModel:
    """Read a file model's size and labels, checking it maps one image to one row of logits."""
    input_size = _declared_input_size(module)
    classes = _probe_classes(module, name, input_size)
    declared = getattr(module, "labels", None)
    if declared is None:
        return LoadedModel(module, name, input_size, _labels_for(classes))
    if len(declared) != classes:
        raise ModelLoadError(
            f"{name!r} declares {len(declared)} labels but returns {classes} logits"
        )
    return LoadedModel(module, name, input_size, tuple(str(label) for label in declared))


def _declared_input_size(module: nn.Module) -> tuple[int, int]:
    """Return the module's ``input_size`` attribute as (height, width), else 224x224."""
    declared = getattr(module, "input_size", None)
    if declared is None:
        return _DEFAULT_INPUT_SIZE
    if len(declared) != 2:
        raise ModelLoadError(f"expected input_size as [height, width], got {list(declared)}")
    return int(declared[0]), int(declared[1])


def _probe_classes(module: nn.Module, name: str, input_size: tuple[int, int]) -> int:
    """Run one black image through the model and return its number of classes."""
    probe = torch.zeros(1, 3, *input_size)
    try:
        with torch.no_grad():
            logits = module(probe)
    except RuntimeError as error:
        raise ModelLoadError(
            f"{name!r} failed on a black (1, 3, {input_size[0]}, {input_size[1]}) image: "
            f"{str(error).strip().splitlines()[0]}"
        ) from error
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != 1:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelLoadError(f"expected {name!r} to return logits (batch, classes), got {shape}")
    return int(logits.shape[1])
