"""Quadrature rules: nodes, weights, exactness and convergence, without any framework."""

from __future__ import annotations

import math

import numpy as np
import pytest

from intgrad import METHODS, quadrature_rule


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("steps", [2, 3, 7, 50, 301])
def test_weights_sum_to_one_and_alphas_in_unit_interval(method: str, steps: int) -> None:
    rule = quadrature_rule(method, steps)
    assert rule.alphas.dtype == np.float64 and rule.weights.dtype == np.float64
    assert rule.alphas.shape == rule.weights.shape == (steps,)
    assert abs(math.fsum(rule.weights.tolist()) - 1.0) <= 2e-16
    assert rule.alphas.min() >= 0.0 and rule.alphas.max() <= 1.0
    assert (np.diff(rule.alphas) > 0).all() and (rule.weights > 0).all()


def test_riemann_nodes() -> None:
    np.testing.assert_allclose(quadrature_rule("riemann_left", 4).alphas, [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(quadrature_rule("riemann_right", 4).alphas, [0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(
        quadrature_rule("riemann_middle", 4).alphas, [0.125, 0.375, 0.625, 0.875]
    )


def test_trapezoid_is_the_true_rule_matching_the_tutorial() -> None:
    # The tutorial: alphas = linspace(0, 1, m + 1); mean of (g[:-1] + g[1:]) / 2 over m intervals.
    m = 5
    rule = quadrature_rule("riemann_trapezoid", m + 1)
    np.testing.assert_allclose(rule.alphas, np.linspace(0, 1, m + 1), rtol=0, atol=0)
    gradients = np.random.default_rng(0).normal(size=m + 1)
    tutorial = np.mean((gradients[:-1] + gradients[1:]) / 2.0)
    assert rule.weights @ gradients == pytest.approx(tutorial, rel=1e-14)
    np.testing.assert_allclose(rule.weights, [0.1, 0.2, 0.2, 0.2, 0.2, 0.1], rtol=1e-14)


def test_gauss_legendre_is_exact_for_polynomials_up_to_degree_2n_minus_1() -> None:
    rule = quadrature_rule("gausslegendre", 4)
    for degree in range(8):
        assert rule.weights @ rule.alphas**degree == pytest.approx(1 / (degree + 1), rel=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_error_shrinks_with_steps(method: str) -> None:
    def error(steps: int) -> float:
        rule = quadrature_rule(method, steps)
        return abs(rule.weights @ np.exp(rule.alphas) - (math.e - 1))

    errors = [error(n) for n in (4, 16, 64)]
    assert errors[0] > errors[1] > errors[2] or errors[2] < 1e-13
    # First-order rules: error ≈ (e − 1)/(2n); the others are at least second order.
    assert errors[2] < (0.014 if method in ("riemann_left", "riemann_right") else 5e-5)


@pytest.mark.parametrize(
    ("method", "steps", "error", "message"),
    [
        ("gausslegendre", 0, ValueError, "steps must be >= 1"),
        ("gausslegendre", -3, ValueError, "steps must be >= 1"),
        ("gausslegendre", 2.5, TypeError, "steps must be a positive int"),
        ("gausslegendre", True, TypeError, "steps must be a positive int"),
        ("simpson", 10, ValueError, "method must be one of"),
        ("riemann_trapezoid", 1, ValueError, "needs steps >= 2"),
    ],
)
def test_errors(method: str, steps: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        quadrature_rule(method, steps)


def test_single_step_rules() -> None:
    assert quadrature_rule("gausslegendre", 1).alphas.tolist() == [0.5]
    assert quadrature_rule("riemann_right", 1).weights.tolist() == [1.0]
