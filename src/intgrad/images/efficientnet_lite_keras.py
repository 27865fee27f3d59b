"""EfficientNet-Lite0 as a Keras model, with weights converted from the PyTorch module.

The Keras network is built by walking :class:`~intgrad.images.efficientnet_lite.EfficientNetLite0`
layer by layer, so the architecture and the weights have one source. It is channels-last: RGB
images of shape (batch, height, width, 3) in [0, 1], scaled to (x·255 - 127) / 128 by its first
layer, mapped to ImageNet logits of shape (batch, 1000). Keras' ``padding="same"`` is TensorFlow's
``"SAME"`` (more padding after than before when the total is odd), which the PyTorch module
emulates, so both give the same logits for any image size.

Neither PyTorch nor TensorFlow is imported with this module: TensorFlow when a model is built,
PyTorch only to read the weights.

References:
    Tan & Le (2019), "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    ICML.
    Liu (2020), "Higher accuracy on vision models with EfficientNet-Lite", TensorFlow blog.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

if TYPE_CHECKING:
    import keras

    from intgrad.images.efficientnet_lite import (
        ConvBN,
        EfficientNetLite0,
        ImageNetClassifier,
        MBConv,
    )

__all__ = ["KerasClassifier", "keras_efficientnet_lite0", "load_keras_efficientnet_lite0"]

_NAME = "efficientnet-lite0"


@dataclass(frozen=True)
class KerasClassifier:
    """A Keras image classifier ready for attribution, described like ``LoadedModel``.

    Attributes:
        module: a ``keras.Model`` mapping RGB (batch, height, width, 3) in [0, 1] to logits
            (batch, classes); frozen, so batch normalisation always uses its moving statistics.
        name: the spec it was loaded from.
        input_size: (height, width) in pixels the model expects.
        labels: one display name per class.
        layout: where the channel axis is; always ``"channels_last"`` for Keras models.
    """

    module: Any
    name: str
    input_size: tuple[int, int]
    labels: tuple[str, ...]
    layout: Literal["channels_last"] = "channels_last"


def _keras() -> Any:
    """Import Keras on TensorFlow, or say what to install or configure."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow  # noqa: F401  (the backend; fail here rather than inside Keras)
    except ImportError as error:
        raise ModuleNotFoundError(
            "the Keras EfficientNet-Lite0 needs TensorFlow; install it with "
            "`pip install tensorflow`",
            name="tensorflow",
        ) from error
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"expected Keras on the TensorFlow backend, got {keras.backend.backend()!r}; "
            "set KERAS_BACKEND=tensorflow before importing Keras"
        )
    return keras


def _array(tensor: Any, *axes: int) -> np.ndarray:
    """A PyTorch parameter or buffer as a float32 NumPy array, axes permuted as given."""
    values = tensor.detach().cpu().numpy().astype(np.float32)
    return np.ascontiguousarray(values.transpose(axes) if axes else values)


def _conv_bn(keras: Any, x: Any, block: ConvBN, name: str) -> Any:
    """Apply one ConvBN (convolution, batch norm, optional ReLU6) with its converted weights.

    Args:
        keras: the Keras module.
        x: features (batch, height, width, in channels).
        block: the PyTorch ``ConvBN`` whose shapes and weights to copy.
        name: prefix of the new layers' names.

    Returns:
        Features (batch, height / stride, width / stride, out channels).
    """
    from torch import nn  # loaded already: we hold a PyTorch module

    conv, bn = block.conv, block.bn
    kernel_size, stride = conv.kernel_size, conv.stride
    if conv.groups == 1:
        layer = keras.layers.Conv2D(
            conv.out_channels, kernel_size, stride, "same", use_bias=False, name=f"{name}_conv"
        )
        kernel = _array(conv.weight, 2, 3, 1, 0)  # (out, in, kh, kw) → (kh, kw, in, out)
    elif conv.groups == conv.in_channels == conv.out_channels:
        layer = keras.layers.DepthwiseConv2D(
            kernel_size, stride, "same", use_bias=False, name=f"{name}_depthwise"
        )
        kernel = _array(conv.weight, 2, 3, 0, 1)  # (channels, 1, kh, kw) → (kh, kw, channels, 1)
    else:
        raise ValueError(f"expected a dense or depthwise convolution, got groups={conv.groups}")
    x = layer(x)
    layer.set_weights([kernel])
    # Keras' momentum is TensorFlow's decay, 1 - PyTorch's momentum; it only matters in training.
    decay = 0.99 if bn.momentum is None else 1.0 - bn.momentum
    norm = keras.layers.BatchNormalization(epsilon=bn.eps, momentum=decay, name=f"{name}_bn")
    x = norm(x)
    stats = (bn.weight, bn.bias, bn.running_mean, bn.running_var)
    norm.set_weights([_array(value) for value in stats])
    if isinstance(block.act, nn.ReLU6):  # projections are linear: nn.Identity
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x)
    return x


