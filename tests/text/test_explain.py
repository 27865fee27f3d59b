"""explain_text on the embedded sentiment classifier and on Hugging Face classifiers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from intgrad.text import (
    TextBatch,
    TextExplainer,
    TextExplanation,
    TruncationWarning,
    as_text_model,
    explain_text,
    load_text_model,
    minilm_tokenizer,
    pad_batch,
    predict_text,
    resolve_target,
)
from intgrad.text.predict import length_groups

pytestmark = pytest.mark.slow

SENTENCES = (
    "a gripping, beautifully acted film.",
    "dull.",
    "the plot is thin, but the actors are great fun to watch.",
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run the model on one thread: on a shared CPU, two OpenMP threads are up to 2x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def explainer() -> TextExplainer:
    return TextExplainer()


def _one(explanation: TextExplanation | list[TextExplanation]) -> TextExplanation:
    assert isinstance(explanation, TextExplanation)
    return explanation


def _many(explanations: TextExplanation | list[TextExplanation]) -> list[TextExplanation]:
    assert isinstance(explanations, list)
    return explanations


def test_the_embedded_model_classifies_sentiment(explainer: TextExplainer) -> None:
    probabilities = predict_text(["a wonderful, moving film.", "a dull, lifeless mess."])
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-12)
    assert probabilities[0, 1] > 0.9 and probabilities[1, 0] > 0.9
    assert explainer.model.labels == ("negative", "positive")


def test_completeness_with_every_baseline_policy(explainer: TextExplainer) -> None:
    text = SENTENCES[0]
    for baseline in (
        "pad",
        "unk",
        "mask",
        "zero",
        "token:the",
        "text:an okay, rather ordinary film.",
    ):
        e = _one(explainer.explain(text, target="positive", baseline=baseline, steps=48))
        assert e.baseline == baseline
        # The stored attributions add up to F(x) − F(x′), up to the reported gap.
        np.testing.assert_allclose(e.attributions.sum(), e.f_input - e.f_baseline + e.delta)
        assert abs(e.delta) < 5e-3 * max(1.0, abs(e.f_input - e.f_baseline)), baseline
        # Special tokens keep their ids at the baseline, and get exactly nothing.
        assert np.array_equal(e.baseline_ids[e.special], e.token_ids[e.special])
        assert np.all(e.attributions[e.special] == 0.0)
        np.testing.assert_allclose(
            e.embedding_attributions.sum(1), e.attributions, rtol=1e-5, atol=1e-7
        )


def test_baseline_ids_follow_the_policy(explainer: TextExplainer) -> None:
    tokenizer = explainer.model.tokenizer
    content = ~_one(explainer.explain(SENTENCES[1], steps=4)).special
    for baseline, token_id in (
        ("pad", tokenizer.pad_token_id),
        ("unk", tokenizer.unk_token_id),
        ("mask", tokenizer.mask_token_id),
        ("token:the", tokenizer.convert_tokens_to_ids("the")),
    ):
        e = _one(explainer.explain(SENTENCES[1], baseline=baseline, steps=4))
        assert np.all(e.baseline_ids[content] == token_id)
    # The zero baseline has no ids: they repeat the input's, and F(x′) is the zero embedding's.
    zero = _one(explainer.explain(SENTENCES[1], baseline="zero", steps=4))
    assert np.array_equal(zero.baseline_ids, zero.token_ids)
    assert zero.f_baseline != _one(explainer.explain(SENTENCES[1], steps=4)).f_baseline


def test_special_tokens_can_be_explained_too(explainer: TextExplainer) -> None:
    e = _one(explainer.explain(SENTENCES[0], keep_special=False, steps=32))
    assert np.all(e.baseline_ids == explainer.model.tokenizer.pad_token_id)
    assert np.all(e.attributions[e.special] != 0.0)
    assert abs(e.delta) < 5e-3


def test_words_add_up_to_the_tokens(explainer: TextExplainer) -> None:
    e = _one(explainer.explain("unbelievably, the café-owner's film wasn't bad", steps=16))
    assert [w.text for w in e.words if not w.special][:3] == ["unbelievably", ",", "the"]
    assert any(len(w.tokens) > 1 for w in e.words)
    np.testing.assert_allclose(e.word_attributions.sum(), e.attributions.sum(), rtol=1e-12)
    for w in e.words:
        if not w.special:
            assert e.text[w.start : w.end] == w.text
            np.testing.assert_allclose(w.attribution, e.attributions[list(w.tokens)].sum())


SIMILAR = (
    "a gripping, beautifully acted film.",
    "a gripping, acted film.",
    "dull, slow and far too long.",
)
"""Texts of 9, 8 and 10 tokens: one group of the length grouping, padded to 10."""


def _padded_batches(monkeypatch: pytest.MonkeyPatch) -> list[TextBatch]:
    """Every batch the explainer pads from now on (recorded, then used as before)."""
    import intgrad.text.explain as explain_module

    batches: list[TextBatch] = []

    def recording(*args: Any, **options: Any) -> TextBatch:
        batch = pad_batch(*args, **options)
        batches.append(batch)
        return batch

    monkeypatch.setattr(explain_module, "pad_batch", recording)
    return batches


def test_a_padded_batch_gives_the_one_by_one_results(
    explainer: TextExplainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded = explainer.encode(SIMILAR)
    assert [e.length for e in encoded] == [9, 8, 10]
    assert list(length_groups(encoded, 32)) == [[1, 0, 2]]
    batches = _padded_batches(monkeypatch)
    batch = _many(explainer.explain(list(SIMILAR), target="positive", steps=24, max_padding=0.25))
    # One call, right-padded: the shorter texts end in padding the mask hides.
    (padded,) = batches
    assert padded.input_ids.shape == (3, 10)
    assert padded.attention_mask.sum(1).tolist() == [8, 9, 10]
    assert padded.attention_mask[:, -1].tolist() == [0, 0, 1]
    assert [e.text for e in batch] == list(SIMILAR)
    for e, encoded_text in zip(batch, encoded, strict=True):
        alone = _one(explainer.explain(e.text, target="positive", steps=24))
        assert e.tokens == alone.tokens and len(e.attributions) == encoded_text.length
        np.testing.assert_allclose(e.attributions, alone.attributions, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(e.f_input, alone.f_input, rtol=1e-5)
        np.testing.assert_allclose(e.delta, alone.delta, atol=1e-5)
    assert [b.input_ids.shape for b in batches[1:]] == [(1, 9), (1, 8), (1, 10)]
    # On the CPU the default pads nothing: a text's own 24 rows already fill a chunk, and
    # padded tokens cost as much as real ones; texts of equal length still share a call.
    batches.clear()
    default = _many(explainer.explain([*SIMILAR, SIMILAR[0]], target="positive", steps=24))
    assert sorted(b.input_ids.shape for b in batches) == [(1, 8), (1, 10), (2, 9)]
    for a, b in zip([*batch, batch[0]], default, strict=True):
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-6)
    # Groups of one text each give the same again.
    single = _many(explainer.explain(list(SIMILAR), target="positive", steps=24, texts_per_call=1))
    for a, b in zip(batch, single, strict=True):
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-6)


def test_progress_counts_every_chunk_of_gradient_evaluations(explainer: TextExplainer) -> None:
    reports: list[tuple[int, int]] = []
    e = _one(
        explainer.explain(
            SENTENCES[0], steps=24, batch_size=6, progress=lambda *r: reports.append(r)
        )
    )
    assert e.steps == 24
    assert reports == [(6, 24), (12, 24), (18, 24), (24, 24)]
    # Two groups ("dull." and a long text): one count over both, the second estimated at
    # the first one's evaluations per text until it starts.
    reports.clear()
    two = _many(
        explainer.explain(
            [SENTENCES[2], SENTENCES[1]],
            steps=8,
            batch_size=4,
            progress=lambda *r: reports.append(r),
        )
    )
    assert sum(e.steps for e in two) == 16
    assert reports == [(4, 16), (8, 16), (12, 16), (16, 16)]


class _StopRequestedError(Exception):
    """What a caller's progress callback raises to stop the work (the web app's cancel)."""


def test_an_error_raised_by_progress_stops_the_work(explainer: TextExplainer) -> None:
    before = _one(explainer.explain(SENTENCES[0], steps=24))
    reports: list[tuple[int, int]] = []

    def cancel(done: int, total: int) -> None:
        reports.append((done, total))
        raise _StopRequestedError("cancelled")

    with pytest.raises(_StopRequestedError, match="cancelled"):
        explainer.explain(SENTENCES[0], steps=400, batch_size=4, progress=cancel)
    assert reports == [(4, 400)]  # stopped at the first chunk, not after 400 evaluations
    # The model is as it was: the same explanation again.
    after = _one(explainer.explain(SENTENCES[0], steps=24))
    np.testing.assert_array_equal(after.attributions, before.attributions)


def test_a_text_baseline_that_misfits_a_later_text_fails_before_any_work(
    explainer: TextExplainer,
) -> None:
    reports: list[tuple[int, int]] = []
    with pytest.raises(ValueError, match="3 tokens and the text 'the plot is thin, but"):
        explainer.explain(
            ["a fine film", SENTENCES[2]],
            baseline="text:a good film",
            steps=8,
            progress=lambda *r: reports.append(r),
        )
    assert reports == []  # the fitting, shorter text (a group of its own) was not explained


def test_targets_by_index_label_and_default(explainer: TextExplainer) -> None:
    by_label = _many(
        explainer.explain(list(SENTENCES[:2]), target=["positive", "negative"], steps=8)
    )
    assert [e.target for e in by_label] == [1, 0]
    predicted = _many(explainer.explain(list(SENTENCES[:2]), steps=8))
    assert [e.target for e in predicted] == [e.predicted for e in predicted] == [1, 0]
    assert resolve_target("Positive", ("negative", "positive"), 2) == 1
    assert resolve_target("1", ("negative", "positive"), 2) == 1
    with pytest.raises(ValueError, match="unknown label 'neutral'; the model's labels are"):
        explainer.explain(SENTENCES[0], target="neutral")
    with pytest.raises(ValueError, match="out of range"):
        explainer.explain(SENTENCES[0], target=2)
    with pytest.raises(ValueError, match="2 targets for 3 texts"):
        explainer.explain(list(SENTENCES), target=[0, 1])


def test_logits_and_the_embedding_block() -> None:
    model = load_text_model()
    logit = _one(TextExplainer(model, output="logit").explain(SENTENCES[0], steps=32))
    assert logit.output == "logit" and logit.f_input > 1.0  # a logit, not a probability
    assert abs(logit.delta) < 1e-2 * abs(logit.f_input - logit.f_baseline)
    block = _one(TextExplainer(model, layer="block").explain(SENTENCES[0], steps=32))
    assert block.layer == "block" and abs(block.delta) < 5e-3
    assert not np.allclose(block.attributions, _one(explain_text(SENTENCES[0], model)).attributions)
    with pytest.raises(ValueError, match="'zero' baseline is defined on word embeddings"):
        TextExplainer(model, layer="block").explain(SENTENCES[0], baseline="zero")


def test_adaptive_steps(explainer: TextExplainer) -> None:
    results = _many(explainer.explain(list(SENTENCES), steps="auto", tolerance=0.01))
    for e in results:
        assert abs(e.delta) <= 0.01 * abs(e.f_input - e.f_baseline) + 1e-6
        assert e.result.method == "auto" and 1 <= e.steps <= 513


def test_the_delta_is_honest_where_captums_cannot_converge(explainer: TextExplainer) -> None:
    """Captum's BERT tutorial passes reference position ids (zeros) next to the reference ids;
    its layer IG then subtracts F at a point its path never visits (captum#1413)."""
    captum_attr = pytest.importorskip("captum.attr")
    model = explainer.model
    tokenizer = model.tokenizer
    encoded = tokenizer(SENTENCES[0], return_tensors="pt")
    ids = encoded["input_ids"]
    positions = torch.arange(ids.shape[1])[None]
    reference = torch.where(
        torch.tensor(
            tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True)
        )[None].bool(),
        ids,
        torch.full_like(ids, tokenizer.pad_token_id),
    )

    def forward(input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        logits = model.module(input_ids=input_ids, position_ids=position_ids)
        return torch.softmax(logits, dim=-1)

    layer_ig = captum_attr.LayerIntegratedGradients(forward, model.module.get_input_embeddings())
    theirs, ours = [], []
    for steps in (16, 128):
        _, delta = layer_ig.attribute(
            (ids, positions),
            baselines=(reference, torch.zeros_like(positions)),
            target=1,
            n_steps=steps,
            method="gausslegendre",
            return_convergence_delta=True,
        )
        theirs.append(abs(float(delta)))
        ours.append(abs(_one(explainer.explain(SENTENCES[0], target=1, steps=steps)).delta))
    assert min(theirs) > 1e-2 and theirs[1] > 0.5 * theirs[0]  # stuck: not a quadrature error
    assert ours[1] < 1e-4 and ours[1] < ours[0]


def test_a_long_text_is_truncated_with_a_warning(explainer: TextExplainer) -> None:
    text = " ".join(["wonderful"] * 600)
    with pytest.warns(TruncationWarning, match="its last 90 tokens are not explained"):
        e = _one(explainer.explain(text, steps=2))
    assert e.dropped_tokens == 90 and len(e.tokens) == explainer.model.max_tokens == 512


def test_bad_inputs_are_one_line_errors(explainer: TextExplainer) -> None:
    for call, message in (
        (lambda: explainer.explain(""), "the text is empty"),
        (lambda: explainer.explain([]), "give at least one text"),
        (lambda: explainer.explain("ok", baseline="nothing"), "unknown baseline 'nothing'"),
        (lambda: explainer.explain("ok", baseline="token:qzxqzx"), "not in the tokenizer's"),
        (
            lambda: explainer.explain("ok film", baseline="text:a much longer text"),
            "as many tokens",
        ),
        (lambda: explainer.explain("ok", texts_per_call=0), "texts_per_call must be >= 1"),
        (lambda: explainer.explain("ok", max_padding=-0.1), "max_padding must be a number"),
        (lambda: TextExplainer(layer="all"), "layer must be one of word, block"),
        (lambda: TextExplainer(output="odds"), "output must be one of"),
        (lambda: load_text_model("no-such-model"), "unknown text model 'no-such-model'"),
    ):
        with pytest.raises((ValueError, TypeError), match=message) as raised:
            call()
        assert "\n" not in str(raised.value)


def _tiny_bert(tokenizer: Any) -> Any:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        id2label={0: "sad", 1: "neutral", 2: "happy"},
        label2id={"sad": 0, "neutral": 1, "happy": 2},
    )
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config).eval()


