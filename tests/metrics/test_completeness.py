"""Completeness within a relative tolerance: inside, outside, 0/0, from Attributions or arrays."""

from __future__ import annotations

import numpy as np
import pytest

from intgrad import integrated_gradients
from intgrad.metrics import completeness
from tests.closed_forms import Cubic


def test_within_outside_and_zero_over_zero() -> None:
    phi = np.array([[0.5, 0.5], [0.6, 0.5], [0.0, 0.0], [1e-3, 0.0], [-0.995, 0.0]])
    f_input = np.array([2.0, 2.0, 1.0, 1.0, 0.0])
    f_baseline = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    result = completeness(phi, f_input, f_baseline, tolerance=0.01)
    np.testing.assert_allclose(result.gaps, [0.0, 0.1, 0.0, 1e-3, 0.005], atol=1e-15)
    np.testing.assert_allclose(result.scale, [1.0, 1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(result.relative, [0.0, 0.1, 0.0, np.inf, 0.005], rtol=1e-12)
    assert result.within.tolist() == [True, False, True, False, True]
    assert not result.all_within
    loose = completeness(phi, f_input, f_baseline, tolerance=0.2, atol=1e-3)
    assert loose.within.tolist() == [True, True, True, True, True] and loose.all_within


def test_a_numerical_gap_passes_at_a_tolerance_but_not_with_equality() -> None:
    x = np.array([[0.9, -1.3, 2.0]])
    attribution = integrated_gradients(Cubic(), x, steps=4, method="riemann_trapezoid")
    result = completeness(attribution)
    np.testing.assert_array_equal(result.gaps, attribution.delta)
    np.testing.assert_allclose(result.relative, attribution.relative_delta, rtol=1e-12)
    assert 0.05 < float(result.relative[0]) < 0.06  # the trapezoid's error, 4 points: 5.6 %
    assert result.within.tolist() == [False]
    assert completeness(attribution, tolerance=0.06).within.tolist() == [True]
    exact = integrated_gradients(Cubic(), x, steps=4)  # Gauss–Legendre is exact on a cubic
    assert completeness(exact, tolerance=1e-9).all_within


def test_tuples_and_tensors_of_attributions_are_summed() -> None:
    torch = pytest.importorskip("torch")
    parts = (torch.tensor([[1.0, 2.0]]), np.array([[[0.5]]]))
    result = completeness(parts, [4.5], torch.tensor([1.0]))
    assert result.gaps.tolist() == [0.0] and result.within.tolist() == [True]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((np.ones((2, 2)),), {}, ValueError, "array attributions need f_input and f_baseline"),
        ((np.ones((2, 2)), [1.0], [0.0, 0.0]), {}, ValueError, r"f_input must have one value per"),
        (
            (np.ones((2, 2)), [1, 1], [0, 0]),
            {"tolerance": -0.1},
            ValueError,
            "tolerance must be >= 0",
        ),
        ((np.ones((2, 2)), [1, 1], [0, 0]), {"atol": "1"}, TypeError, "atol must be a number"),
        (((), [1.0], [0.0]), {}, ValueError, "attributions must be an array or a non-empty"),
        ((np.float64(1.0), [1], [0]), {}, ValueError, "attributions must have a batch axis"),
    ],
)
def test_completeness_refuses(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        completeness(*args, **kwargs)


def test_attribution_errors() -> None:
    x = np.array([[0.5, 1.0]])
    attribution = integrated_gradients(Cubic(), x, steps=4)
    with pytest.raises(ValueError, match="an Attribution carries its own F values"):
        completeness(attribution, f_input=[1.0])
    unchecked = integrated_gradients(Cubic(), x, steps=4, return_delta=False)
    with pytest.raises(ValueError, match="attribute with return_delta=True"):
        completeness(unchecked)