def _mbconv(keras: Any, x: Any, block: MBConv, name: str) -> Any:
    """Apply one MBConv block (expand, depthwise, project, skip) with its converted weights.

    Args:
        keras: the Keras module.
        x: features (batch, height, width, in channels).
        block: the PyTorch ``MBConv`` to copy.
        name: prefix of the new layers' names.

    Returns:
        Features (batch, height / stride, width / stride, out channels).
    """
    from intgrad.images.efficientnet_lite import ConvBN

    y = x
    if isinstance(block.expand, ConvBN):  # nn.Identity when the expansion ratio is 1
        y = _conv_bn(keras, y, block.expand, f"{name}_expand")
    y = _conv_bn(keras, y, block.depthwise, f"{name}_dw")
    y = _conv_bn(keras, y, block.project, f"{name}_project")
    return keras.layers.Add(name=f"{name}_add")([x, y]) if block.residual else y


def _classifier(keras: Any, x: Any, network: EfficientNetLite0) -> Any:
    """Pool, drop out (inactive at inference) and apply the converted dense layer.

    Args:
        keras: the Keras module.
        x: head features (batch, height, width, 1280).
        network: the PyTorch ``EfficientNetLite0`` whose classifier to copy.

    Returns:
        Logits (batch, classes).
    """
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(network.dropout.p, name="dropout")(x)
    linear = network.classifier
    dense = keras.layers.Dense(linear.out_features, name="classifier")
    x = dense(x)
    dense.set_weights([_array(linear.weight, 1, 0), _array(linear.bias)])
    return x


def _torch_network(torch_model: ImageNetClassifier) -> EfficientNetLite0:
    """The EfficientNetLite0 inside a PyTorch classifier, or a TypeError saying what was given."""
    from intgrad.images.efficientnet_lite import EfficientNetLite0

    network = getattr(torch_model, "network", None)
    if not isinstance(network, EfficientNetLite0):
        raise TypeError(
            "expected an ImageNetClassifier wrapping an EfficientNetLite0, "
            f"got {type(torch_model).__name__} wrapping {type(network).__name__}"
        )
    return network


def keras_efficientnet_lite0(torch_model: ImageNetClassifier | None = None) -> keras.Model:
    """Build EfficientNet-Lite0 in Keras with the weights of a PyTorch ImageNetClassifier.

    The model is frozen (``trainable = False``): batch normalisation uses its moving statistics
    even when called with ``training=True``, and gradients with respect to the inputs, which
    attribution needs, are unaffected.

    Args:
        torch_model: the PyTorch classifier to convert; by default ``load_efficientnet_lite0()``,
            the packaged ImageNet weights.

    Returns:
        A ``keras.Model`` mapping RGB (batch, height, width, 3) in [0, 1] to logits
        (batch, 1000); any height and width work, 224x224 is what the weights were trained at.

    Raises:
        ModuleNotFoundError: TensorFlow, or (without ``torch_model``) the weights package, is not
            installed.
        RuntimeError: Keras runs on a backend other than TensorFlow.
        TypeError: ``torch_model`` does not wrap an EfficientNetLite0.
    """
    keras = _keras()
    if torch_model is None:
        from intgrad.images.efficientnet_lite import load_efficientnet_lite0

        torch_model = load_efficientnet_lite0()
    network = _torch_network(torch_model)
    images = keras.Input(shape=(None, None, 3), name="images")
    # (x·255 - 127) / 128, the scaling the TF Lite models were trained on.
    x = keras.layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="scale")(images)
    x = _conv_bn(keras, x, network.stem, "stem")
    for index, block in enumerate(network.blocks):
        x = _mbconv(keras, x, cast("MBConv", block), f"block{index}")
    x = _conv_bn(keras, x, network.head, "head")
    model = keras.Model(images, _classifier(keras, x, network), name="efficientnet_lite0")
    model.trainable = False
    return model


def load_keras_efficientnet_lite0() -> KerasClassifier:
    """Load the embedded ImageNet classifier as a Keras model, with its labels.

    Returns:
        A KerasClassifier whose module takes RGB (batch, 224, 224, 3) in [0, 1] and returns
        1000 logits, named ``"efficientnet-lite0"``, channels-last.

    Raises:
        ModuleNotFoundError: TensorFlow, PyTorch, the weights package or the labels package is
            not installed.
        RuntimeError: Keras runs on a backend other than TensorFlow.
    """
    from intgrad.images.efficientnet_lite import load_efficientnet_lite0
    from intgrad.images.labels import imagenet_labels

    torch_model = load_efficientnet_lite0()
    module = keras_efficientnet_lite0(torch_model)
    return KerasClassifier(module, _NAME, torch_model.input_size, imagenet_labels())
