"""Tests for image decoding and fitting to a model's input size."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from intgrad.images.decode import (
    DEFAULT_MAX_PIXELS,
    Box,
    ImageDecodeError,
    center_crop_resize,
    load_image,
    pad_box,
    preprocess,
    preprocess_box,
    resize_with_pad,
    resize_with_pad_box,
    to_uint8,
)

EXACT = 1e-6  # float32 k/255 and k/65535 round trips are exact to this
JPEG_MAX_ERROR = 0.06  # quality-95 JPEG of a smooth image: measured max error 0.024
JPEG_MEAN_ERROR = 0.01  # measured mean error 0.0033
ORIENTATION_TAG = 0x0112

# Six distinct colours in a 2 x 3 grid: every rotation and flip of it is distinguishable.
BLOCK_COLOURS = np.array(
    [[[255, 0, 0], [0, 255, 0], [0, 0, 255]], [[255, 255, 0], [0, 0, 0], [255, 255, 255]]],
    dtype=np.uint8,
)
BLOCK = 8  # pixels per grid cell, so JPEG blocks stay inside one colour


def _rgb_pattern(height: int = 12, width: int = 20, seed: int = 0) -> np.ndarray:
    """Random uint8 RGB pixels (height, width, 3) for lossless round trips."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _smooth_pattern() -> np.ndarray:
    """Smooth uint8 RGB gradients (32, 48, 3), which JPEG and lossy WebP keep well."""
    y, x = np.mgrid[0:32, 0:48]
    return np.stack([x * 5, y * 7, 255 - x * 5], axis=-1).astype(np.uint8)


def _blocks() -> np.ndarray:
    """The colour grid scaled to (16, 24, 3) uint8."""
    return np.repeat(np.repeat(BLOCK_COLOURS, BLOCK, axis=0), BLOCK, axis=1)


def _save(tmp_path: Path, image: Image.Image, name: str, **params: object) -> Path:
    path = tmp_path / name
    image.save(path, **params)
    return path