def test_a_hugging_face_classifier_from_a_directory(tmp_path: Path) -> None:
    tokenizer = minilm_tokenizer()
    model = _tiny_bert(tokenizer)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = load_text_model(tmp_path)
    assert loaded.labels == ("sad", "neutral", "happy")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    direct = _many(
        explain_text(list(SENTENCES), model, tokenizer=tokenizer, target="happy", steps=32)
    )
    from_disk = _many(explain_text(list(SENTENCES), loaded, target=2, steps=32))
    for a, b in zip(direct, from_disk, strict=True):
        np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)
        assert abs(a.delta) < 1e-3 and a.target_label == "happy"
    # The caller's model is untouched: same weights, still requiring gradients, same mode.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters()) and not model.training


def test_decoder_only_models_pad_on_the_left(monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    from tests.text.tokenizers import byte_level_tokenizer

    tokenizer = byte_level_tokenizer()
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        num_labels=2,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.GPT2ForSequenceClassification(config).eval()
    bundle = as_text_model(model, tokenizer, labels=("no", "yes"))
    explainer = TextExplainer(bundle)
    assert explainer._call.padding_side == "left"
    assert "position_ids" in explainer._call.names
    texts = ["a long and quite boring film overall", "a rather long and quite boring film overall"]
    encoded = explainer.encode(texts)
    assert [e.length for e in encoded] == [21, 26]
    assert list(length_groups(encoded, 32)) == [[0, 1]]
    batches = _padded_batches(monkeypatch)
    batch = _many(explainer.explain(texts, target="yes", steps=32, max_padding=0.25))
    # One call, left-padded: the shorter text starts with 5 pads the mask hides, and its
    # position ids count from its first real token.
    (padded,) = batches
    assert padded.attention_mask[0].tolist() == [0] * 5 + [1] * 21
    assert padded.position_ids[0, 5:].tolist() == list(range(21))
    assert padded.position_ids[1].tolist() == list(range(26))
    for e in batch:
        alone = _one(explainer.explain(e.text, target="yes", steps=32))
        np.testing.assert_allclose(e.attributions, alone.attributions, rtol=1e-4, atol=1e-6)
        assert abs(e.delta) < 1e-3
    np.testing.assert_allclose(
        predict_text(texts, bundle), predict_text(texts, bundle, texts_per_batch=1), rtol=1e-5
    )
