"""Attribution drift on synthetic summaries: seeded attribution matrices of 2,000 rows.

The nDCG is checked against values worked by hand; the JS divergences of samples of one
distribution stay below 0.01 (20 equal-mass bins, 2,000 values a side: the expected divergence
is about 19 / (2 · 2000 · 4 ln 2) ≈ 0.0017), a column scaled ×3 scores above 0.2.
"""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from intgrad.datasets.drift import (
    DRIFT_FORMAT,
    DriftReport,
    DriftThresholds,
    compare,
    load_summary,
    ndcg,
    parse_group,
    select_group,
)
from intgrad.datasets.summary import OUTPUT_NAMES, DatasetSummary, FeatureSummary

NAMES = ("age", "income", "hours", "<b>&")
LOCATIONS = np.array([0.1, 0.4, -0.2, 0.05])
SCALES = np.array([0.3, 0.5, 0.2, 0.1])
ROWS = 2000
LOG2_3 = math.log2(3)


def _attributions(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(LOCATIONS, SCALES, size=(ROWS, len(NAMES)))


def _summary(
    values: np.ndarray,
    names: tuple[str, ...] = NAMES,
    metadata: dict | None = None,
    cohorts: dict | None = None,
) -> DatasetSummary:
    outputs = np.stack([values.sum(axis=1), np.zeros(len(values)), np.zeros(len(values))], 1)
    return DatasetSummary(
        examples=len(values),
        failed=0,
        features=FeatureSummary.of_matrix(names, values),
        outputs=FeatureSummary.of_matrix(OUTPUT_NAMES, outputs),
        cohorts=cohorts or {},
        metadata={"task": "tabular", "feature_kind": "columns"} if metadata is None else metadata,
    )


def _scaled(values: np.ndarray, column: int, factor: float) -> np.ndarray:
    out = values.copy()
    out[:, column] *= factor
    return out


@pytest.fixture(scope="module")
def reference() -> DatasetSummary:
    return _summary(_attributions(0))


@pytest.fixture(scope="module")
def fresh() -> DatasetSummary:
    """Another sample of the reference's distribution."""
    return _summary(_attributions(1))


# --- nDCG, by hand ---------------------------------------------------------------------------


def test_ndcg_of_identical_rankings_is_one() -> None:
    scores = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 1.0}
    assert ndcg(scores, scores) == 1.0
    assert ndcg(scores, scores, top_k=2) == 1.0


def test_ndcg_of_a_reversed_ranking() -> None:
    # Current order c, b, a: gains 1, 2, 3 at ranks 1, 2, 3; the ideal has 3, 2, 1.
    reference = {"a": 3.0, "b": 2.0, "c": 1.0}
    current = {"a": 1.0, "b": 2.0, "c": 3.0}
    dcg = 1 + 2 / LOG2_3 + 3 / 2
    ideal = 3 + 2 / LOG2_3 + 1 / 2
    assert ndcg(reference, current) == pytest.approx(dcg / ideal, rel=1e-12)
    assert ndcg(reference, current) == pytest.approx(0.789998, abs=1e-6)
    assert ndcg(reference, current, top_k=1) == pytest.approx(1 / 3, rel=1e-12)
    assert ndcg(reference, current, top_k=2) == pytest.approx(
        (1 + 2 / LOG2_3) / (3 + 2 / LOG2_3), rel=1e-12
    )


def test_ndcg_of_one_swap_below_the_top() -> None:
    # Current order a, c, b: (3 + 1/log2 3 + 2/2) / (3 + 2/log2 3 + 1/2) = 0.972504.
    value = ndcg({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 9.0, "b": 1.0, "c": 5.0})
    assert value == pytest.approx((3 + 1 / LOG2_3 + 1) / (3 + 2 / LOG2_3 + 0.5), rel=1e-12)
    assert value == pytest.approx(0.972504, abs=1e-6)


