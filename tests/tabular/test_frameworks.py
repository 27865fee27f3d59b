"""The Adult MLP in Keras and JAX: the same logits and the same attributions as in PyTorch."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("torch")

from intgrad.tabular import (
    TabularExplainer,
    TabularExplanation,
    TabularModel,
    as_framework,
    as_jax,
    as_keras,
    load_tabular_model,
    model_weights,
    save_tabular_model,
)
from intgrad.tabular._frameworks import forward_logits

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = 32
LOGIT_TOLERANCE = 1e-5  # float32 matrix products in another order
ATTRIBUTION_TOLERANCE = 1e-5  # absolute, on probabilities' attributions (at most ~0.3)
FRAMEWORKS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(module) is None, reason=f"{module} is not installed"
        ),
    )
    for name, module in (("tensorflow", "tensorflow"), ("jax", "jax"))
]
BASELINES = ("median", "sample:3")


@pytest.fixture(scope="module")
def reference(adult_model: TabularModel, adult_rows: Any) -> dict[str, TabularExplanation]:
    explainer = TabularExplainer(adult_model)
    return {b: explainer.explain(adult_rows, baseline=b, steps=STEPS) for b in BASELINES}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_same_logits(framework: str, adult_model: TabularModel, adult_rows: Any) -> None:
    converted = as_framework(adult_model, framework)
    assert converted.framework == framework and converted.schema is adult_model.schema
    encoded = adult_model.schema.encode(adult_rows)
    np.testing.assert_allclose(
        forward_logits(converted.module, framework, encoded),
        forward_logits(adult_model.module, "torch", encoded),
        rtol=0,
        atol=LOGIT_TOLERANCE,
    )


@pytest.mark.parametrize("baseline", BASELINES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_same_attributions(
    framework: str,
    baseline: str,
    adult_model: TabularModel,
    adult_rows: Any,
    reference: dict[str, TabularExplanation],
) -> None:
    expected = reference[baseline]
    explained = TabularExplainer(as_framework(adult_model, framework)).explain(
        adult_rows, baseline=baseline, steps=STEPS
    )
    assert explained.baseline == expected.baseline
    np.testing.assert_array_equal(explained.references, expected.references)
    np.testing.assert_array_equal(explained.target, expected.target)
    for name in ("encoded_attributions", "attributions"):
        np.testing.assert_allclose(
            getattr(explained, name), getattr(expected, name), rtol=0, atol=ATTRIBUTION_TOLERANCE
        )
    np.testing.assert_allclose(explained.f_input, expected.f_input, atol=ATTRIBUTION_TOLERANCE)
    np.testing.assert_allclose(explained.delta, expected.delta, atol=ATTRIBUTION_TOLERANCE)
    if baseline.startswith("sample"):
        np.testing.assert_allclose(
            explained.standard_error, expected.standard_error, atol=ATTRIBUTION_TOLERANCE
        )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_framework_model_objects_are_detected(
    framework: str,
    adult_model: TabularModel,
    adult_rows: Any,
    reference: dict[str, TabularExplanation],
) -> None:
    # The bare framework model with the schema, as a user holding a Keras or JAX model has it.
    model = as_keras(adult_model) if framework == "tensorflow" else as_jax(adult_model)
    explainer = TabularExplainer(model, schema=adult_model.schema, labels=adult_model.labels)
    assert explainer.model.framework == framework
    explained = explainer.explain(adult_rows, steps=STEPS)
    np.testing.assert_allclose(
        explained.attributions, reference["median"].attributions, atol=ATTRIBUTION_TOLERANCE
    )
    if framework == "tensorflow":
        assert all(layer.trainable for layer in model.layers)
        np.testing.assert_array_equal(
            model.layers[1].get_weights()[0], adult_model.module[0].weight.detach().numpy().T
        )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_conversions_round_trip(framework: str, adult_model: TabularModel, tmp_path: Any) -> None:
    converted = as_framework(adult_model, framework)
    back = as_framework(converted, "torch")
    assert back.framework == "torch"
    for (kernel, bias), (expected_kernel, expected_bias) in zip(
        model_weights(back), model_weights(adult_model), strict=True
    ):
        np.testing.assert_array_equal(kernel, expected_kernel)
        np.testing.assert_array_equal(bias, expected_bias)
    path = save_tabular_model(converted, tmp_path / "converted.npz")
    assert model_weights(load_tabular_model(path))[0][0].shape == (87, 64)


def test_only_mlps_convert(adult_model: TabularModel) -> None:
    pytest.importorskip("jax")
    foreign = dataclasses.replace(
        adult_model, module=(lambda params, rows: rows, {}), framework="jax"
    )
    with pytest.raises(ValueError, match="only an MLP made by torch_mlp, as_keras or as_jax"):
        as_keras(foreign)
    with pytest.raises(ValueError, match="framework must be one of tensorflow, jax, torch"):
        as_framework(adult_model, "mxnet")
