"""TabularExplainer on the Adult MLP: completeness per source column, targets, inputs, one
attribution call per frame, the sample baseline's standard error, and an untouched model."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
torch = pytest.importorskip("torch")

from intgrad.tabular import (  # noqa: E402
    TabularExplainer,
    TabularModel,
    TabularSchema,
    explain_table,
    mlp_weights,
    torch_mlp,
)
from intgrad.tabular._frameworks import forward_logits  # noqa: E402

COMPLETE_STEPS = 512  # the ReLU kinks make the gap shrink slowly: 0.8e-3 at 256, below at 512
DELTA_BOUND = 1e-3
FLOAT32 = 1e-6  # float32 model outputs and attributions, compared in float64


@pytest.fixture(scope="module")
def explainer(adult_model: TabularModel) -> TabularExplainer:
    return TabularExplainer(adult_model)


class Counting(torch.nn.Module):  # type: ignore[name-defined]
    """Counts the forward calls of the model it wraps."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, rows: Any) -> Any:
        self.calls += 1
        return self.inner(rows)


@pytest.mark.parametrize("baseline", ["median", "mean", "zeros"])
def test_completeness_per_source_column(
    explainer: TabularExplainer, adult_rows: Any, baseline: str
) -> None:
    explained = explainer.explain(adult_rows, baseline=baseline, steps=COMPLETE_STEPS)
    assert explained.delta.abs().max() < DELTA_BOUND
    totals = explained.attributions.sum(axis=1)
    gap = totals - (explained.f_input - explained.f_baseline)
    np.testing.assert_allclose(gap, explained.delta, atol=FLOAT32)
    assert ((gap.abs() - explained.delta.abs()) <= FLOAT32).all()
    encoded = explained.encoded_attributions
    for column, indices in explainer.schema.groups.items():
        summed = encoded.iloc[:, list(indices)].sum(axis=1)
        np.testing.assert_allclose(explained.attributions[column], summed, rtol=0, atol=1e-12)


def test_one_hot_columns_off_both_ends_get_zero(
    explainer: TabularExplainer, adult_rows: Any
) -> None:
    # x − x′ is zero for a category neither the row nor the baseline (the mode) has.
    explained = explainer.explain(adult_rows, baseline="median", steps=16)
    indices = explainer.schema.groups["occupation"]
    names = [explainer.schema.encoded_names[i] for i in indices]
    mode = explainer.schema.features[explainer.schema.columns.index("occupation")]
    for label, row in adult_rows.iterrows():
        ends = {f"occupation={row['occupation']}", f"occupation={mode.categories[mode.mode]}"}
        off = [n for n in names if n not in ends]
        assert (explained.encoded_attributions.loc[label, off] == 0).all()