def test_ndcg_with_features_only_one_side_has() -> None:
    # The current side lacks "a" and has "z", which the reference gives relevance 0.
    value = ndcg({"a": 3.0, "b": 2.0, "c": 1.0}, {"z": 5.0, "b": 2.0, "c": 1.0})
    assert value == pytest.approx((0 + 2 / LOG2_3 + 1 / 2) / (3 + 2 / LOG2_3 + 1 / 2), rel=1e-12)


def test_ndcg_without_reference_importance_is_nan() -> None:
    assert math.isnan(ndcg({"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 2.0}))


@pytest.mark.parametrize(
    ("reference", "current", "top_k", "match"),
    [
        ({"a": 1.0}, {"a": 1.0}, 0, "top_k"),
        ({"a": -1.0}, {"a": 1.0}, None, "reference"),
        ({"a": 1.0}, {"a": math.nan}, None, "current"),
    ],
)
def test_ndcg_refuses_bad_input(reference, current, top_k, match) -> None:
    with pytest.raises(ValueError, match=match):
        ndcg(reference, current, top_k)


def test_compare_ndcg_matches_the_hand_worked_value() -> None:
    names = ("a", "b", "c")
    ones = np.ones((ROWS, 1))
    report = compare(
        _summary(ones * [3.0, -2.0, 1.0], names), _summary(ones * [1.0, 2.0, -3.0], names)
    )
    assert report.ndcg == pytest.approx((1 + 2 / LOG2_3 + 1.5) / (3 + 2 / LOG2_3 + 0.5), rel=1e-12)
    ranks = {r.name: (r.rank_reference, r.rank_current) for r in report.rows}
    assert ranks == {"a": (1, 3), "b": (2, 2), "c": (3, 1)}
    assert report.ndcg_breached and not report.ok
    assert report.breaches[0] == "nDCG of the feature ranking 0.7900 is below 0.9"
    assert compare(
        _summary(ones * [3.0, -2.0, 1.0], names),
        _summary(ones * [1.0, 2.0, -3.0], names),
        top_k=1,
    ).ndcg == pytest.approx(1 / 3, rel=1e-12)


# --- per feature -----------------------------------------------------------------------------


def test_identical_summaries_show_no_drift(reference: DatasetSummary) -> None:
    report = compare(reference, reference)
    assert [row.js for row in report.rows] == [0.0] * len(NAMES)
    assert [row.mean_abs_change for row in report.rows] == [0.0] * len(NAMES)
    assert [row.mean_shift_z for row in report.rows] == [0.0] * len(NAMES)
    assert report.ndcg == 1.0
    assert report.ok and report.flagged == () and report.breaches == ()
    # Equal JS: the rows follow the reference's importance.
    assert [row.name for row in report.rows] == list(reference.features.ranking())
    assert [row.rank_reference for row in report.rows] == [1, 2, 3, 4]


def test_a_fresh_sample_of_the_same_distribution_is_not_drift(
    reference: DatasetSummary, fresh: DatasetSummary
) -> None:
    report = compare(reference, fresh)
    assert report.ok
    assert max(row.js for row in report.rows) < 0.01
    assert max(abs(row.mean_abs_change) for row in report.rows) < 0.05
    assert report.ndcg == 1.0


def test_a_scaled_feature_is_flagged_and_named(reference: DatasetSummary) -> None:
    values = _attributions(0)
    report = compare(reference, _summary(_scaled(values, 1, 3.0)))
    assert report.flagged == ("income",)
    income = report.row("income")
    assert income.flags == ("js", "mean-abs-change")
    assert income.js > 0.2
    # The same rows ×3: mean |a| triples exactly (to rounding).
    assert income.mean_abs_change == pytest.approx(2.0, rel=1e-12)
    assert income.mean_abs_current == pytest.approx(3 * income.mean_abs_reference, rel=1e-12)
    for name in ("age", "hours", "<b>&"):
        row = report.row(name)
        assert row.js == 0.0 and row.mean_abs_change == 0.0 and not row.flagged
    assert report.rows[0].name == "income"
    assert not report.ok
    assert report.breaches == (
        f"feature 'income': JS divergence {income.js:.4f} > 0.1",
        f"feature 'income': mean |a| {income.mean_abs_reference:.4g} -> "
        f"{income.mean_abs_current:.4g} (+200.0%), beyond +/-50%",
    )


def test_a_shifted_feature_is_flagged_on_a_fresh_sample(reference: DatasetSummary) -> None:
    values = _attributions(1)
    values[:, 0] += 0.3
    report = compare(reference, _summary(values))
    assert report.flagged == ("age",)
    age = report.row("age")
    assert age.js > 0.1 and age.mean_shift_z > 20
    assert all(report.row(n).js < 0.01 for n in ("income", "hours", "<b>&"))


def test_flagged_features_are_sorted_by_js(reference: DatasetSummary) -> None:
    values = _scaled(_scaled(_attributions(0), 0, 2.0), 2, 6.0)
    report = compare(reference, _summary(values))
    assert report.flagged == ("hours", "age")
    assert report.row("hours").js > report.row("age").js


def test_mean_shift_z_is_welch_on_the_two_samples() -> None:
    a, b = _attributions(0), _attributions(1)
    b[:, 2] += 0.01
    report = compare(_summary(a), _summary(b))
    gap = b[:, 2].mean() - a[:, 2].mean()
    error = math.sqrt(a[:, 2].var(ddof=1) / ROWS + b[:, 2].var(ddof=1) / ROWS)
    assert report.row("hours").mean_shift_z == pytest.approx(gap / error, rel=1e-9)
    assert report.row("hours").mean_reference == pytest.approx(a[:, 2].mean(), rel=1e-12)


def test_mean_abs_change_from_zero() -> None:
    zeros = np.zeros((ROWS, 2))
    ones = np.c_[np.zeros(ROWS), np.full(ROWS, 0.5)]
    report = compare(_summary(zeros, ("still", "woke")), _summary(ones, ("still", "woke")))
    assert report.row("still").mean_abs_change == 0.0
    assert report.row("woke").mean_abs_change == math.inf
    assert report.flagged == ("woke",)
    assert report.row("woke").flags == ("js", "mean-abs-change")
    assert "from 0" in report.breaches[-1]
    assert math.isnan(report.ndcg) and not report.ndcg_breached
    assert report.to_dict()["features"][0]["mean_abs_change"] is None


def test_a_feature_one_side_lacks_is_reported(reference: DatasetSummary) -> None:
    values = _attributions(0)
    current = _summary(
        np.c_[values[:, :2], values[:, 3], values[:, 2]], ("age", "income", "<b>&", "tenure")
    )
    report = compare(reference, current)
    hours, tenure = report.row("hours"), report.row("tenure")
    assert hours.present == "reference" and hours.flags == ("absent-from-current",)
    assert tenure.present == "current" and tenure.flags == ("new-in-current",)
    assert math.isnan(hours.js) and hours.rank_current is None and hours.count_current == 0
    assert tenure.rank_reference is None and tenure.rank_current == 3
    assert set(report.flagged) == {"hours", "tenure"}
    assert [row.name for row in report.rows][:2] == ["hours", "tenure"]
    assert "feature 'hours': absent from the current summary" in report.breaches[-2]
    # nDCG over current order income, age, tenure, <b>&: tenure has relevance 0.
    relevance = {n: reference.features.mean_abs[reference.features.index(n)] for n in NAMES}
    gains = [relevance["income"], relevance["age"], 0.0, relevance["<b>&"]]
    ideal = sorted(relevance.values(), reverse=True)
    discount = [math.log2(r + 1) for r in range(1, 5)]
    expected = sum(g / d for g, d in zip(gains, discount, strict=True)) / sum(
        g / d for g, d in zip(ideal, discount, strict=True)
    )
    assert report.ndcg == pytest.approx(expected, rel=1e-12)


# --- thresholds ------------------------------------------------------------------------------


def test_threshold_defaults_and_parsing() -> None:
    assert DriftThresholds() == DriftThresholds(js=0.1, mean_abs_change=0.5, ndcg=0.9)
    parsed = DriftThresholds.parse(
        ["js=0.2", "mean-abs-change=1", "ndcg=0.8", "feature:age=0.05", "feature:sex=Male=0.01"]
    )
    assert (parsed.js, parsed.mean_abs_change, parsed.ndcg) == (0.2, 1.0, 0.8)
    assert dict(parsed.per_feature) == {"age": 0.05, "sex=Male": 0.01}
    assert parsed.js_for("age") == 0.05 and parsed.js_for("income") == 0.2
    assert DriftThresholds.parse(["mean_abs_change=0.25", "js=0.3", "js=0.05"]).js == 0.05
    assert DriftThresholds.parse([], base=parsed) == parsed


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("js", "expected KEY=VALUE"),
        ("=0.1", "expected KEY=VALUE"),
        ("jsd=0.1", "unknown key 'jsd'"),
        ("js=high", "'high' is not a number"),
        ("js=1.5", r"must be in \[0, 1\]"),
        ("ndcg=-0.1", r"must be in \[0, 1\]"),
        ("mean-abs-change=-1", "must be >= 0"),
        ("mean-abs-change=inf", "must be >= 0"),
        ("feature:=0.1", "needs a feature name"),
        ("feature:age=2", r"must be in \[0, 1\]"),
    ],
)
def test_malformed_thresholds_are_refused(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DriftThresholds.parse([spec])


def test_a_per_feature_threshold_overrides_the_common_one(reference: DatasetSummary) -> None:
    current = _summary(_scaled(_attributions(0), 1, 1.3))
    plain = compare(reference, current)
    income = plain.row("income")
    assert 0.01 < income.js < 0.1 and income.mean_abs_change == pytest.approx(0.3, rel=1e-12)
    assert plain.ok
    strict = compare(reference, current, thresholds=DriftThresholds.parse(["feature:income=0.01"]))
    assert strict.flagged == ("income",) and strict.row("income").flags == ("js",)
    assert strict.row("income").js_threshold == 0.01 and strict.row("age").js_threshold == 0.1
    assert strict.breaches == (
        f"feature 'income': JS divergence {income.js:.4f} > 0.01 (its own threshold)",
    )
    # A looser threshold of its own lifts the JS flag of a ×3 column; its mean |a| still flags.
    tripled = _summary(_scaled(_attributions(0), 1, 3.0))
    loose = compare(reference, tripled, thresholds=DriftThresholds(per_feature={"income": 0.9}))
    assert loose.row("income").flags == ("mean-abs-change",)


def test_a_per_feature_threshold_for_an_unknown_feature_is_refused(
    reference: DatasetSummary,
) -> None:
    with pytest.raises(KeyError, match="'agee'"):
        compare(reference, reference, thresholds=DriftThresholds(per_feature={"agee": 0.1}))


# --- groups, compatibility, inputs -----------------------------------------------------------


def test_a_cohort_and_a_class_are_compared() -> None:
    a, b = _attributions(0), _attributions(1)
    shifted = _scaled(b, 0, 3.0)
    ref = _summary(a, cohorts={"sex=Male": FeatureSummary.of_matrix(NAMES, a[:500])})
    ref.classes = {"1": FeatureSummary.of_matrix(NAMES, a[500:])}
    cur = _summary(b, cohorts={"sex=Male": FeatureSummary.of_matrix(NAMES, shifted[:500])})
    cur.classes = {"1": FeatureSummary.of_matrix(NAMES, b[500:])}
    cohort = compare(ref, cur, group="cohort:sex=Male")
    assert cohort.flagged == ("age",) and cohort.group == "cohort:sex=Male"
    assert cohort.reference.observations == 500
    assert compare(ref, cur, group="class:1").ok
    assert compare(ref, cur).ok


def test_an_unknown_group_is_refused(reference: DatasetSummary) -> None:
    with pytest.raises(KeyError, match=r"no cohort 'x' in the reference summary \(cohorts: none\)"):
        compare(reference, reference, group="cohort:x")
    with pytest.raises(ValueError, match="'cohort:NAME' or 'class:LABEL'"):
        compare(reference, reference, group="sex=Male")
    assert parse_group("class:a:b") == ("class", "a:b")
    assert select_group(reference, None) is reference.features


@pytest.mark.parametrize("key", ["task", "feature_kind"])
def test_summaries_of_different_kinds_are_refused(key: str, reference: DatasetSummary) -> None:
    other = _summary(_attributions(1), metadata={**reference.metadata, key: "text"})
    with pytest.raises(ValueError, match=f"different {key.replace('_', ' ')}s"):
        compare(reference, other)


def test_a_side_without_attributions_is_refused(reference: DatasetSummary) -> None:
    empty = DatasetSummary(examples=3, failed=3, metadata=dict(reference.metadata))
    with pytest.raises(ValueError, match="current summary has no attributions"):
        compare(reference, empty)


@pytest.mark.parametrize(("option", "value"), [("bins", 0), ("top_k", 0), ("bins", 2.5)])
def test_bad_options_are_refused(option: str, value: object, reference: DatasetSummary) -> None:
    with pytest.raises(ValueError, match=option):
        compare(reference, reference, **{option: value})


def test_summaries_are_read_from_directories_and_files(
    tmp_path: Path, reference: DatasetSummary
) -> None:
    job = tmp_path / "job"
    job.mkdir()
    reference.save(job)
    report = compare(job, job / "summary.json")
    assert report.ok and report.reference.source == str(job)
    assert report.current.source == str(job / "summary.json")
    assert load_summary(job).examples == ROWS


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (None, FileNotFoundError, "no such file or directory"),
        ("dir", FileNotFoundError, "has no summary.json"),
        ("{not json", ValueError, "is not JSON"),
        ("[1, 2]", ValueError, "not a JSON object"),
        ('{"format": "other"}', ValueError, "not an intgrad dataset summary"),
        ('{"format": "intgrad-dataset-summary/1"}', ValueError, "without the field 'examples'"),
    ],
)
def test_unreadable_summaries_are_refused(tmp_path: Path, content, error, match) -> None:
    path = tmp_path / "summary.json"
    if content == "dir":
        path = tmp_path / "empty"
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=match):
        load_summary(path)


