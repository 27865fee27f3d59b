"""Comprehensiveness and sufficiency on a bag-of-embeddings model, where every removal is exact.

The model's logits are the sum of one row per real token (``logits = Σ_t E[id_t]``), so the
probability of any variant of a text is ``softmax(Σ over its ids of E)``, computed here by hand
in NumPy; its float64 forward pass agrees to rounding.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from intgrad.text.faithfulness import FaithfulnessReport, faithfulness, tokens_at
from intgrad.text.predict import length_groups

TEXTS = (
    "Unbelievably, the naïve café-owner's film wasn't bad.",
    "a gripping, beautifully acted film",
    "The jokes land, mostly; the romance doesn't.",
)
FRACTIONS = tuple(round(0.1 * i, 1) for i in range(1, 11))
TOLERANCE = 1e-12


class BagOfEmbeddings(torch.nn.Module):
    """``logits = Σ over real tokens of E[id]``, float64; records its calls and the ids it sees."""

    def __init__(self, vocabulary: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embedding = torch.nn.Embedding(vocabulary, 2, dtype=torch.float64)
        with torch.no_grad():
            self.embedding.weight.copy_(
                torch.randn(vocabulary, 2, generator=generator, dtype=torch.float64)
            )
        self.seen: list[list[int]] = []
        self.calls: list[int] = []

    def get_input_embeddings(self) -> Any:
        return self.embedding

    def forward(self, input_ids: Any, attention_mask: Any = None) -> Any:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        self.calls.append(int(input_ids.shape[0]))
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
            self.seen.append([i for i, m in zip(ids, mask, strict=True) if m])
        vectors = self.embedding(input_ids) * attention_mask[..., None].to(torch.float64)
        return vectors.sum(dim=1)


@pytest.fixture(scope="module")
def bag(wordpiece: Any) -> Any:
    from intgrad.text import as_text_model

    return as_text_model(BagOfEmbeddings(len(wordpiece)), wordpiece)


@pytest.fixture(scope="module")
def explanations(bag: Any) -> list[Any]:
    from intgrad.text.explain import TextExplainer

    found = TextExplainer(bag, output="logit").explain(list(TEXTS), steps=4)
    assert isinstance(found, list)
    return found


def _weights(bag: Any) -> np.ndarray:
    return bag.module.embedding.weight.detach().numpy()


def _p(bag: Any, ids: np.ndarray, target: int) -> float:
    logits = _weights(bag)[ids].sum(axis=0)
    exp = np.exp(logits - logits.max())
    return float(exp[target] / exp.sum())


def _expected(bag: Any, explanation: Any, mode: str, mask_id: int) -> tuple[np.ndarray, ...]:
    """Both curves of one explanation, by hand: (comprehensiveness, sufficiency)."""
    ids, special = explanation.token_ids, explanation.special
    positions = np.flatnonzero(~special)
    order = positions[np.argsort(-explanation.attributions[positions], kind="stable")]
    full = _p(bag, ids, explanation.target)
    curves = np.zeros((2, len(FRACTIONS)))
    for column, fraction in enumerate(FRACTIONS):
        k = max(1, int(np.ceil(round(fraction * positions.size, 9))))
        for row, leaving in enumerate((order[:k], order[k:])):
            if mode == "remove":
                variant = np.delete(ids, leaving)
            else:
                variant = ids.copy()
                variant[leaving] = mask_id
            curves[row, column] = full - _p(bag, variant, explanation.target)
    return curves[0], curves[1]


def _with_scores(explanations: list[Any], scores: list[np.ndarray]) -> list[Any]:
    return [replace(e, attributions=s) for e, s in zip(explanations, scores, strict=True)]


def _contributions(bag: Any, explanation: Any) -> np.ndarray:
    """Each token's exact share of the target's logit margin (zero for special tokens)."""
    rows = _weights(bag)[explanation.token_ids]
    margin = rows[:, explanation.target] - rows[:, 1 - explanation.target]
    return np.where(explanation.special, 0.0, margin)


@pytest.mark.parametrize("mode", ["remove", "mask"])
def test_curves_match_the_hand_computed_removals(bag: Any, explanations: list[Any], mode: str):
    report = faithfulness(explanations, bag, mode=mode)
    mask_id = bag.tokenizer.mask_token_id
    assert report.mask_id == (mask_id if mode == "mask" else None)
    for row, explanation in enumerate(explanations):
        comprehensiveness, sufficiency = _expected(bag, explanation, mode, mask_id)
        np.testing.assert_allclose(report.comprehensiveness[row], comprehensiveness, atol=TOLERANCE)
        np.testing.assert_allclose(report.sufficiency[row], sufficiency, atol=TOLERANCE)
        assert report.p_input[row] == pytest.approx(
            _p(bag, explanation.token_ids, explanation.target), abs=TOLERANCE
        )
    np.testing.assert_allclose(
        report.comprehensiveness_aopc, report.comprehensiveness.mean(axis=1), atol=0
    )
    assert report.summary()["sufficiency_aopc"] == pytest.approx(report.sufficiency.mean())


def test_removal_cuts_ids_and_keeps_special_tokens(bag: Any, explanations: list[Any]):
    explanation = explanations[0]
    bag.module.seen.clear()
    faithfulness([explanation], bag, fractions=(0.25, 0.5, 1.0))
    ids, special = explanation.token_ids, explanation.special
    positions = np.flatnonzero(~special)
    order = positions[np.argsort(-explanation.attributions[positions], kind="stable")]
    expected = {tuple(ids.tolist())}
    for k in tokens_at((0.25, 0.5, 1.0), positions.size):
        expected.add(tuple(np.delete(ids, order[:k]).tolist()))
        expected.add(tuple(np.delete(ids, order[k:]).tolist()))
    seen = {tuple(s) for s in bag.module.seen}
    assert seen == expected
    assert len(bag.module.seen) == len(expected)  # each variant evaluated once
    cls, sep = ids[0], ids[-1]
    assert special[0] and special[-1]
    assert all(s[0] == cls and s[-1] == sep for s in seen)
    assert (cls, sep) in seen  # 100 % comprehensiveness removes every explained token


def test_masking_replaces_ids_in_place(bag: Any, explanations: list[Any]):
    explanation = explanations[1]
    the = bag.tokenizer.convert_tokens_to_ids("the")
    bag.module.seen.clear()
    report = faithfulness([explanation], bag, mode="mask", mask_id=the)
    ids = explanation.token_ids
    assert report.mask_id == the
    for seen in bag.module.seen:
        variant = np.asarray(seen)
        assert variant.shape == ids.shape
        changed = variant != ids
        assert not changed[explanation.special].any()
        assert np.all(variant[changed] == the)
    assert report.comprehensiveness[0] == pytest.approx(
        _expected(bag, explanation, "mask", the)[0], abs=TOLERANCE
    )


@pytest.mark.parametrize("mode", ["remove", "mask"])
def test_the_last_point_keeps_or_removes_every_explained_token(
    bag: Any, explanations: list[Any], mode: str
):
    report = faithfulness(explanations, bag, mode=mode)
    np.testing.assert_array_equal(report.counts[:, -1], report.explained)
    np.testing.assert_array_equal(report.sufficiency[:, -1], 0.0)
    for row, explanation in enumerate(explanations):
        ids = explanation.token_ids
        bare = (
            ids[explanation.special]
            if mode == "remove"
            else np.where(explanation.special, ids, bag.tokenizer.mask_token_id)
        )
        change = report.p_input[row] - _p(bag, bare, explanation.target)
        assert report.comprehensiveness[row, -1] == pytest.approx(change, abs=TOLERANCE)


@pytest.mark.parametrize("mode", ["remove", "mask"])
def test_a_perfect_ranking_beats_a_reversed_and_a_random_one(
    bag: Any, explanations: list[Any], mode: str
):
    exact = [_contributions(bag, e) for e in explanations]
    perfect = faithfulness(
        _with_scores(explanations, exact),
        bag,
        mode=mode,
        random_rankings=4,
    )
    reversed_ = faithfulness(
        _with_scores(explanations, [-s for s in exact]),
        bag,
        mode=mode,
    )
    chance_c, chance_s = perfect.random_comprehensiveness, perfect.random_sufficiency
    assert chance_c is not None and chance_s is not None
    # With logits a sum over tokens, the top-k contributions are the k that move p the most.
    margin = 1e-12
    assert np.all(perfect.comprehensiveness >= reversed_.comprehensiveness - margin)
    assert np.all(perfect.comprehensiveness >= chance_c - margin)
    assert np.all(perfect.sufficiency <= reversed_.sufficiency + margin)
    assert np.all(perfect.sufficiency <= chance_s + margin)
    assert perfect.comprehensiveness_aopc.mean() > reversed_.comprehensiveness_aopc.mean() + 0.05
    assert perfect.sufficiency_aopc.mean() < reversed_.sufficiency_aopc.mean() - 0.05


def test_random_rankings_are_seeded(bag: Any, explanations: list[Any]):
    first = faithfulness(explanations, bag, random_rankings=3, seed=7)
    again = faithfulness(explanations, bag, random_rankings=3, seed=7)
    other = faithfulness(explanations, bag, random_rankings=3, seed=8)
    none = faithfulness(explanations, bag)
    assert first.random_comprehensiveness is not None and first.random_sufficiency is not None
    assert first.random_comprehensiveness.shape == (len(TEXTS), len(FRACTIONS))
    np.testing.assert_array_equal(first.random_comprehensiveness, again.random_comprehensiveness)
    assert not np.array_equal(first.random_comprehensiveness, other.random_comprehensiveness)
    # Other variants in the batches change padding, so only rounding may differ.
    np.testing.assert_allclose(first.comprehensiveness, none.comprehensiveness, atol=1e-12)
    assert none.random_comprehensiveness is None and none.random_sufficiency_aopc is None
    assert "random_sufficiency_aopc" in first.summary()
    assert "random_sufficiency_aopc" not in none.summary()


@pytest.mark.parametrize("texts_per_batch", [1, 5, 64])
def test_batching_changes_calls_not_values(bag: Any, explanations: list[Any], texts_per_batch: int):
    reference = faithfulness(explanations, bag, texts_per_batch=64)
    bag.module.calls.clear()
    bag.module.seen.clear()
    report = faithfulness(explanations, bag, texts_per_batch=texts_per_batch)
    calls = bag.module.calls
    lengths = [SimpleNamespace(length=len(ids)) for ids in bag.module.seen]
    groups = list(length_groups(lengths, texts_per_batch))
    assert calls == [len(g) for g in groups]  # one forward pass per length group
    assert max(calls) <= texts_per_batch
    np.testing.assert_allclose(report.comprehensiveness, reference.comprehensiveness, atol=1e-12)
    np.testing.assert_allclose(report.sufficiency, reference.sufficiency, atol=1e-12)


def test_tokens_at_rounds_up_and_keeps_at_least_one():
    np.testing.assert_array_equal(tokens_at(FRACTIONS, 10), np.arange(1, 11))
    np.testing.assert_array_equal(tokens_at((0.1, 0.3, 0.5, 1.0), 3), [1, 1, 2, 3])
    np.testing.assert_array_equal(tokens_at((0.01, 1.0), 1), [1, 1])
    np.testing.assert_array_equal(tokens_at((0.3, 0.7), 20), [6, 14])


def test_report_shapes(bag: Any, explanations: list[Any]):
    report = faithfulness(explanations, bag, fractions=(0.5, 1.0))
    assert isinstance(report, FaithfulnessReport)
    assert report.comprehensiveness.shape == report.sufficiency.shape == (len(TEXTS), 2)
    assert report.counts.shape == (len(TEXTS), 2)
    np.testing.assert_array_equal(report.targets, [e.target for e in explanations])
    np.testing.assert_array_equal(report.explained, [(~e.special).sum() for e in explanations])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fractions": ()}, "non-empty"),
        ({"fractions": (0.0, 0.5)}, r"\(0, 1\]"),
        ({"fractions": (0.5, 1.5)}, r"\(0, 1\]"),
        ({"mode": "drop"}, "mode must be one of remove, mask"),
        ({"mask_id": 103}, "mode='mask' only"),
        ({"mode": "mask", "mask_id": "x"}, "mask_id must be a token id"),
        ({"random_rankings": -1}, "random_rankings must be an int >= 0"),
        ({"texts_per_batch": 0}, "texts_per_batch must be an int >= 1"),
    ],
)
def test_invalid_options_raise(bag: Any, explanations: list[Any], options: dict, message: str):
    with pytest.raises(ValueError, match=message):
        faithfulness(explanations, bag, **options)


def test_invalid_explanations_raise(bag: Any, explanations: list[Any]):
    explanation = explanations[1]
    with pytest.raises(ValueError, match="at least one explanation"):
        faithfulness([], bag)
    other_ids = explanation.token_ids.copy()
    other_ids[1] += 1
    with pytest.raises(ValueError, match="explanation 1 does not have this model's tokens"):
        faithfulness([explanations[0], replace(explanation, token_ids=other_ids)], bag)
    all_special = replace(explanation, special=np.ones_like(explanation.special))
    with pytest.raises(ValueError, match="no explained"):
        faithfulness([all_special], bag)
    none_special = replace(explanation, special=np.zeros_like(explanation.special))
    with pytest.raises(ValueError, match="empty sequence"):
        faithfulness([none_special], bag)
    with pytest.raises(ValueError, match="out of range for the model's 2 classes"):
        faithfulness([replace(explanation, target=2)], bag)
