"""The metrics on one tanh MLP in every installed framework, against the NumPy reference backend.

The same weights in float64 give the same numbers: each framework's deletion, insertion,
infidelity and max-sensitivity must match the reference backend's to float64 rounding
(measured ≤ 1.1e-15 relative for IG, the deletion curve and infidelity in all three; the
tests allow 1e-9, and 1e-7 for max-sensitivity, a difference of nearly equal attributions).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intgrad import Explainer
from intgrad.metrics import deletion, infidelity, insertion, max_sensitivity
from tests.metrics._models import TanhMLP, mlp_layers

TARGETS = [2, 0, 1]
RELATIVE = 1e-9


@pytest.fixture
def setup(rng: np.random.Generator) -> tuple[list[Any], np.ndarray, np.ndarray]:
    layers = mlp_layers(rng)
    x = rng.normal(size=(3, 6))
    reference = Explainer(TanhMLP(layers)).attribute(x, target=TARGETS, steps=16)
    return layers, x, np.asarray(reference.attributions)


def test_deletion_and_insertion_match_the_reference(framework, setup) -> None:
    layers, x, phi = setup
    reference_model = TanhMLP(layers)
    model = framework.mlp(layers)
    inputs = framework.tensor(x, "float64")
    attribution = Explainer(model).attribute(inputs, target=TARGETS, steps=16)
    np.testing.assert_allclose(
        framework.numpy(attribution.attributions), phi, rtol=1e-9, atol=1e-12
    )
    for metric in (deletion, insertion):
        got = metric(model, inputs, attribution, steps=6, batch_size=4)
        want = metric(reference_model, x, phi, steps=6, target=TARGETS)
        np.testing.assert_allclose(got.scores, want.scores, rtol=RELATIVE, atol=1e-12)
        np.testing.assert_allclose(got.auc, want.auc, rtol=RELATIVE, atol=1e-12)
    blurred = deletion(model, inputs, attribution, perturbation="mean", steps=3)
    assert blurred.scores.shape == (3, 4)


def test_infidelity_matches_the_reference(framework, setup) -> None:
    layers, x, phi = setup
    model = framework.mlp(layers)
    inputs = framework.tensor(x, "float64")
    attributions = framework.tensor(phi, "float64")
    for perturbation in ("baseline", "gaussian"):
        got = infidelity(
            model, inputs, attributions, perturbation=perturbation, samples=12, target=TARGETS
        )
        want = infidelity(
            TanhMLP(layers), x, phi, perturbation=perturbation, samples=12, target=TARGETS
        )
        np.testing.assert_allclose(got.values, want.values, rtol=RELATIVE)
        assert (got.values > 0).all()


def test_max_sensitivity_matches_the_reference(framework, setup) -> None:
    layers, x, _ = setup
    explainer = Explainer(framework.mlp(layers))
    reference = Explainer(TanhMLP(layers))
    inputs = framework.tensor(x, "float64")

    def explain(v: Any, **kwargs: Any) -> Any:
        return explainer.attribute(v, steps=16, **kwargs)

    def explain_reference(v: Any, **kwargs: Any) -> Any:
        return reference.attribute(v, steps=16, **kwargs)

    got = max_sensitivity(explain, inputs, samples=4, radius=0.05, target=TARGETS)
    want = max_sensitivity(explain_reference, x, samples=4, radius=0.05, target=TARGETS)
    np.testing.assert_allclose(got.changes, want.changes, rtol=1e-7)
    assert (got.values > 0).all()