def test_frames_index_values_and_probabilities(
    explainer: TabularExplainer, adult_rows: Any
) -> None:
    explained = explainer.explain(adult_rows, steps=8)
    assert list(explained.index) == list(adult_rows.index) and len(explained) == 8
    assert explained.columns == explainer.schema.columns
    pd.testing.assert_frame_equal(explained.values, adult_rows[list(explained.columns)])
    assert list(explained.encoded_attributions.columns) == list(explainer.schema.encoded_names)
    probabilities = explained.probabilities
    assert list(probabilities.columns) == ["<=50K", ">50K"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert (explained.target == explained.predicted).all()  # default: the predicted class
    chosen = probabilities.to_numpy()[np.arange(8), explained.target.to_numpy()]
    np.testing.assert_allclose(explained.f_input, chosen, atol=FLOAT32)
    assert explained.standard_error is None and explained.references.shape == (1, 87)
    pd.testing.assert_frame_equal(explainer.predict(adult_rows), probabilities)


def test_targets(explainer: TabularExplainer, adult_rows: Any) -> None:
    assert (explainer.explain(adult_rows, target=">50K", steps=4).target == 1).all()
    assert (explainer.explain(adult_rows, target=0, steps=4).target_label == "<=50K").all()
    assert (explainer.explain(adult_rows, target="1", steps=4).target == 1).all()
    mixed = [None, 1, "<=50k", 1, 0, None, ">50K", np.int64(0)]
    explained = explainer.explain(adult_rows, target=mixed, steps=4)
    predicted = explained.predicted.to_numpy()
    np.testing.assert_array_equal(explained.target, [predicted[0], 1, 0, 1, 0, predicted[5], 1, 0])
    logits = forward_logits(explainer.model.module, "torch", explainer.schema.encode(adult_rows))
    f_of_label = torch.softmax(torch.from_numpy(logits), dim=1).numpy()[:, 1]
    np.testing.assert_allclose(
        explainer.explain(adult_rows, target=">50K", steps=4).f_input, f_of_label, atol=FLOAT32
    )


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("rich", ValueError, r"unknown label 'rich'; the model's labels are '<=50K', '>50K'"),
        (2, ValueError, "target 2 is out of range for 2 classes"),
        ([0, 1, 0], ValueError, "got 3 targets for 8 rows"),
        (True, TypeError, "target must be a class index or label name, got True"),
        (0.5, TypeError, "target must be an index, a label, or one per row"),
    ],
)
def test_target_errors(
    explainer: TabularExplainer, adult_rows: Any, target: object, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        explainer.explain(adult_rows, target=target, steps=4)


def test_arrays_series_and_dicts(explainer: TabularExplainer, adult_rows: Any) -> None:
    columns = list(explainer.schema.columns)
    frame = explainer.explain(adult_rows, steps=8)
    values = adult_rows[columns[::-1]].to_numpy(dtype=object)
    named = explainer.explain(values, feature_names=columns[::-1], steps=8)
    np.testing.assert_allclose(named.attributions, frame.attributions, rtol=0, atol=1e-12)
    ordered = explainer.explain(adult_rows[columns].to_numpy(dtype=object), steps=8)
    np.testing.assert_allclose(ordered.attributions, frame.attributions, rtol=0, atol=1e-12)
    first = adult_rows.iloc[0]
    for one in (first, first.to_dict()):
        single = explainer.explain(one, steps=8)
        np.testing.assert_allclose(
            single.attributions.iloc[0], frame.attributions.iloc[0], atol=FLOAT32
        )
    with pytest.raises(ValueError, match="the array has 12 columns but 2 feature names"):
        explainer.explain(values, feature_names=["age", "sex"])
    with pytest.raises(ValueError, match=r"the array has 3 columns but 12 feature names .* pass"):
        explainer.explain(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="feature_names names an array's columns"):
        explainer.explain(adult_rows, feature_names=columns)


def test_bad_rows_are_refused(explainer: TabularExplainer, adult_rows: Any) -> None:
    bad = adult_rows.copy()
    bad.loc["person-3", "workclass"] = "Astronaut"
    message = r"^row 'person-3': column 'workclass' has the unknown category 'Astronaut'"
    with pytest.raises(ValueError, match=message):
        explainer.explain(bad)


def test_one_attribution_call_for_the_whole_frame(
    adult_model: TabularModel, adult_test: Any
) -> None:
    counting = Counting(adult_model.module)
    explainer = TabularExplainer(
        counting, schema=adult_model.schema, labels=adult_model.labels, background=adult_test
    )

    def calls(rows: int, **options: Any) -> int:
        counting.calls = 0
        explained = explainer.explain(adult_test.iloc[:rows], steps=16, **options)
        assert explained.steps == 16 * (4 if options.get("baseline") == "sample:4" else 1)
        return counting.calls

    one = calls(1)
    assert one <= 4  # prediction, one chunk, the completeness check's ends
    assert calls(40) == one  # 40 rows share the model calls of one
    assert calls(40, baseline="sample:4") == one  # 4 references × 40 rows: still one call
    assert calls(40, batch_size=64) > one + 8  # 640 path rows in chunks of 64
    assert explainer.session is explainer.session  # one session, reused


def test_sample_standard_error_is_the_direct_formula(
    explainer: TabularExplainer, adult_rows: Any
) -> None:
    count, steps = 5, 32
    explained = explainer.explain(adult_rows, baseline="sample:5", steps=steps, seed=1)
    assert explained.baseline == "sample:5(seed=1)" and explained.references.shape == (5, 87)
    alone = [
        explainer.explain(adult_rows, baseline=reference, steps=steps)
        for reference in explained.references
    ]
    per_reference = np.stack([a.attributions.to_numpy() for a in alone])
    direct = per_reference.std(axis=0, ddof=1) / np.sqrt(count)
    assert explained.standard_error is not None and explained.encoded_standard_error is not None
    np.testing.assert_allclose(explained.standard_error, direct, rtol=0, atol=FLOAT32)
    np.testing.assert_allclose(explained.attributions, per_reference.mean(axis=0), atol=FLOAT32)
    deltas = np.stack([a.delta.to_numpy() for a in alone])
    np.testing.assert_allclose(explained.result.baseline_deltas, deltas, atol=FLOAT32)
    np.testing.assert_allclose(explained.delta, deltas.mean(axis=0), atol=FLOAT32)
    f_baseline = np.stack([a.f_baseline.to_numpy() for a in alone]).mean(axis=0)
    np.testing.assert_allclose(explained.f_baseline, f_baseline, atol=FLOAT32)
    assert explained.steps == count * steps and len(explained.result.baselines) == count


def test_sample_needs_a_background(adult_model: TabularModel, adult_rows: Any) -> None:
    bare = TabularExplainer(adult_model.module, schema=adult_model.schema)
    with pytest.raises(ValueError, match="draws from a background frame"):
        bare.explain(adult_rows, baseline="sample:4")
    assert bare.explain(adult_rows, steps=4).labels == ("0", "1")


def test_the_model_and_frame_are_not_modified(adult_model: TabularModel, adult_rows: Any) -> None:
    module = torch_mlp(mlp_weights(adult_model.module)).train()
    module[2].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    flags = [p.requires_grad for p in module.parameters()]
    modes = [m.training for m in module.modules()]
    rows = adult_rows.copy()
    TabularExplainer(module, schema=adult_model.schema).explain(rows, steps=8)
    for name, value in module.state_dict().items():
        assert torch.equal(value, before[name])
    assert [p.requires_grad for p in module.parameters()] == flags
    assert [m.training for m in module.modules()] == modes
    assert all(p.grad is None for p in module.parameters())
    pd.testing.assert_frame_equal(rows, adult_rows)


def test_logit_output(adult_model: TabularModel, adult_rows: Any) -> None:
    explained = TabularExplainer(adult_model, output="logit").explain(
        adult_rows, target=1, steps=COMPLETE_STEPS
    )
    logits = forward_logits(adult_model.module, "torch", adult_model.schema.encode(adult_rows))
    np.testing.assert_allclose(explained.f_input, logits[:, 1], atol=1e-5)
    assert explained.output == "logit" and explained.delta.abs().max() < 1e-2
    with pytest.raises(ValueError, match="output must be one of probability, logit"):
        TabularExplainer(adult_model, output="softmax")


def test_single_output_model(people: Any) -> None:
    schema = TabularSchema.fit(people, target="label")
    torch.manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        linear = torch.nn.Linear(schema.width, 1)
    with pytest.raises(ValueError, match="one output per row, whose softmax is always 1"):
        TabularExplainer(linear, schema=schema).explain(people)
    explained = TabularExplainer(linear, schema=schema, output="logit").explain(people, steps=4)
    # A linear model: IG is exact, w · (x − x′) per encoded column.
    encoded = schema.encode(people).astype(np.float64)
    start = explained.references.astype(np.float64)
    weight = linear.weight.detach().numpy().astype(np.float64)[0]
    np.testing.assert_allclose(
        explained.encoded_attributions, (encoded - start) * weight, atol=1e-6
    )


def test_rows_and_summary(explainer: TabularExplainer, adult_rows: Any) -> None:
    explained = explainer.explain(adult_rows, baseline="sample:3", steps=8)
    last = explained.row(-1)
    assert len(last) == 1 and list(last.index) == ["person-7"]
    np.testing.assert_array_equal(last.attributions, explained.attributions.iloc[[7]])
    assert last.delta.iloc[0] == explained.delta.iloc[7]
    assert last.result.baseline_deltas.shape == (3, 1)
    with pytest.raises(IndexError, match="row 8 is out of range for 8 rows"):
        explained.row(8)
    summary = json.loads(json.dumps(explained.summary()))
    assert summary["model"] == "adult-mlp" and summary["references"] == 3
    assert summary["steps"] == 24 and summary["baseline"] == "sample:3(seed=0)"
    row = summary["rows"][2]
    assert row["index"] == "person-2" and len(row["features"]) == 12
    assert row["features"][0]["feature"] == "age"
    assert row["features"][0]["value"] == int(adult_rows["age"].iloc[2])
    total = sum(f["attribution"] for f in row["features"])
    assert total == pytest.approx(row["attribution_sum"], abs=1e-12)
    assert row["attribution_sum"] - (row["f_input"] - row["f_baseline"]) == pytest.approx(
        row["delta"], abs=FLOAT32
    )
    assert all("standard_error" in f for f in row["features"])


def test_explain_table(adult_model: TabularModel, adult_rows: Any) -> None:
    explained = explain_table(adult_rows.iloc[:2], adult_model, steps=8, baseline="mean")
    again = TabularExplainer(adult_model).explain(adult_rows.iloc[:2], steps=8, baseline="mean")
    pd.testing.assert_frame_equal(explained.attributions, again.attributions)
    assert explained.baseline == "mean"


def test_auto_steps_with_references(explainer: TabularExplainer, adult_rows: Any) -> None:
    explained = explainer.explain(adult_rows, baseline="sample:3", steps="auto")
    per_row = explained.result.steps_per_example
    assert explained.result.method == "auto" and per_row.shape == (8,)
    # Each row's count is its three references' together; the result reports the most.
    assert explained.steps == per_row.max() and (per_row >= 3).all()
    assert np.abs(explained.delta).max() < 5e-3
    assert explained.result.estimated_error.shape == (8,)


def test_background_problems_are_named(adult_model: TabularModel, adult_rows: Any) -> None:
    background = adult_rows.assign(sex="Unknown")
    explainer = TabularExplainer(adult_model, background=background)
    with pytest.raises(ValueError, match=r"^the background frame: row 'person-0': column 'sex'"):
        explainer.explain(adult_rows, baseline="mean", steps=4)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        TabularExplainer(adult_model).explain(adult_rows, batch_size=0)


def _unsplit(adult_model: TabularModel, output: Any) -> TabularExplainer:
    """An explainer of the same function whose model is not a plain Sequential: not split."""
    return TabularExplainer(
        Counting(adult_model.module),
        schema=adult_model.schema,
        labels=adult_model.labels,
        background=adult_model.background,
        output=output,
    )


@pytest.mark.parametrize("baseline", ["median", "zeros", "sample:3", "row"])
@pytest.mark.parametrize("output", ["probability", "logit"])
def test_the_affine_head_gives_the_whole_models_numbers(
    adult_model: TabularModel, adult_rows: Any, baseline: str, output: Any
) -> None:
    split = TabularExplainer(adult_model, output=output)
    whole = _unsplit(adult_model, output)
    assert split.affine_head() is not None and whole.affine_head() is None
    chosen = adult_rows.iloc[0] if baseline == "row" else baseline
    options: dict[str, Any] = {
        "baseline": chosen,
        "steps": 24,
        "target": 1,
        "method": "riemann_trapezoid",
    }
    ours, theirs = (
        split.explain_arrays(adult_rows, **options),
        whole.explain_arrays(adult_rows, **options),
    )
    scale = np.abs(theirs.attributions).max()
    np.testing.assert_allclose(ours.attributions, theirs.attributions, rtol=0, atol=1e-5 * scale)
    for field in ("f_input", "f_baseline", "delta"):
        np.testing.assert_allclose(getattr(ours, field), getattr(theirs, field), rtol=0, atol=1e-5)
    assert np.abs(theirs.delta).max() > 1e-4  # 24 trapezoid steps: a gap both must agree on
    explained = split.explain(adult_rows, **options)
    gap = explained.attributions.sum(axis=1) - (explained.f_input - explained.f_baseline)
    np.testing.assert_allclose(gap, explained.delta, atol=FLOAT32)


def test_models_that_are_not_plain_are_not_split(
    adult_model: TabularModel, adult_rows: Any
) -> None:
    module = torch_mlp(mlp_weights(adult_model.module))
    explainer = TabularExplainer(module, schema=adult_model.schema)
    head = explainer.affine_head()
    assert head is not None and head[0].weight is module[0].weight
    plain = explainer.explain_arrays(adult_rows, steps=16)
    seen: list[int] = []
    handle = module[2].register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    try:
        assert explainer.affine_head() is None  # a hook may do anything: the whole model runs
        hooked = explainer.explain_arrays(adult_rows, steps=16)
    finally:
        handle.remove()
    assert sum(seen) >= len(adult_rows) * 16  # the hook saw every path point
    np.testing.assert_allclose(hooked.attributions, plain.attributions, rtol=0, atol=1e-6)
    assert explainer.affine_head() is not None  # split again once the hook is gone
    module[0] = torch.nn.Linear(87, 64)  # a new first layer: a new split
    assert explainer.affine_head()[0].weight is module[0].weight

    class Custom(torch.nn.Sequential):  # type: ignore[name-defined]
        pass

    custom = Custom(*_layers(adult_model))
    assert TabularExplainer(custom, schema=adult_model.schema).affine_head() is None
    relu_first = torch.nn.Sequential(torch.nn.ReLU(), *_layers(adult_model))
    assert TabularExplainer(relu_first, schema=adult_model.schema).affine_head() is None


def _layers(adult_model: TabularModel) -> list[Any]:
    return list(torch_mlp(mlp_weights(adult_model.module)))


def test_split_and_whole_calls_in_threads_leave_the_flags(
    adult_model: TabularModel, adult_rows: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    module = torch_mlp(mlp_weights(adult_model.module))
    module[2].weight.requires_grad_(False)
    flags = [p.requires_grad for p in module.parameters()]
    explainer = TabularExplainer(module, schema=adult_model.schema)
    fixed = explainer.explain_arrays(adult_rows, steps=16)

    def call(index: int) -> np.ndarray:  # "auto" runs the whole model, fixed steps the split
        steps: Any = "auto" if index % 2 else 16
        return explainer.explain_arrays(adult_rows, steps=steps).attributions

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(call, range(16)))
    for index, attributions in enumerate(results):
        if index % 2 == 0:
            np.testing.assert_allclose(attributions, fixed.attributions, rtol=0, atol=1e-7)
    assert [p.requires_grad for p in module.parameters()] == flags
    assert all(p.grad is None for p in module.parameters())
