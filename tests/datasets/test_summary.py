"""Feature and dataset summaries: exact merges across parts, moments, intervals, round trips."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad.datasets.summary import DatasetSummary, FeatureSummary, normal_quantile

NAMES = ("a", "b", "c")


def _values(rows: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, 3)) * [1.0, 1e-3, 50.0] + [0, 1, -2]


@pytest.mark.parametrize("cuts", [[1], [10, 500], [3, 4, 5, 999]])
def test_merged_parts_equal_the_summary_of_the_whole(cuts):
    values = _values()
    whole = FeatureSummary.of_matrix(NAMES, values)
    parts = [FeatureSummary.of_matrix(NAMES, p) for p in np.split(values, cuts)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    np.testing.assert_array_equal(merged.count, [1000, 1000, 1000])
    np.testing.assert_allclose(merged.mean, values.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(merged.variance, values.var(0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(merged.mean_abs, np.abs(values).mean(0), rtol=1e-12)
    assert [s.counts for s in merged.sketches] == [s.counts for s in whole.sketches]


def test_confidence_interval_is_mean_plus_minus_z_standard_errors():
    values = _values(400, seed=1)
    summary = FeatureSummary.of_matrix(NAMES, values)
    se = values.std(0, ddof=1) / np.sqrt(400)
    low, high = summary.confidence_interval(0.95)
    np.testing.assert_allclose(summary.standard_error, se, rtol=1e-10)
    np.testing.assert_allclose(high - summary.mean, 1.959963984540054 * se, rtol=1e-9)
    np.testing.assert_allclose(summary.mean - low, high - summary.mean, rtol=1e-12)
    assert normal_quantile(0.99) == pytest.approx(2.5758293035489, rel=1e-10)


def test_pairs_over_different_names_merge_over_the_union():
    left = FeatureSummary.of_pairs(["good", "film"], np.array([0, 1, 0]), np.array([0.5, 0.1, 0.3]))
    right = FeatureSummary.of_pairs(["bad", "good"], np.array([0, 1]), np.array([-0.4, 0.1]))
    merged = left.merge(right)
    assert merged.names == ("good", "film", "bad")
    np.testing.assert_array_equal(merged.count, [3, 1, 1])
    np.testing.assert_allclose(merged.mean, [0.3, 0.1, -0.4])
    np.testing.assert_allclose(merged.variance[0], np.var([0.5, 0.3, 0.1], ddof=1))
    assert np.isnan(merged.variance[1])
    assert merged.ranking() == ("bad", "good", "film")
    assert merged.subset(["film", "absent"]).count.tolist() == [1, 0]


def test_dataset_summary_merges_groups_and_round_trips(tmp_path):
    values = _values(200, seed=2)

    def part(rows: slice) -> DatasetSummary:
        chunk = values[rows]
        return DatasetSummary(
            examples=len(chunk) + 1,
            failed=1,
            features=FeatureSummary.of_matrix(NAMES, chunk),
            outputs=FeatureSummary.of_matrix(("f_input", "f_baseline", "delta"), chunk),
            cohorts={"sex=F": FeatureSummary.of_matrix(NAMES, chunk[:5])},
            classes={"yes": FeatureSummary.of_matrix(NAMES, chunk[5:])},
            metadata={"task": "test"},
        )

    merged = part(slice(0, 120)).merge(part(slice(120, 200)))
    assert (merged.examples, merged.failed, merged.explained) == (202, 2, 200)
    assert merged.cohort("sex=F").count.tolist() == [10, 10, 10]
    assert merged.classes["yes"].count.tolist() == [190, 190, 190]
    assert merged.mean_abs_delta() == pytest.approx(np.abs(values[:, 2]).mean(), rel=1e-12)
    path = merged.save(tmp_path)
    again = DatasetSummary.load(tmp_path)
    assert path == tmp_path / "summary.json"
    assert again.to_dict() == merged.to_dict()


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(examples, 3\)"):
        FeatureSummary.of_matrix(NAMES, np.ones((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        FeatureSummary.of_matrix(NAMES, np.full((1, 3), np.inf))
    with pytest.raises(ValueError, match="out of range"):
        FeatureSummary.of_pairs(["a"], np.array([1]), np.array([1.0]))
    with pytest.raises(KeyError, match="no cohort 'x'"):
        DatasetSummary().cohort("x")
    with pytest.raises(FileNotFoundError, match="no dataset summary"):
        DatasetSummary.load(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON dataset summary"):
        DatasetSummary.load(tmp_path)
    (tmp_path / "summary.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not an intgrad dataset summary"):
        DatasetSummary.load(tmp_path)
