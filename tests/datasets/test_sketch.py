"""The quantile sketch: relative-error quantiles, exact merges, Jensen–Shannon on its bins."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad.datasets.sketch import QuantileSketch, bucket_ids, jensen_shannon


def _sketch(values: np.ndarray, accuracy: float = 0.01) -> QuantileSketch:
    sketch = QuantileSketch(accuracy)
    sketch.add(values)
    return sketch


@pytest.mark.parametrize("seed", [0, 1])
def test_quantiles_are_within_the_relative_accuracy_of_the_data(seed):
    values = np.random.default_rng(seed).standard_t(3, size=20_000) * 1e-3
    sketch = _sketch(values)
    for q in (0.0, 0.01, 0.25, 0.5, 0.9, 0.999, 1.0):
        exact = np.quantile(values, q, method="lower")
        assert abs(sketch.quantile(q) - exact) <= 0.01 * abs(exact) + 1e-15


def test_bucket_ids_ascend_with_values_and_zero_has_its_own_bucket():
    values = np.array([-5.0, -1e-3, -1e-13, 0.0, 1e-13, 1e-3, 5.0])
    ids = bucket_ids(values)
    assert np.all(np.diff(ids[[0, 1, 3, 5, 6]]) > 0)
    assert ids[2] == ids[3] == ids[4] == 0


def test_merge_is_exact_and_independent_of_order_and_grouping():
    values = np.random.default_rng(2).normal(size=3000)
    parts = [_sketch(p) for p in np.array_split(values, 7)]
    forward = parts[0]
    for part in parts[1:]:
        forward = forward.merge(part)
    backward = parts[-1]
    for part in reversed(parts[:-1]):
        backward = part.merge(backward)
    assert forward.counts == backward.counts == _sketch(values).counts
    assert forward.count == 3000


def test_round_trip_and_cdf():
    sketch = _sketch(np.array([-2.0, -1.0, 0.0, 1.0, 1.0, 3.0]))
    again = QuantileSketch.from_dict(sketch.to_dict())
    assert again.counts == sketch.counts
    np.testing.assert_allclose(
        sketch.cdf(np.array([-10.0, -1.5, 0.0, 1.02, 10.0])), [0, 1 / 6, 0.5, 5 / 6, 1]
    )


def test_jensen_shannon_separates_shifted_distributions():
    generator = np.random.default_rng(3)
    reference = _sketch(generator.normal(size=5000))
    same = _sketch(generator.normal(size=5000))
    shifted = _sketch(generator.normal(1.0, 1.0, size=5000))
    assert jensen_shannon(reference, reference) == 0.0
    assert jensen_shannon(reference, same) < 0.01
    assert 0.1 < jensen_shannon(reference, shifted) < 0.3
    assert np.isnan(jensen_shannon(reference, QuantileSketch()))


def test_errors():
    with pytest.raises(ValueError, match="finite"):
        QuantileSketch().add(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="relative_accuracy"):
        QuantileSketch(1.5)
    with pytest.raises(ValueError, match="different relative accuracy"):
        QuantileSketch(0.01).merge(QuantileSketch(0.02))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _sketch(np.ones(3)).quantile(1.5)
    with pytest.raises(ValueError, match="bins"):
        jensen_shannon(_sketch(np.ones(3)), _sketch(np.ones(3)), bins=0)
