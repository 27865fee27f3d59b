"""Atomic file writes: a reader sees either the old file or the complete new one, never a part.

Every writer goes through :func:`atomic_writer`: the content is written to a fresh temporary file
in the target's own directory (so the final rename never crosses a file system), flushed to disk
with ``fsync``, and only then moved over the target with :func:`os.replace`. If anything fails
before that, the temporary file is removed and an existing target is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "atomic_save_npy",
    "atomic_write_bytes",
    "atomic_write_png",
    "atomic_write_text",
    "atomic_writer",
    "json_first",
]

_TEMP_ATTEMPTS = 100


def _target_directory(path: Path) -> Path:
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist"
        )
    return directory


def _create_temp(path: Path) -> Path:
    # A hidden name that keeps the target's suffix, so tools that look at the extension still
    # see the right one. Mode 0o666 lets the process umask decide permissions, like open() does.
    for _ in range(_TEMP_ATTEMPTS):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp
    raise FileExistsError(f"could not create a temporary file next to {str(path)!r}")


def _keep_mode(temp: Path, path: Path) -> None:
    # Overwriting a file should not change who may read it.
    with contextlib.suppress(FileNotFoundError):
        os.chmod(temp, stat.S_IMODE(os.stat(path).st_mode))


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Directories cannot be opened this way on Windows.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it atomically replaces ``path``.

    The temporary file already exists (empty) and sits in the same directory as ``path``. When the
    ``with`` block ends normally it is fsynced and moved over ``path``; when the block raises, it
    is removed and ``path`` is untouched. An existing target keeps its permission bits.

    Args:
        path: the file to create or replace. Its directory must already exist.

    Yields:
        The temporary file's path (same directory, a hidden name ending in ``path``'s suffix).

    Raises:
        FileNotFoundError: if the directory of ``path`` does not exist.
    """
    target = Path(path)
    directory = _target_directory(target)
    temp = _create_temp(target)
    try:
        yield temp
        _keep_mode(temp, target)
        _fsync_file(temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, encoded with ``encoding``; newlines are kept as-is."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_save_npy(path: str | os.PathLike[str], array: ArrayLike) -> None:
    """Save ``array`` in NumPy's ``.npy`` format to exactly ``path``, atomically.

    Unlike :func:`numpy.save`, no ``.npy`` suffix is appended. Object arrays are refused
    (``allow_pickle=False``), so the file can be loaded without trusting it.
    """
    values = np.asarray(array)
    with atomic_writer(path) as temp, open(temp, "wb") as file:
        np.save(file, values, allow_pickle=False)


def _png_pixels(image: ArrayLike) -> np.ndarray:
    """Validate an (H, W) or (H, W, 3) image and return it as uint8."""
    pixels = np.asarray(image)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise ValueError(
            f"image must have shape (height, width) or (height, width, 3), got {pixels.shape}"
        )
    if pixels.dtype == np.uint8:
        return pixels
    if not np.issubdtype(pixels.dtype, np.floating):
        raise ValueError(f"image must be uint8 or floating point in [0, 1], got {pixels.dtype}")
    if not (np.all(np.isfinite(pixels)) and pixels.min() >= 0.0 and pixels.max() <= 1.0):
        raise ValueError("a floating-point image must have finite values in [0, 1]")
    return np.round(pixels * 255.0).astype(np.uint8)


def atomic_write_png(path: str | os.PathLike[str], image: ArrayLike) -> None:
    """Write an image as PNG to ``path`` atomically (needs Pillow).

    Args:
        path: the file to create or replace.
        image: greyscale of shape (height, width) or RGB of shape (height, width, 3); either
            uint8 in [0, 255] or floating point in [0, 1] (rounded to the nearest of 256 levels).

    Raises:
        ValueError: if the shape, dtype or value range of ``image`` is not one of the above.
        ImportError: if Pillow is not installed.
    """
    pixels = _png_pixels(image)
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            "atomic_write_png needs Pillow: pip install 'intgrad[images]' (or pillow)"
        ) from error
    picture = Image.fromarray(np.ascontiguousarray(pixels))
    with atomic_writer(path) as temp, open(temp, "wb") as file:
        picture.save(file, format="PNG")


def json_first(values: np.ndarray | None) -> float | None:
    """The first entry of a per-example array as a JSON number, or ``None``.

    JSON has no inf or NaN: a relative delta with F(x) = F(x′) is reported as null.
    """
    if values is None or not np.isfinite(values[0]):
        return None
    return float(values[0])
