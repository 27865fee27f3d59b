"""Atomic writes: content is right, failures leave the old file, no temporary files remain."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from intgrad._io import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_png,
    atomic_write_text,
    atomic_writer,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_write_bytes_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    atomic_write_bytes(target, b"\x00\x01\x02")
    assert target.read_bytes() == b"\x00\x01\x02"
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["data.bin"]


def test_write_text_is_utf8_and_keeps_newlines(tmp_path: Path) -> None:
    target = tmp_path / "labels.txt"
    atomic_write_text(target, "café = 0.5\r\nnaïve\n")
    assert target.read_bytes() == "café = 0.5\r\nnaïve\n".encode()


def test_save_npy_round_trips_to_the_exact_path(tmp_path: Path) -> None:
    target = tmp_path / "attributions.bin"  # no .npy suffix is appended
    array = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    atomic_save_npy(target, array)
    assert sorted(os.listdir(tmp_path)) == ["attributions.bin"]
    loaded = np.load(target)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, array)


def test_write_png_rgb_float(tmp_path: Path) -> None:
    target = tmp_path / "image.png"
    image = np.zeros((4, 6, 3))
    image[0, 0] = (1.0, 0.5, 0.0)
    atomic_write_png(target, image)
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(target) as picture:
        assert picture.size == (6, 4)
        assert picture.mode == "RGB"
        pixels = np.asarray(picture)
    assert tuple(pixels[0, 0]) == (255, 128, 0)  # round(0.5 * 255) = 128
    assert int(pixels[1:].max()) == 0


def test_write_png_greyscale_uint8(tmp_path: Path) -> None:
    target = tmp_path / "mask.png"
    mask = np.arange(6, dtype=np.uint8).reshape(2, 3) * 50
    atomic_write_png(target, mask)
    with Image.open(target) as picture:
        assert picture.mode == "L"
        np.testing.assert_array_equal(np.asarray(picture), mask)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 6, 4)), r"\(height, width, 3\)"),
        (np.zeros(5), r"\(height, width\)"),
        (np.full((2, 2), 1.5), r"\[0, 1\]"),
        (np.full((2, 2), np.nan), r"\[0, 1\]"),
        (np.zeros((2, 2), dtype=np.int64), "uint8"),
    ],
)
def test_write_png_rejects_bad_images(tmp_path: Path, image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        atomic_write_png(tmp_path / "bad.png", image)
    assert os.listdir(tmp_path) == []


def test_writer_yields_a_temp_file_in_the_same_directory(tmp_path: Path) -> None:
    target = tmp_path / "out.npy"
    with atomic_writer(target) as temp:
        assert temp.parent == tmp_path
        assert temp.suffix == ".npy"
        assert temp.exists() and temp != target
        assert not target.exists()
        temp.write_bytes(b"done")
    assert target.read_bytes() == b"done"
    assert not temp.exists()


def test_failure_inside_writer_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="boom"), atomic_writer(target) as temp:
        temp.write_bytes(b"half writ")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["result.txt"]


def test_failure_with_no_old_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyError), atomic_writer(tmp_path / "new.txt"):
        raise KeyError("x")
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.txt"
    with pytest.raises(FileNotFoundError, match=r"directory .*missing.* does not exist"):
        atomic_write_text(target, "x")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_replacing_keeps_the_permission_bits(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o750)
    atomic_write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert target.read_text() == "new"
