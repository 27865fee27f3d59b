"""Table baselines: the statistics, rows, sample:K draws, tiling, and the standard error."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from intgrad.tabular.baselines import (  # noqa: E402
    Background,
    reference_mean,
    resolve_baseline,
    tile_references,
)
from intgrad.tabular.schema import TabularSchema  # noqa: E402

# Encoded columns: age, color=blue, color=green, color=red, member=False, member=True, score.
ATOL = 1e-6  # float32 encodings


@pytest.fixture
def schema(people: Any) -> TabularSchema:
    return TabularSchema.fit(people, target="label")


def test_median_is_numeric_medians_and_modes(schema: TabularSchema) -> None:
    baseline = resolve_baseline("median", schema)
    assert baseline.name == "median" and not baseline.sampled and baseline.count == 1
    # Both medians equal the means (40 and 4), so they encode as 0; red and True are the modes.
    np.testing.assert_array_equal(baseline.references, [[0, 0, 0, 1, 0, 1, 0]])


def test_mean_is_numeric_means_and_frequency_vectors(schema: TabularSchema) -> None:
    baseline = resolve_baseline("mean", schema)
    np.testing.assert_allclose(
        baseline.references, [[0, 2 / 6, 1 / 6, 3 / 6, 2 / 6, 4 / 6, 0]], atol=ATOL
    )


def test_zeros_is_zero_in_the_encoded_space(schema: TabularSchema) -> None:
    baseline = resolve_baseline("zeros", schema)
    np.testing.assert_array_equal(baseline.references, np.zeros((1, 7)))
    decoded = schema.decode(baseline.references)  # numeric at the mean, no category
    assert decoded.loc[0, "age"] == 40.0 and decoded.loc[0, "color"] is None


def test_statistics_of_a_background(schema: TabularSchema, people: Any) -> None:
    # On the training frame itself, the background's statistics are the schema's.
    for name in ("mean", "median"):
        np.testing.assert_allclose(
            resolve_baseline(name, schema, people).references,
            resolve_baseline(name, schema).references,
            atol=ATOL,
        )
    older = people.iloc[3:]  # ages 40, 50, 60; colors green, red, blue; members T, F, T
    median = resolve_baseline("median", schema, older).references[0]
    assert median[0] == pytest.approx((50 - 40) / math.sqrt(1000 / 6), abs=ATOL)
    np.testing.assert_array_equal(median[1:6], [1, 0, 0, 0, 1])  # first of tied colors: blue


def test_row_baselines(schema: TabularSchema, people: Any) -> None:
    expected = schema.encode(people.loc[[13]])
    for spec in (people.loc[[13]], people.loc[13], people.loc[13].to_dict(), expected[0]):
        baseline = resolve_baseline(spec, schema)
        np.testing.assert_array_equal(baseline.references, expected)
        assert not baseline.sampled
    assert resolve_baseline(people.loc[[13]], schema).name == "row 13"


def test_several_rows_are_references(schema: TabularSchema, people: Any) -> None:
    baseline = resolve_baseline(people.iloc[:3], schema)
    assert baseline.sampled and baseline.count == 3 and baseline.name == "3 rows"
    assert baseline.labels == ("row 10", "row 11", "row 12")


def test_sample_draws_background_rows_with_a_seed(schema: TabularSchema, people: Any) -> None:
    background = Background.of(people, schema)
    first = resolve_baseline("sample:4", schema, background, seed=3)
    again = resolve_baseline("sample:4", schema, people, seed=3)
    other = resolve_baseline("sample:4", schema, background, seed=4)
    assert first.sampled and first.count == 4 and first.name == "sample:4(seed=3)"
    np.testing.assert_array_equal(first.references, again.references)
    assert first.labels != other.labels
    rows = [int(label.split()[-1]) for label in first.labels]
    assert len(set(rows)) == 4  # without replacement
    np.testing.assert_array_equal(first.references, schema.encode(people.loc[rows]))


@pytest.mark.parametrize(
    ("spec", "background", "message"),
    [
        ("sample:1", True, r"K >= 2 references, got 'sample:1'"),
        ("sample:x", True, r"'sample:K' with K >= 2"),
        ("sample:7", True, r"needs 7 background rows, the background has 6"),
        ("sample:3", False, r"draws from a background frame: pass background="),
        ("average", False, r"unknown baseline 'average'; choose median, mean, zeros, sample:K"),
    ],
)
def test_baseline_errors(
    schema: TabularSchema, people: Any, spec: str, background: bool, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_baseline(spec, schema, people if background else None)


def test_baseline_type_and_shape_errors(schema: TabularSchema, people: Any) -> None:
    with pytest.raises(TypeError, match=r"baseline must be a name, .* got int"):
        resolve_baseline(0, schema)
    with pytest.raises(ValueError, match=r"an encoded baseline must have shape \(7,\)"):
        resolve_baseline(np.zeros(6), schema)
    with pytest.raises(ValueError, match="row 0: column 'color' has the unknown category 'x'"):
        resolve_baseline({**people.loc[10].to_dict(), "color": "x"}, schema)


def test_tile_references_is_reference_major() -> None:
    inputs = np.array([[1.0], [2.0], [3.0]])
    references = np.array([[10.0], [20.0]])
    tiled, starts = tile_references(inputs, references)
    np.testing.assert_array_equal(tiled[:, 0], [1, 2, 3, 1, 2, 3])
    np.testing.assert_array_equal(starts[:, 0], [10, 10, 10, 20, 20, 20])


def test_reference_mean_standard_error_formula() -> None:
    # Four references of one row and one feature: 1, 2, 3, 4.
    per_reference = np.array([1.0, 2.0, 3.0, 4.0]).reshape(4, 1, 1)
    mean, error = reference_mean(per_reference)
    sample_std = math.sqrt(((1.5**2 + 0.5**2) * 2) / 3)  # ddof = 1
    assert mean[0, 0] == 2.5
    assert error[0, 0] == pytest.approx(sample_std / math.sqrt(4), rel=1e-14)  # 0.6455
    with pytest.raises(ValueError, match="at least 2 references, got 1"):
        reference_mean(per_reference[:1])