# --- outputs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drifted(reference: DatasetSummary) -> DriftReport:
    values = _attributions(0)
    current = _summary(
        np.c_[_scaled(values, 1, 3.0)[:, :3], values[:, 0]], ("age", "income", "hours", "new")
    )
    return compare(reference, current, thresholds=DriftThresholds.parse(["feature:age=0.2"]))


def _strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"JSON has {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_json_report(tmp_path: Path, drifted: DriftReport) -> None:
    path = drifted.save_json(tmp_path / "drift.json")
    data = _strict_json(path.read_text(encoding="utf-8"))
    assert data["format"] == DRIFT_FORMAT and data["ok"] is False
    assert data["flagged"] == ["new", "<b>&", "income"]
    assert data["breaches"] == list(drifted.breaches)
    assert data["thresholds"]["per_feature"] == {"age": 0.2}
    rows = {row["name"]: row for row in data["features"]}
    assert rows["<b>&"]["js"] is None and rows["<b>&"]["rank_current"] is None
    assert rows["<b>&"]["present"] == "reference"
    assert rows["income"]["mean_abs_change"] == pytest.approx(2.0, rel=1e-12)
    assert data["reference"]["metadata"] == {"task": "tabular", "feature_kind": "columns"}
    assert data["reference"]["examples"] == ROWS
    assert not list(tmp_path.glob(".*.tmp*"))


