"""Decode image files into float RGB arrays and fit them to a model's input size.

Everything here works on NumPy arrays and Pillow images only; no deep-learning framework is
imported. Arrays are ``float32`` with shape (height, width, 3) and values in [0, 1].
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Literal, NamedTuple, get_args

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "RESIZE_MODES",
    "SUPPORTED_FORMATS",
    "Box",
    "ImageDecodeError",
    "center_crop_resize",
    "load_image",
    "pad_box",
    "preprocess",
    "preprocess_box",
    "resize_with_pad",
    "resize_with_pad_box",
    "to_uint8",
]

AlphaMode = Literal["white", "black", "drop"]
ResizeMode = Literal["pad", "crop"]

#: How :func:`preprocess` can fit a photo to a size: "pad" (keeps all of it) or "crop".
RESIZE_MODES: tuple[str, ...] = get_args(ResizeMode)

#: Largest image, in pixels (width times height), that :func:`load_image` decodes by default.
DEFAULT_MAX_PIXELS = 100_000_000

#: Pillow format names that :func:`load_image` accepts. Restricting the list keeps Pillow away
#: from plugins that shell out (EPS runs Ghostscript) or parse exotic containers. "JPEG" also
#: opens the multi-picture JPEGs (MPO) that many phone cameras write.
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

_ALPHA_MODES = ("white", "black", "drop")
_ALPHA_PIL_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_INTEGER_PIL_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "I;16S")
_TIFF_BITS_PER_SAMPLE = 258
_TIFF_SAMPLE_FORMAT = 339
_TIFF_SIGNED_INT = 2

# Exceptions Pillow raises for data it cannot decode (truncated streams, bad headers, corrupt
# compressed data). Anything else escaping Pillow is a bug and should surface as-is.
_PILLOW_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)


class ImageDecodeError(ValueError):
    """An image file or byte string could not be decoded; the message names the source."""


class Box(NamedTuple):
    """Where the photo lies inside a preprocessed image, in pixels.

    Attributes:
        top: first row of the photo.
        left: first column of the photo.
        height: number of rows the photo covers.
        width: number of columns the photo covers.
    """

    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices that select the photo from a (height, width, ...) array."""
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def load_image(
    source: str | os.PathLike[str] | bytes,
    *,
    alpha: AlphaMode = "white",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode an image file into a float RGB array.

    Reads JPEG, PNG, WebP, BMP, TIFF and GIF with Pillow (the first frame of animations and
    multi-page files). The EXIF orientation tag is applied, so the array is upright as a
    viewer shows it. Pixel modes become RGB as follows:

    - grayscale (``L``), 1-bit and 16- or 32-bit integer grayscale are copied to all three
      channels; integer data is divided by the full scale of its true bit depth (65535 for
      16-bit PNG, PPM and TIFF; ``2**bits - 1`` or ``2**(bits - 1) - 1`` for other TIFFs, as
      its BitsPerSample and SampleFormat tags say), negative values clip to 0;
    - floating-point TIFF (``F``) is taken as already in [0, 1]: values are clipped to [0, 1]
      and NaN becomes 0, no rescaling is done;
    - 16-bit RGB(A) PNGs are reduced to 8 bits per channel by Pillow itself (it keeps the high
      byte), so they are exact to within 1/255;
    - palette, CMYK (naive conversion, no colour management) and other modes go through
      Pillow's conversion to RGB; embedded ICC profiles are ignored;
    - transparency (an alpha channel or a palette/colour-key ``transparency`` entry) is
      composited over ``alpha``.

    Args:
        source: a path to the file, or the file's content as bytes.
        alpha: what a transparent pixel becomes: ``"white"`` composites over white (1.0),
            ``"black"`` over black (0.0), ``"drop"`` discards the alpha channel and keeps the
            stored colour.
        max_pixels: largest accepted width times height. The size is read from the header
            before any pixel data is decoded, so decompression bombs cost nothing. Pillow's own
            hard limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 million pixels) still
            applies above it and is reported the same way.

    Returns:
        ``float32`` array of shape (height, width, 3) with values in [0, 1].

    Raises:
        ImageDecodeError: the source is missing, a directory, empty, not an image in a
            supported format, truncated or corrupt, or larger than ``max_pixels``.
        ValueError: ``alpha`` or ``max_pixels`` is invalid.

    Warns:
        UserWarning: Pillow's own warnings about a decoded file (for example corrupt EXIF
            data, in which case the orientation is left as stored) are re-issued at the
            caller. Pillow's ``DecompressionBombWarning`` is never issued: ``max_pixels``
            replaces it.
    """
    _check_decode_options(alpha, max_pixels)
    label, fp = _open_source(source)
    # Pillow reports recoverable problems (odd EXIF, a bomb-sized header) as warnings. They are
    # recorded so that a failed decode reports one error only, the bomb warning is dropped
    # because ``max_pixels`` is enforced here, and the rest are re-raised at the caller.
    # (catch_warnings swaps process-wide state: a warning another thread raises meanwhile
    # lands here too. Python 3.10 offers nothing thread-local.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image, full_scale = _decode(fp, label, max_pixels)
    _reemit_warnings(caught)
    return _to_rgb_array(image, label, alpha, full_scale)


def _check_decode_options(alpha: str, max_pixels: int) -> None:
    """Reject an unknown alpha mode or a non-positive pixel limit."""
    if alpha not in _ALPHA_MODES:
        raise ValueError(f"alpha must be one of {_ALPHA_MODES}, got {alpha!r}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")


def _open_source(source: str | os.PathLike[str] | bytes) -> tuple[str, str | io.BytesIO]:
    """Check that the source can hold an image; return its label for messages and a handle."""
    if isinstance(source, (bytes, bytearray)):
        label = f"image bytes ({len(source)} bytes)"
        if not source:
            raise ImageDecodeError(f"cannot decode {label}: the data is empty")
        return label, io.BytesIO(source)
    path = Path(source)
    label = f"image file '{path}'"
    if not path.exists():
        raise ImageDecodeError(f"cannot decode {label}: no such file")
    if path.is_dir():
        raise ImageDecodeError(f"cannot decode {label}: it is a directory")
    if path.stat().st_size == 0:
        raise ImageDecodeError(f"cannot decode {label}: the file is empty")
    return label, os.fspath(path)


def _decode(fp: str | io.BytesIO, label: str, max_pixels: int) -> tuple[Image.Image, int]:
    """Open, size-check, fully decode and upright an image.

    Returns the decoded image and the full-scale value of its integer samples (used only for
    the 16/32-bit integer modes; it must be read before the EXIF transpose drops the format).
    """
    try:
        with Image.open(fp, formats=SUPPORTED_FORMATS) as opened:
            _check_pixel_count(opened.size, label, max_pixels)
            # A full load forces every byte to be decoded, so truncation is an error here
            # rather than grey rows later (ImageFile.LOAD_TRUNCATED_IMAGES stays False).
            opened.load()
            full_scale = _integer_full_scale(opened)
            return _upright(opened, label), full_scale
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as exc:
        names = ", ".join(SUPPORTED_FORMATS)
        raise ImageDecodeError(f"cannot decode {label}: not an image in {names}") from exc
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"cannot decode {label}: too large ({_one_line(exc)})") from exc
    except _PILLOW_DECODE_ERRORS as exc:
        raise ImageDecodeError(
            f"cannot decode {label}: the data is truncated or corrupt ({_one_line(exc)})"
        ) from exc


def _upright(image: Image.Image, label: str) -> Image.Image:
    """Apply the EXIF orientation; keep the stored orientation if the EXIF block is corrupt.

    A damaged EXIF block should not cost the user an otherwise good photo, so the failure is a
    warning, not an error.
    """
    try:
        return ImageOps.exif_transpose(image)
    except _PILLOW_DECODE_ERRORS as exc:
        warnings.warn(
            f"{label}: EXIF orientation ignored, the EXIF data is unreadable ({_one_line(exc)})",
            stacklevel=2,
        )
        return image.copy()


def _check_pixel_count(size: tuple[int, int], label: str, max_pixels: int) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels."""
    width, height = size
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"cannot decode {label}: {width}x{height} = {width * height} pixels exceeds "
            f"max_pixels={max_pixels} (possible decompression bomb)"
        )