def _png_bytes(width: int, height: int, colour_type: int, bit_depth: int, rows: bytes) -> bytes:
    """A minimal PNG file: IHDR, one IDAT with ``rows`` (filter bytes included), IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(rows)) if rows else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("a.png", {}),
        ("a.bmp", {}),
        ("a.tiff", {}),
        ("a.webp", {"lossless": True}),
    ],
)
def test_lossless_formats_decode_exactly(tmp_path, name, params):
    pixels = _rgb_pattern()
    path = _save(tmp_path, Image.fromarray(pixels), name, **params)
    decoded = load_image(path)
    assert decoded.shape == (12, 20, 3)
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, pixels / 255, rtol=0, atol=EXACT)


@pytest.mark.parametrize(("name", "params"), [("a.jpg", {"quality": 95}), ("a.webp", {})])
def test_lossy_formats_decode_within_tolerance(tmp_path, name, params):
    pixels = _smooth_pattern()
    decoded = load_image(_save(tmp_path, Image.fromarray(pixels), name, **params))
    error = np.abs(decoded - pixels / 255)
    assert decoded.shape == (32, 48, 3)
    assert error.max() <= JPEG_MAX_ERROR
    assert error.mean() <= JPEG_MEAN_ERROR


def test_multi_picture_jpeg_decodes_its_first_picture(tmp_path):
    first, second = _smooth_pattern(), 255 - _smooth_pattern()
    path = _save(
        tmp_path,
        Image.fromarray(first),
        "a.mpo",
        format="MPO",
        save_all=True,
        append_images=[Image.fromarray(second)],
        quality=95,
    )
    with Image.open(path) as opened:
        assert opened.format == "MPO"
    assert np.abs(load_image(path) - first / 255).max() <= JPEG_MAX_ERROR


def test_gif_palette_decodes_exactly(tmp_path):
    palette_image = Image.new("P", (3, 1))
    palette_image.putpalette([255, 0, 0, 0, 128, 0, 10, 20, 30])
    palette_image.putdata([0, 1, 2])
    decoded = load_image(_save(tmp_path, palette_image, "a.gif"))
    expected = np.array([[[255, 0, 0], [0, 128, 0], [10, 20, 30]]]) / 255
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=EXACT)


def test_bytes_and_path_objects_decode_like_a_path_string(tmp_path):
    pixels = _rgb_pattern()
    path = _save(tmp_path, Image.fromarray(pixels), "a.png")
    from_str = load_image(str(path))
    np.testing.assert_array_equal(load_image(path.read_bytes()), from_str)
    np.testing.assert_array_equal(load_image(path), from_str)
    np.testing.assert_allclose(from_str, pixels / 255, rtol=0, atol=EXACT)


# --------------------------------------------------------------------------------------------
# EXIF orientation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "rotate_ccw_quarters"),
    [(1, 0), (3, 2), (6, -1), (8, 1)],  # 6: rotate 90° clockwise to view; 8: counter-clockwise
)
def test_exif_orientation_is_applied(tmp_path, orientation, rotate_ccw_quarters):
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    path = _save(tmp_path, Image.fromarray(_blocks()), "a.jpg", quality=95, exif=exif)
    decoded = load_image(path)
    expected_cells = np.rot90(BLOCK_COLOURS, k=rotate_ccw_quarters) / 255
    assert decoded.shape == (BLOCK * expected_cells.shape[0], BLOCK * expected_cells.shape[1], 3)
    # Cell centres are far from JPEG's colour bleeding at the cell edges.
    centres = decoded[BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK]
    np.testing.assert_allclose(centres, expected_cells, rtol=0, atol=0.03)


def test_corrupt_exif_warns_and_keeps_the_pixels(tmp_path):
    truncated_exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12"
    pixels = _smooth_pattern()
    path = _save(tmp_path, Image.fromarray(pixels), "a.jpg", quality=95, exif=truncated_exif)
    with pytest.warns(UserWarning, match="Corrupt EXIF"):
        decoded = load_image(path)
    assert decoded.shape == (32, 48, 3)
    assert np.abs(decoded - pixels / 255).max() <= JPEG_MAX_ERROR


# --------------------------------------------------------------------------------------------
# Pixel modes
# --------------------------------------------------------------------------------------------


def test_grayscale_is_copied_to_three_channels(tmp_path):
    gray = np.array([[0, 128, 255]], dtype=np.uint8)
    decoded = load_image(_save(tmp_path, Image.fromarray(gray), "a.png"))
    expected = np.repeat((gray / 255)[..., None], 3, axis=-1)
    np.testing.assert_allclose(decoded, expected, rtol=0, atol=EXACT)


def test_one_bit_image_is_black_and_white(tmp_path):
    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    decoded = load_image(_save(tmp_path, bilevel, "a.png"))
    np.testing.assert_array_equal(decoded, [[[0, 0, 0], [1, 1, 1]]])


@pytest.mark.parametrize(
    ("alpha", "expected_rgb"),
    [
        ("white", [1.0, 127 / 255, 127 / 255]),
        ("black", [128 / 255, 0.0, 0.0]),
        ("drop", [1.0, 0.0, 0.0]),
    ],
)
def test_rgba_half_transparent_red_per_alpha_mode(tmp_path, alpha, expected_rgb):
    rgba = np.array([[[255, 0, 0, 128], [0, 0, 255, 255]]], dtype=np.uint8)
    decoded = load_image(_save(tmp_path, Image.fromarray(rgba), "a.png"), alpha=alpha)
    np.testing.assert_allclose(decoded[0, 0], expected_rgb, rtol=0, atol=EXACT)
    np.testing.assert_allclose(decoded[0, 1], [0, 0, 1], rtol=0, atol=EXACT)  # opaque: kept


def test_half_transparent_red_on_white_is_pink(tmp_path):
    rgba = Image.new("RGBA", (1, 1), (255, 0, 0, 128))
    decoded = load_image(_save(tmp_path, rgba, "a.png"))
    np.testing.assert_allclose(decoded[0, 0], [1, 0.5, 0.5], rtol=0, atol=0.005)


def test_gray_alpha_composites_on_white(tmp_path):
    gray_alpha = Image.fromarray(np.array([[[100, 0], [100, 255], [100, 51]]], dtype=np.uint8))
    assert gray_alpha.mode == "LA"
    decoded = load_image(_save(tmp_path, gray_alpha, "a.png"))
    opacity = np.array([0, 1, 0.2])
    expected_gray = 100 / 255 * opacity + (1 - opacity)
    np.testing.assert_allclose(decoded, np.repeat(expected_gray[None, :, None], 3, -1), atol=EXACT)


@pytest.mark.parametrize(
    ("alpha", "transparent_rgb"),
    [("white", [1, 1, 1]), ("black", [0, 0, 0]), ("drop", [0, 0, 1])],
)
def test_palette_transparency_index(tmp_path, alpha, transparent_rgb):
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([255, 0, 0, 0, 0, 255])
    palette_image.putdata([0, 1])
    path = _save(tmp_path, palette_image, "a.png", transparency=1)
    decoded = load_image(path, alpha=alpha)
    np.testing.assert_allclose(decoded, [[[1, 0, 0], transparent_rgb]], rtol=0, atol=EXACT)


def test_palette_partial_transparency_composites(tmp_path):
    palette_image = Image.new("P", (1, 1))
    palette_image.putpalette([0, 0, 255])
    path = _save(tmp_path, palette_image, "a.png", transparency=bytes([51]))  # opacity 0.2
    decoded = load_image(path)
    np.testing.assert_allclose(decoded[0, 0], [0.8, 0.8, 1.0], rtol=0, atol=EXACT)


def test_rgb_colour_key_transparency(tmp_path):
    rgb = np.array([[[0, 255, 0], [255, 0, 0]]], dtype=np.uint8)
    path = _save(tmp_path, Image.fromarray(rgb), "a.png", transparency=(0, 255, 0))
    np.testing.assert_allclose(load_image(path, alpha="black"), [[[0, 0, 0], [1, 0, 0]]])


@pytest.mark.parametrize("name", ["a.jpg", "a.tiff"])
def test_cmyk_converts_to_rgb(tmp_path, name):
    # Cyan-free, full magenta and yellow is red; K=255 is black; no ink is white.
    cmyk = Image.new("CMYK", (3 * BLOCK, BLOCK))
    for i, ink in enumerate([(0, 255, 255, 0), (0, 0, 0, 255), (0, 0, 0, 0)]):
        cmyk.paste(ink, (i * BLOCK, 0, (i + 1) * BLOCK, BLOCK))
    decoded = load_image(_save(tmp_path, cmyk, name))
    centres = decoded[BLOCK // 2, BLOCK // 2 :: BLOCK]
    np.testing.assert_allclose(centres, [[1, 0, 0], [0, 0, 0], [1, 1, 1]], rtol=0, atol=0.02)


@pytest.mark.parametrize("name", ["a.png", "a.tiff"])
def test_sixteen_bit_grayscale_uses_full_range(tmp_path, name):
    values = np.array([[0, 32768, 65535, 257]], dtype=np.uint16)
    decoded = load_image(_save(tmp_path, Image.fromarray(values), name))
    expected = np.array([0, 32768 / 65535, 1, 1 / 255])
    assert abs(decoded[0, 1, 0] - 0.5) < 1e-4
    np.testing.assert_allclose(decoded[0], np.repeat(expected[:, None], 3, -1), atol=EXACT)


def test_big_endian_sixteen_bit_tiff(tmp_path):
    values = np.array([[0, 32768, 65535]], dtype=">u2")
    big_endian = Image.frombytes("I;16B", (3, 1), values.tobytes())
    decoded = load_image(_save(tmp_path, big_endian, "a.tiff"))
    np.testing.assert_allclose(decoded[0, :, 1], [0, 32768 / 65535, 1], rtol=0, atol=EXACT)


def test_sixteen_bit_rgb_png_is_within_one_step_of_eight_bits(tmp_path):
    # Pillow reads 16-bit RGB PNGs as 8-bit RGB (high byte), so 1/255 is the best possible.
    samples = np.array([[[65535, 0, 32768], [257, 514, 40000]]], dtype=">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in samples)
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png_bytes(2, 1, colour_type=2, bit_depth=16, rows=rows))
    decoded = load_image(path)
    assert decoded.shape == (1, 2, 3)
    np.testing.assert_allclose(decoded, samples / 65535, rtol=0, atol=1 / 255)


def test_signed_32_bit_tiff_scales_by_its_bit_depth(tmp_path):
    values = np.array([[0, 2**30, 2**31 - 1, -5]], dtype=np.int32)
    decoded = load_image(_save(tmp_path, Image.fromarray(values), "a.tiff"))
    np.testing.assert_allclose(decoded[0, :, 2], [0, 2**30 / (2**31 - 1), 1, 0], atol=EXACT)


def test_float_tiff_is_clipped_not_rescaled(tmp_path):
    values = np.array([[-0.5, 0.25, 2.0, np.nan]], dtype=np.float32)
    decoded = load_image(_save(tmp_path, Image.fromarray(values), "a.tiff"))
    np.testing.assert_array_equal(decoded[0, :, 0], [0, 0.25, 1, 0])


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _assert_one_line_error(source: object, match: str, **kwargs: object) -> str:
    with pytest.raises(ImageDecodeError, match=match) as info:
        load_image(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_pillow_hard_limit_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes(20_000, 20_000, colour_type=2, bit_depth=8, rows=b""))
    message = _assert_one_line_error(path, "too large")
    assert str(path) in message


def test_bomb_over_max_pixels_is_refused_without_warning(tmp_path):
    # 110 MP: over the default max_pixels and over Pillow's warning threshold (89 MP), under
    # its hard limit, so only our check stops it. Warnings are errors in this suite.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes(11_000, 10_000, colour_type=0, bit_depth=1, rows=b""))
    assert DEFAULT_MAX_PIXELS < 11_000 * 10_000
    _assert_one_line_error(path, "110000000 pixels exceeds max_pixels=100000000")


def test_max_pixels_is_inclusive(tmp_path):
    path = _save(tmp_path, Image.fromarray(_rgb_pattern(10, 10)), "a.png")
    assert load_image(path, max_pixels=100).shape == (10, 10, 3)
    _assert_one_line_error(path, "10x10 = 100 pixels exceeds max_pixels=99", max_pixels=99)


@pytest.mark.parametrize(("name", "params"), [("a.png", {}), ("a.jpg", {"quality": 90})])
def test_truncated_file_is_refused(tmp_path, name, params):
    # Noise keeps the compressed pixel data long, so every cut below lands inside it.
    pixels = Image.fromarray(_rgb_pattern(32, 48))
    whole = _save(tmp_path, pixels, name, **params).read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(whole[: len(whole) // 2])
    message = _assert_one_line_error(cut, "truncated or corrupt")
    assert str(cut) in message
    _assert_one_line_error(whole[: len(whole) * 9 // 10], "truncated or corrupt")


def test_empty_file_and_empty_bytes_are_refused(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _assert_one_line_error(empty, "empty")
    _assert_one_line_error(b"", "empty")


def test_text_file_is_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    message = _assert_one_line_error(text, "not an image in JPEG, PNG, WEBP, BMP, TIFF, GIF")
    assert "notes.png" in message


def test_formats_outside_the_list_are_refused(tmp_path):
    # Pillow would identify this as EPS, whose decoder runs Ghostscript.
    eps = tmp_path / "a.eps"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    _assert_one_line_error(eps, "not an image in")


def test_missing_path_and_directory_are_refused(tmp_path):
    _assert_one_line_error(tmp_path / "missing.png", "missing.png.*no such file")
    _assert_one_line_error(tmp_path, "is a directory")


def test_decode_error_is_a_value_error():
    assert issubclass(ImageDecodeError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": "grey"}, "alpha must be one of"),
        ({"max_pixels": 0}, "max_pixels must be a positive integer"),
        ({"max_pixels": True}, "max_pixels must be a positive integer"),
    ],
)
def test_invalid_options_are_refused(tmp_path, kwargs, match):
    path = _save(tmp_path, Image.fromarray(_rgb_pattern(2, 2)), "a.png")
    with pytest.raises(ValueError, match=match):
        load_image(path, **kwargs)


# --------------------------------------------------------------------------------------------
# Resize with pad
# --------------------------------------------------------------------------------------------


def test_landscape_into_square_is_centred_with_exact_zero_padding():
    image = np.full((50, 100, 3), 0.7, dtype=np.float32)  # 100 wide, 50 tall
    padded, box = resize_with_pad_box(image, (64, 64))
    assert box == Box(top=16, left=0, height=32, width=64)
    assert box.width / box.height == 100 / 50  # aspect ratio kept
    assert padded.shape == (64, 64, 3)
    assert padded.dtype == np.float32
    assert np.all(padded[:16] == 0)
    assert np.all(padded[48:] == 0)
    np.testing.assert_allclose(padded[box.slices], 0.7, rtol=0, atol=EXACT)


def test_upscaling_places_the_same_box():
    image = np.full((5, 10, 3), 0.25, dtype=np.float32)
    padded, box = resize_with_pad_box(image, (64, 64))
    assert box == Box(16, 0, 32, 64)
    np.testing.assert_allclose(padded[box.slices], 0.25, rtol=0, atol=EXACT)
    assert np.all(padded[:16] == 0)
    assert np.all(padded[48:] == 0)


def test_odd_padding_puts_the_extra_row_at_the_bottom():
    # 6 x 10 into 8 x 5: scale min(8/6, 5/10) = 1/2 -> 3 x 5; 5 rows of padding: 2 top, 3 bottom.
    padded, box = resize_with_pad_box(np.ones((6, 10, 3)), (8, 5))
    assert box == Box(top=2, left=0, height=3, width=5)
    assert np.all(padded[:2] == 0)
    assert np.all(padded[5:] == 0)
    np.testing.assert_allclose(padded[2:5], 1.0, rtol=0, atol=EXACT)


def test_odd_padding_puts_the_extra_column_at_the_right():
    # 10 x 6 into 5 x 8: scale 1/2 -> 5 x 3; 5 columns of padding: 2 left, 3 right.
    padded, box = resize_with_pad_box(np.ones((10, 6, 3)), (5, 8))
    assert box == Box(top=0, left=2, height=5, width=3)
    np.testing.assert_array_equal(padded[0, :, 0] > 0, [0, 0, 1, 1, 1, 0, 0, 0])


def test_fractional_scaled_width_pads_like_tensorflow():
    # 65 x 128 into 64 x 128: scale 64/65, scaled width 126.03 -> 126 columns; TF's left
    # padding is floor((128 - 126.03) / 2) = 0, so both spare columns go to the right.
    assert pad_box((65, 128), (64, 128)) == Box(top=0, left=0, height=64, width=126)


def test_same_size_is_identity_and_channels_are_kept():
    image = np.random.default_rng(1).random((8, 6, 1)).astype(np.float32)
    padded, box = resize_with_pad_box(image, (8, 6))
    assert box == Box(0, 0, 8, 6)
    np.testing.assert_allclose(padded, image, rtol=0, atol=EXACT)


def test_resize_with_pad_clips_and_matches_the_box_variant():
    image = np.random.default_rng(2).uniform(-0.5, 1.5, (20, 30, 3))
    padded = resize_with_pad(image, (16, 16))
    np.testing.assert_array_equal(padded, resize_with_pad_box(image, (16, 16))[0])
    assert padded.min() >= 0.0
    assert padded.max() <= 1.0


def test_extreme_aspect_ratio_keeps_at_least_one_row():
    assert pad_box((1, 1000), (64, 64)) == Box(top=31, left=0, height=1, width=64)


@pytest.mark.parametrize(
    ("image", "size", "match"),
    [
        (np.zeros((4, 4)), (2, 2), "shape"),
        (np.zeros((0, 4, 3)), (2, 2), "shape"),
        (np.zeros((4, 4, 3), dtype=complex), (2, 2), "real numbers"),
        (np.zeros((4, 4, 3)), (0, 2), "positive integers"),
        (np.zeros((4, 4, 3)), (2.0, 2), "positive integers"),
        (np.zeros((4, 4, 3)), (2, 2, 2), "positive integers"),
    ],
)
def test_resize_rejects_bad_arguments(image, size, match):
    with pytest.raises(ValueError, match=match):
        resize_with_pad(image, size)


# --------------------------------------------------------------------------------------------
# Centre crop, dispatch, uint8
# --------------------------------------------------------------------------------------------


def test_centre_crop_keeps_the_central_columns():
    image = np.zeros((100, 200, 3), dtype=np.float32)
    image[:, 40:160] = 1.0  # the crop reads columns 50..150 plus the filter's reach of 2
    cropped = center_crop_resize(image, (50, 50))
    assert cropped.shape == (50, 50, 3)
    np.testing.assert_allclose(cropped, 1.0, rtol=0, atol=EXACT)


def test_centre_crop_keeps_the_central_rows():
    image = np.zeros((200, 100, 3), dtype=np.float32)
    image[40:160] = 1.0
    np.testing.assert_allclose(center_crop_resize(image, (50, 50)), 1.0, rtol=0, atol=EXACT)


def test_centre_crop_at_unit_scale_samples_the_middle_exactly():
    ramp = np.broadcast_to(np.arange(200, dtype=np.float32) / 199, (100, 200))
    cropped = center_crop_resize(np.stack([ramp] * 3, axis=-1), (100, 100))
    np.testing.assert_allclose(cropped[0, :, 0], np.arange(50, 150) / 199, rtol=0, atol=1e-5)


def test_preprocess_dispatches_and_reports_the_box():
    image = np.random.default_rng(3).random((30, 60, 3))
    np.testing.assert_array_equal(preprocess(image, (32, 32)), resize_with_pad(image, (32, 32)))
    np.testing.assert_array_equal(
        preprocess(image, (32, 32), mode="crop"), center_crop_resize(image, (32, 32))
    )
    assert preprocess_box(image, (32, 32))[1] == Box(8, 0, 16, 32)
    assert preprocess_box(image, (32, 24), mode="crop")[1] == Box(0, 0, 32, 24)
    with pytest.raises(ValueError, match="mode must be 'pad' or 'crop'"):
        preprocess(image, (32, 32), mode="stretch")


def test_box_slices_select_the_photo():
    assert Box(2, 3, 4, 5).slices == (slice(2, 6), slice(3, 8))


def test_to_uint8_rounds_and_clips():
    values = np.array([0.0, 0.5, 1.0, -1.0, 2.0, np.nan, 0.498, 1 / 255])
    np.testing.assert_array_equal(to_uint8(values), [0, 128, 255, 0, 255, 0, 127, 1])
    assert to_uint8(np.zeros((2, 3, 3))).dtype == np.uint8