class _Page(HTMLParser):
    """Collects tags, attributes and text; checks that every opened element is closed."""

    VOID = frozenset({"meta", "br", "img", "rect", "line", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data) -> None:
        self.text.append(data)


def test_the_html_report(tmp_path: Path, drifted: DriftReport) -> None:
    path = drifted.save_html(tmp_path / "drift.html")
    page = path.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.open == []
    tags = [tag for tag, _ in parser.tags]
    assert "script" not in tags and "svg" in tags and "style" in tags
    links = [v for _, attrs in parser.tags for k, v in attrs.items() if k in ("src", "href")]
    assert links == []
    assert "<b>&" not in page and "&lt;b&gt;&amp;" in page
    text = "".join(parser.text)
    assert "<b>&" in text  # the escaped name reads back as itself
    flagged_rows = [
        attrs for tag, attrs in parser.tags if tag == "tr" and attrs.get("class") == "flagged"
    ]
    assert len(flagged_rows) == len(drifted.flagged) == 3
    assert "Drift detected: 3 of 5 features flagged" in text
    assert "threshold 0.9" in text
    # The method says what jensen_shannon does: bins at the quantiles of both sketches pooled.
    assert "quantiles of the reference and current attributions pooled" in text
    assert "the reference's quantiles" not in text
    bars = [attrs for tag, attrs in parser.tags if tag == "rect"]
    assert len(bars) == 2 * len(drifted.rows)


def test_the_html_report_without_drift(reference: DatasetSummary) -> None:
    page = compare(reference, reference).to_html(max_rows=2, chart_features=3)
    assert "No drift" in page and 'class="flagged"' not in page
    assert "2 more features are not shown;" in page
    assert page.count("<rect") == 6


def test_to_frame(drifted: DriftReport) -> None:
    pd = pytest.importorskip("pandas")
    frame = drifted.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [row.name for row in drifted.rows]
    assert frame.loc["income", "mean_abs_change"] == pytest.approx(2.0, rel=1e-12)
    assert frame["flagged"].sum() == 3
    assert pd.isna(frame.loc["<b>&", "rank_current"])
    assert frame.loc["income", "rank_reference"] == 1


def test_the_html_table_keeps_flagged_rows_past_max_rows(drifted: DriftReport) -> None:
    parser = _Page()
    parser.feed(drifted.to_html(max_rows=1))
    rows = [attrs for tag, attrs in parser.tags if tag == "tr"]
    # The header, the first row, one more flagged row; the summaries' table follows.
    assert [attrs.get("class") for attrs in rows[:3]] == [None, "flagged", "flagged"]
    assert "3 more features are not shown, 1 of them flagged" in "".join(parser.text)


def test_rare_features_are_reported_but_not_flagged_under_min_count() -> None:
    from intgrad.datasets.summary import FeatureSummary as Features

    words = ["film", "rare"]
    reference = Features.of_pairs(
        words, np.array([0] * 50 + [1] * 3), np.r_[np.full(50, 0.1), np.full(3, 0.1)]
    )
    current = Features.of_pairs(
        words, np.array([0] * 50 + [1] * 3), np.r_[np.full(50, 0.1), np.full(3, -0.9)]
    )
    ref = DatasetSummary(examples=50, features=reference, metadata={"feature_kind": "tokens"})
    cur = DatasetSummary(examples=50, features=current, metadata={"feature_kind": "tokens"})
    assert compare(ref, cur).flagged == ("rare",)
    strict = compare(ref, cur, thresholds=DriftThresholds.parse(["min-count=30"]))
    assert strict.flagged == () and strict.ok
    assert strict.row("rare").js == pytest.approx(1.0)
    assert strict.thresholds.to_dict()["min_count"] == 30
    with pytest.raises(ValueError, match="whole number"):
        DriftThresholds.parse(["min-count=2.5"])