def _integer_full_scale(image: Image.Image) -> int:
    """Value that maps to 1.0 for an integer-mode image, from its true bit depth.

    Pillow keeps 16-bit PNG, PPM and TIFF samples unscaled in ``I;16*`` or ``I``, so 16 bits
    is the default; TIFF states its depth and signedness in tags.
    """
    bits, signed = 16, image.mode == "I;16S"
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", {})
        bits = _first_int(tags.get(_TIFF_BITS_PER_SAMPLE), bits)
        signed = _first_int(tags.get(_TIFF_SAMPLE_FORMAT), 1) == _TIFF_SIGNED_INT
    bits = min(max(bits, 1), 32)
    return 2 ** (bits - 1) - 1 if signed else 2**bits - 1


def _first_int(value: object, default: int) -> int:
    """First integer of a TIFF tag value (an int or a per-sample tuple), or ``default``."""
    if isinstance(value, tuple) and value:
        value = value[0]
    return value if isinstance(value, int) else default


def _reemit_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Warn at the caller of :func:`load_image` with what Pillow warned while decoding."""
    for record in caught:
        if not issubclass(record.category, Image.DecompressionBombWarning):
            warnings.warn(record.message, stacklevel=3)


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line, or its type name when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Pixel modes to float RGB
# --------------------------------------------------------------------------------------------


def _to_rgb_array(image: Image.Image, label: str, alpha: AlphaMode, full_scale: int) -> np.ndarray:
    """Convert a decoded Pillow image of any supported mode to float32 RGB in [0, 1]."""
    if image.mode == "F":
        return _gray_to_rgb(_float_gray(image))
    if image.mode in _INTEGER_PIL_MODES:
        return _gray_to_rgb(_integer_gray(image, full_scale))
    try:
        if _has_alpha(image):
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
            return _composite(rgba, alpha)
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    except ValueError as exc:
        raise ImageDecodeError(
            f"cannot decode {label}: pixel mode {image.mode!r} cannot be converted to RGB"
        ) from exc


def _has_alpha(image: Image.Image) -> bool:
    """Whether the image has an alpha channel or a transparent palette entry or colour key."""
    return image.mode in _ALPHA_PIL_MODES or "transparency" in image.info


def _composite(rgba: np.ndarray, alpha: AlphaMode) -> np.ndarray:
    """Flatten float RGBA (height, width, 4) in [0, 1] to RGB (height, width, 3)."""
    rgb, opacity = rgba[..., :3], rgba[..., 3:]
    if alpha == "drop":
        return np.ascontiguousarray(rgb)
    background = np.float32(1.0 if alpha == "white" else 0.0)
    return rgb * opacity + background * (1 - opacity)


def _float_gray(image: Image.Image) -> np.ndarray:
    """Float grayscale (mode F) as float32 (height, width), NaN to 0, clipped to [0, 1]."""
    values = np.asarray(image, dtype=np.float32)
    return np.clip(np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def _integer_gray(image: Image.Image, full_scale: int) -> np.ndarray:
    """Integer grayscale as float32 (height, width) in [0, 1], divided by ``full_scale``."""
    values = np.asarray(image).astype(np.float64) / full_scale
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """Repeat a (height, width) array into three channels (height, width, 3)."""
    return np.repeat(gray[..., np.newaxis], 3, axis=-1)


# --------------------------------------------------------------------------------------------
# Fitting to a model's input size
# --------------------------------------------------------------------------------------------


def pad_box(image_size: tuple[int, int], size: tuple[int, int]) -> Box:
    """Where :func:`resize_with_pad` places an image of ``image_size`` inside ``size``.

    Follows ``tf.image.resize_with_pad``: the image is scaled by
    ``s = min(height / image_height, width / image_width)``, its scaled size is rounded
    down, and the top and left padding are ``floor((height - s * image_height) / 2)`` and
    ``floor((width - s * image_width) / 2)``, computed from the unrounded scaled size. An odd
    remainder therefore puts the extra row or column at the bottom or right. Unlike
    TensorFlow, the arithmetic is exact (rational), so no float rounding can lose a pixel.

    Args:
        image_size: (height, width) of the photo, in pixels.
        size: (height, width) of the output, in pixels.

    Returns:
        The photo's box in the output.
    """
    image_height, image_width = _check_size(image_size, "image_size")
    height, width = _check_size(size, "size")
    scale = min(Fraction(height, image_height), Fraction(width, image_width))
    scaled_height, scaled_width = image_height * scale, image_width * scale
    return Box(
        top=max(0, floor((height - scaled_height) / 2)),
        left=max(0, floor((width - scaled_width) / 2)),
        height=max(1, floor(scaled_height)),
        width=max(1, floor(scaled_width)),
    )


def resize_with_pad_box(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Box]:
    """Scale an image to fit inside ``size`` keeping its aspect ratio, then pad with zeros.

    The geometry is that of ``tf.image.resize_with_pad`` (see :func:`pad_box`). Resampling is
    Pillow's bilinear filter on float data, which, unlike TensorFlow's default, widens its
    support when shrinking, so downscaled photos do not alias.

    Args:
        image: array of shape (image height, image width, channels), values in [0, 1].
        size: (height, width) of the output, in pixels.

    Returns:
        The ``float32`` array of shape (height, width, channels) in [0, 1], zero outside the
        photo, and the photo's :class:`Box` in it.
    """
    pixels = _check_image(image)
    box = pad_box(pixels.shape[:2], size)
    out = np.zeros((*_check_size(size, "size"), pixels.shape[2]), dtype=np.float32)
    out[box.slices] = _resize(pixels, (box.height, box.width))
    return out, box


def resize_with_pad(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`resize_with_pad_box` without the box: (height, width, channels) float32."""
    return resize_with_pad_box(image, size)[0]


