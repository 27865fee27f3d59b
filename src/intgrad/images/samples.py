"""Sample photos for demos and tests, taken from the images shipped inside scikit-image.

The photos are in scikit-image's wheel, so loading them needs no network. scikit-image is an
optional dependency (the ``images`` extra) and is imported only when a photo is loaded.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NamedTuple

import numpy as np

__all__ = ["SAMPLE_NAMES", "load_sample", "sample_description", "sample_names"]


class _Sample(NamedTuple):
    """What a sample photo shows and its size in pixels."""

    subject: str
    width: int
    height: int


# Sizes are stated here so that describing a sample does not require decoding it; a test
# checks them against the real arrays.
_SAMPLES = {
    "chelsea": _Sample("a tabby cat", 451, 300),
    "coffee": _Sample("a cup of coffee on a saucer", 600, 400),
    "rocket": _Sample("a Falcon 9 rocket lifting off", 640, 427),
    "astronaut": _Sample("astronaut Eileen Collins in front of a flag", 512, 512),
}

#: Names accepted by :func:`load_sample`, in a stable order.
SAMPLE_NAMES: tuple[str, ...] = tuple(_SAMPLES)


def sample_names() -> tuple[str, ...]:
    """Names of the sample photos, e.g. ``("chelsea", "coffee", "rocket", "astronaut")``."""
    return SAMPLE_NAMES


def sample_description(name: str) -> str:
    """One line saying what a sample shows and its width×height, e.g. ``chelsea: a tabby cat
    (451×300)``.

    Raises:
        ValueError: ``name`` is not one of :data:`SAMPLE_NAMES`.
    """
    sample = _lookup(name)
    return f"{name}: {sample.subject} ({sample.width}×{sample.height})"


def load_sample(name: str) -> np.ndarray:
    """Load a sample photo as ``float32`` RGB of shape (height, width, 3) in [0, 1].

    Args:
        name: one of :data:`SAMPLE_NAMES`.

    Raises:
        ValueError: ``name`` is not a known sample.
        ImportError: scikit-image is not installed.
    """
    _lookup(name)
    pixels = getattr(_skimage_data(), name)()
    return np.asarray(pixels, dtype=np.float32) / 255


def _lookup(name: str) -> _Sample:
    """The record of a sample, or a ValueError listing the valid names."""
    try:
        return _SAMPLES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown sample {name!r}; choose one of {', '.join(SAMPLE_NAMES)}"
        ) from None


def _skimage_data() -> ModuleType:
    """Import ``skimage.data`` on first use, naming the package to install if it is missing."""
    try:
        return importlib.import_module("skimage.data")
    except ImportError as exc:
        raise ImportError(
            "sample photos need scikit-image: pip install scikit-image "
            "(or pip install 'intgrad[images]')"
        ) from exc
