"""Cohort membership of a shard's rows: masks per cohort, in the order of their first member."""

import numpy as np
import pandas as pd
import pytest

from intgrad.datasets.records import cohort_membership


def test_a_column_cohort_gives_a_mask_per_value_in_order_of_first_member() -> None:
    frame = pd.DataFrame({"g": ["b", "a", "b", None], "x": [1.0, 2.0, 3.0, 4.0]})
    masks = cohort_membership(["g", ("big x", lambda f: f["x"] > 2.5)], frame, 4)
    assert list(masks) == ["g=b", "g=a", "big x", "g=<missing>"]
    np.testing.assert_array_equal(masks["g=b"], [True, False, True, False])
    np.testing.assert_array_equal(masks["g=a"], [False, True, False, False])
    np.testing.assert_array_equal(masks["big x"], [False, False, True, True])
    np.testing.assert_array_equal(masks["g=<missing>"], [False, False, False, True])


def test_values_printing_alike_are_one_cohort_and_empty_predicates_none() -> None:
    frame = pd.DataFrame({"n": pd.Series([1, 1.0, 2], dtype=object)})
    masks = cohort_membership(["n", ("none", lambda f: np.zeros(len(f), bool))], frame, 3)
    assert list(masks) == ["n=1", "n=2"]
    np.testing.assert_array_equal(masks["n=1"], [True, True, False])


def test_no_cohorts_no_masks_and_bad_predicates_are_refused() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert cohort_membership([], frame, 2) == {}
    with pytest.raises(ValueError, match=r"predicate returned \(3,\), not \(2,\)"):
        cohort_membership([("p", lambda f: np.ones(3, bool))], frame, 2)
    with pytest.raises(ValueError, match="cohort column 'g' is not a column"):
        cohort_membership(["g"], frame, 2)
