"""ImageNet labels and the name/index resolver."""

from __future__ import annotations

import re

import numpy as np
import pytest

from intgrad.images.labels import LabelError, imagenet_labels, imagenet_synonyms, resolve_label


def test_imagenet_has_1000_display_names() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[281] == "tabby"
    assert labels[285] == "Egyptian cat"
    assert labels[388] == "giant panda"
    assert labels[554] == "fireboat"
    assert labels[967] == "espresso"


def test_synonyms_keep_every_name_display_name_first() -> None:
    synonyms = imagenet_synonyms()
    assert len(synonyms) == 1000
    assert synonyms[388] == (
        "giant panda",
        "panda",
        "panda bear",
        "coon bear",
        "Ailuropoda melanoleuca",
    )
    assert all(names[0] == label for names, label in zip(synonyms, imagenet_labels(), strict=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (554, 554),
        (np.int64(388), 388),  # NumPy integers, as from logits.argmax()
        ("554", 554),
        (" 0 ", 0),
        ("fireboat", 554),  # exact display name
        ("coon bear", 388),  # exact later synonym
        ("Ailuropoda melanoleuca", 388),
        ("cup", 968),  # exact wins although "cup" is also a substring of other names
        ("FIREBOAT", 554),  # any case
        ("egyptian cat", 285),
        ("Fireb", 554),  # unique substring, any case
        ("giant pan", 388),
    ],
)
def test_imagenet_queries_resolve(query: str | int, expected: int) -> None:
    assert resolve_label(query) == expected


def test_imagenet_display_names_as_labels_keep_synonyms() -> None:
    assert resolve_label("coon bear", imagenet_labels()) == 388


def test_name_of_two_classes_is_ambiguous_and_lists_both() -> None:
    # "panda" is an exact synonym of both the lesser (387) and the giant (388) panda.
    with pytest.raises(LabelError) as caught:
        resolve_label("panda")
    assert str(caught.value) == (
        "'panda' matches 2 classes: 387 'lesser panda', 388 'giant panda'; "
        "give a longer name or an index"
    )
    assert caught.value.candidates == (387, 388)


def test_ambiguous_substring_lists_at_most_five_candidates() -> None:
    with pytest.raises(LabelError, match=r"^'cat' matches 16 classes: .* and 11 more; ") as caught:
        resolve_label("cat")
    assert len(caught.value.candidates) == 5
    assert "\n" not in str(caught.value)


def test_unknown_name_suggests_closest_classes() -> None:
    with pytest.raises(LabelError, match=r"^no class is named 'zebrra'; closest: 340 'zebra'"):
        resolve_label("zebrra")


def test_unknown_name_without_close_match_says_what_to_give() -> None:
    with pytest.raises(LabelError, match=r"give a class name or an index$") as caught:
        resolve_label("qxzv")
    assert caught.value.candidates == ()


@pytest.mark.parametrize("query", [1000, -1, "1000", "-3"])
def test_index_out_of_range(query: str | int) -> None:
    message = f"class index {int(query)} is out of range: expected 0 to 999 (1000 classes)"
    with pytest.raises(LabelError, match=f"^{re.escape(message)}$"):
        resolve_label(query)


def test_empty_query_is_rejected() -> None:
    with pytest.raises(LabelError, match="got an empty string"):
        resolve_label("  ")


@pytest.mark.parametrize("query", [True, 2.0, None])
def test_non_string_non_integer_query_is_a_type_error(query: object) -> None:
    with pytest.raises(TypeError, match="expected a class name or index"):
        resolve_label(query)


CUSTOM = ("cat", "Cat food", "dog", "hot dog")


@pytest.mark.parametrize(
    ("query", "expected"),
    [("cat", 0), ("Cat food", 1), ("CAT", 0), ("food", 1), ("3", 3), (2, 2)],
)
def test_custom_labels_use_the_same_rules(query: str | int, expected: int) -> None:
    assert resolve_label(query, CUSTOM) == expected


def test_custom_labels_report_their_own_range_and_ambiguity() -> None:
    with pytest.raises(LabelError, match=r"expected 0 to 3 \(4 classes\)"):
        resolve_label(4, CUSTOM)
    with pytest.raises(LabelError, match=r"^'do' matches 2 classes: 2 'dog', 3 'hot dog'; "):
        resolve_label("do", CUSTOM)


def test_custom_labels_have_no_imagenet_synonyms() -> None:
    labels = ("giant panda", "lesser panda")
    with pytest.raises(LabelError, match="no class is named 'coon bear'"):
        resolve_label("coon bear", labels)
