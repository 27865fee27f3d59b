"""Tests for the sample photos shipped with scikit-image."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from intgrad.images.samples import SAMPLE_NAMES, load_sample, sample_description, sample_names

# (height, width) of each photo in scikit-image's data directory.
SHAPES = {
    "chelsea": (300, 451),
    "coffee": (400, 600),
    "rocket": (427, 640),
    "astronaut": (512, 512),
}


def test_names_are_the_four_photos_in_order():
    assert sample_names() == ("chelsea", "coffee", "rocket", "astronaut")
    assert sample_names() == SAMPLE_NAMES


def test_description_names_subject_and_width_by_height():
    assert sample_description("chelsea") == "chelsea: a tabby cat (451×300)"


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_shape_range_and_description_agree(name):
    photo = load_sample(name)
    height, width = SHAPES[name]
    assert photo.shape == (height, width, 3)
    assert photo.dtype == np.float32
    assert photo.min() >= 0.0
    assert photo.max() <= 1.0
    assert photo.std() > 0.05  # a photo, not a blank frame
    assert sample_description(name).endswith(f"({width}×{height})")
    assert "\n" not in sample_description(name)


def test_chelsea_values_are_the_bytes_over_255():
    photo = load_sample("chelsea")
    # scikit-image's chelsea.png has its brightest byte at 231 and darkest at 0.
    assert photo.max() == pytest.approx(231 / 255, abs=1e-7)
    assert photo.min() == 0.0


@pytest.mark.parametrize("call", [load_sample, sample_description])
def test_unknown_name_lists_the_valid_ones(call):
    with pytest.raises(ValueError, match="unknown sample 'dog'; choose one of chelsea, coffee"):
        call("dog")


def test_missing_scikit_image_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.data", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install scikit-image"):
        load_sample("coffee")