def center_crop_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale an image so it covers ``size`` keeping its aspect ratio, and crop the centre.

    Equivalent to scaling the shorter side (relative to ``size``) to fit and cutting the
    overflow equally from both ends, but done as one bilinear resample of the central region
    with sub-pixel bounds, so there is no rounding of the crop offset.

    Args:
        image: array of shape (image height, image width, channels), values in [0, 1].
        size: (height, width) of the output, in pixels.

    Returns:
        ``float32`` array of shape (height, width, channels) in [0, 1].
    """
    pixels = _check_image(image)
    height, width = _check_size(size, "size")
    image_height, image_width = pixels.shape[:2]
    crop_height = min(image_height, image_width * height / width)
    crop_width = min(image_width, image_height * width / height)
    top, left = (image_height - crop_height) / 2, (image_width - crop_width) / 2
    region = (left, top, left + crop_width, top + crop_height)
    return _resize(pixels, (height, width), region)


def preprocess_box(
    image: np.ndarray, size: tuple[int, int], *, mode: ResizeMode = "pad"
) -> tuple[np.ndarray, Box]:
    """Fit an image to ``size`` by padding or cropping; also return where the photo lies.

    Args:
        image: array of shape (image height, image width, channels), values in [0, 1].
        size: (height, width) of the output, in pixels.
        mode: ``"pad"`` for :func:`resize_with_pad`, ``"crop"`` for
            :func:`center_crop_resize` (the box is then the whole output).

    Returns:
        ``float32`` array of shape (height, width, channels) in [0, 1] and the photo's box.
    """
    if mode == "pad":
        return resize_with_pad_box(image, size)
    if mode == "crop":
        height, width = _check_size(size, "size")
        return center_crop_resize(image, size), Box(0, 0, height, width)
    raise ValueError(f"mode must be 'pad' or 'crop', got {mode!r}")


def preprocess(image: np.ndarray, size: tuple[int, int], *, mode: ResizeMode = "pad") -> np.ndarray:
    """:func:`preprocess_box` without the box: (height, width, channels) float32."""
    return preprocess_box(image, size, mode=mode)[0]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert float values in [0, 1] to ``uint8`` in [0, 255], rounding to nearest.

    Values outside [0, 1] are clipped and NaN becomes 0. The shape is kept.
    """
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
    return np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)


def _check_image(image: np.ndarray) -> np.ndarray:
    """Validate a (height, width, channels) real array and return it as float32."""
    pixels = np.asarray(image)
    if pixels.ndim != 3 or min(pixels.shape) < 1:
        raise ValueError(
            f"image must have shape (height, width, channels) with no empty axis, "
            f"got {pixels.shape}"
        )
    if not (np.issubdtype(pixels.dtype, np.floating) or np.issubdtype(pixels.dtype, np.integer)):
        raise ValueError(f"image must hold real numbers, got dtype {pixels.dtype}")
    return pixels.astype(np.float32, copy=False)


def _check_size(size: tuple[int, int], name: str) -> tuple[int, int]:
    """Validate a (height, width) pair of positive integers."""
    if (
        len(size) != 2
        or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in size)
        or min(size) < 1
    ):
        raise ValueError(f"{name} must be (height, width) positive integers, got {size!r}")
    return int(size[0]), int(size[1])


def _resize(
    pixels: np.ndarray,
    size: tuple[int, int],
    region: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Bilinear resample of float32 (rows, cols, channels) to ``size``, clipped to [0, 1].

    ``region`` is the (left, top, right, bottom) source area in pixels; the whole image when
    ``None``. Each channel goes through Pillow as a 32-bit float ("F") image, so no
    quantisation to 8 bits happens.
    """
    height, width = size
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels[..., c])).resize(
                (width, height), Image.Resampling.BILINEAR, box=region
            )
        )
        for c in range(pixels.shape[2])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32, copy=False)
