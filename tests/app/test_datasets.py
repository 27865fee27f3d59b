"""The datasets and drift view, over HTTP, against the library's own numbers.

Real summaries are made once per module with the CLI's commands (``intgrad tabular adult``,
``intgrad tabular explain``, ``intgrad dataset``), in process: 300 Adult test rows, the same
number re-sampled towards older people, three short texts. The app is served with their
folder as its summary folder; every value it shows or exports is compared with
:class:`intgrad.datasets.DatasetSummary` and :func:`intgrad.datasets.compare` called directly.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyarrow", reason="dataset jobs need the 'datasets' extra")

from intgrad.app import AppConfig, ModelRegistry, RunningApp, create_app, serve
from intgrad.datasets import (
    DatasetSummary,
    DriftReport,
    DriftThresholds,
    FeatureSummary,
    compare,
)
from intgrad.datasets.drift import select_group
from tests.app.conftest import Client

ROWS = 300
STEPS = "8"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TEXTS = ("a wonderful, moving film", "terrible acting and a dull plot", "I liked it a lot")


def write_summaries(root: Path, rows: int = ROWS, text: bool = True) -> Path:
    """Dataset jobs under ``root``: ``ref`` and ``cur`` (Adult rows, the second re-sampled by
    age, cohorts by sex), and with ``text`` a ``text`` job (three short texts)."""
    from intgrad.cli import main

    common = ["--steps", STEPS, "--cohort", "sex", "--no-plots", "--quiet"]
    for name, extra in (("ref", []), ("cur", ["--resample-by", "age", "--seed", "1"])):
        csv = root / f"{name}.csv"
        adult = ["tabular", "adult", "--split", "test", "--rows", str(rows)]
        assert main([*adult, *extra, "--output", str(csv)]) == 0
        assert (
            main(["tabular", "explain", str(csv), "--output-dir", str(root / name), *common]) == 0
        )
    if text:
        texts = root / "texts.txt"
        texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
        job = ["dataset", str(texts), "--kind", "text", "--output-dir", str(root / "text")]
        assert main([*job, "--steps", STEPS, "--no-plots", "--quiet"]) == 0
    return root


class Elements(HTMLParser):
    """Every element's attributes by ``data-testid`` (attribute values unescaped)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: dict[str, list[dict[str, str]]] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if "data-testid" in values:
            self.found.setdefault(values["data-testid"], []).append(values)

    def all(self, testid: str) -> list[dict[str, str]]:
        return self.found.get(testid, [])


@pytest.fixture(scope="module")
def summaries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_summaries(tmp_path_factory.mktemp("summaries"))
    nested = root / "runs" / "older"
    nested.mkdir(parents=True)
    (nested / "summary.json").write_bytes((root / "cur" / "summary.json").read_bytes())
    (root / "broken").mkdir()
    (root / "broken" / "summary.json").write_text('{"format": "intgrad-dataset-', "utf-8")
    # A valid summary outside the served folder: a path that escaped it would open it.
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir()
    (outside / "summary.json").write_bytes((root / "ref" / "summary.json").read_bytes())
    return root


@pytest.fixture(scope="module")
def served(summaries: Path) -> Iterator[RunningApp]:
    config = AppConfig(summary_dirs=(summaries,), workers=2, max_upload_bytes=2 * 1024 * 1024)
    running = serve(create_app(ModelRegistry.embedded(), config), "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http(served: RunningApp) -> Client:
    return Client(served)


def _named(report: DriftReport, reference: str, current: str) -> DriftReport:
    """``report`` with the sides' sources as the app names them (not paths, not "")."""
    return replace(
        report,
        reference=replace(report.reference, source=reference),
        current=replace(report.current, source=current),
    )


def _load(summaries: Path, name: str) -> DatasetSummary:
    return DatasetSummary.load(summaries / name)


def _alert(text: str) -> str:
    found = Elements(text)
    assert found.all("error"), text[:500]
    start = text.index('data-testid="error">') + len('data-testid="error">')
    return html.unescape(text[start : text.index("</div>", start)])


def _expected_features(
    summary: DatasetSummary, group: str | None, top: int, least: int
) -> tuple[list[tuple[str, int]], FeatureSummary]:
    features = select_group(summary, group)
    names = [n for n in features.ranking() if features.count[features.index(n)] >= least][:top]
    return [(n, features.index(n)) for n in names], features


def _check_features(exported: dict[str, Any], summary: DatasetSummary, group: str | None) -> None:
    top, least = 20, exported["min_count"]
    expected, features = _expected_features(summary, group, top, least)
    assert [row["name"] for row in exported["features"]] == [n for n, _ in expected]
    low, high = features.confidence_interval(0.95)
    for row, (_, i) in zip(exported["features"], expected, strict=True):
        assert row["count"] == int(features.count[i])
        assert row["mean_abs"] == float(features.mean_abs[i])
        assert row["mean"] == float(features.mean[i])
        assert row["standard_error"] == float(features.standard_error[i])
        assert (row["ci_low"], row["ci_high"]) == (float(low[i]), float(high[i]))
        for q in QUANTILES:
            assert row["quantiles"][repr(q)] == float(features.quantiles(q)[i])


def test_the_page_lists_the_server_summaries_by_name(http: Client) -> None:
    answer = http.get("/datasets")
    assert answer.status_code == 200
    found = Elements(answer.text)
    names = [item["data-name"] for item in found.all("summary-choice")]
    assert names == ["broken", "cur", "ref", "text", "runs/older"]
    assert found.all("summary-upload") and found.all("compare-summaries")
    assert "outside" not in answer.text and str(Path.cwd()) not in answer.text


def test_an_opened_summary_shows_the_library_numbers(http: Client, summaries: Path) -> None:
    job_id = http.submit("/datasets/open", data={"summary": "ref"})
    assert http.wait(job_id)["state"] == "done"
    exported = http.get(f"/jobs/{job_id}/export.json").json()
    summary = _load(summaries, "ref")
    assert exported["examples"] == summary.examples == ROWS
    assert (exported["explained"], exported["failed"]) == (summary.explained, summary.failed)
    assert exported["mean_abs_delta"] == summary.mean_abs_delta()
    assert exported["min_count"] == 1 and exported["group"] is None
    _check_features(exported, summary, None)
    assert exported["groups"] == [
        "cohort:sex=Male",
        "cohort:sex=Female",
        "class:<=50K",
        "class:>50K",
    ]
    assert exported["pictures"] == [
        "beeswarm.png",
        "cohorts.png",
        "dependence.png",
        "importance.png",
    ]
    assert exported["notes"] == []

    page = Elements(http.get(f"/jobs/{job_id}").text)
    rows = page.all("feature-row")
    assert [row["data-feature"] for row in rows] == list(summary.features.ranking()[:20])
    for row in rows:
        i = summary.features.index(row["data-feature"])
        assert float(row["data-value"]) == float(summary.features.mean_abs[i])
    assert float(page.all("mean-abs-delta")[0]["data-value"]) == summary.mean_abs_delta()
    assert int(page.all("explained")[0]["data-value"]) == summary.explained
    assert page.all("group-choice")  # the summary has cohorts and classes to choose from
    for name in ("importance", "cohorts", "beeswarm", "dependence"):
        assert page.all(f"picture-{name}"), name
        picture = http.get(f"/jobs/{job_id}/pictures/{name}.png")
        assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG\r\n\x1a\n")
    standalone = http.get(f"/jobs/{job_id}/export.html").text
    assert standalone.count('src="data:image/png;base64,') == 4
    assert "<script" not in standalone and "/datasets/open" not in standalone


def _pixels(png: bytes) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.float64)


def test_a_table_job_folder_adds_its_beeswarm_and_dependence_plots(
    http: Client, summaries: Path
) -> None:
    from intgrad.datasets import DatasetResult
    from intgrad.viz import BeeswarmDisplay, DependenceDisplay, figure_bytes

    job_id = http.submit("/datasets/open", data={"summary": "ref"})
    assert http.wait(job_id)["state"] == "done"
    job = DatasetResult.open(summaries / "ref")
    attributions, values = job.attributions(), job.values()
    assert attributions.shape == (ROWS, 12)
    top = job.summary.features.ranking()[0]
    expected = {
        "beeswarm": BeeswarmDisplay.from_frames(attributions, values, 15),
        "dependence": DependenceDisplay.from_frames(attributions, values, top),
    }
    for name, display in expected.items():
        served = _pixels(http.get(f"/jobs/{job_id}/pictures/{name}.png").content)
        height, width, _ = served.shape
        assert height > 200 and width > 300, served.shape
        # Not blank: many distinct colours (the points are coloured by value), real spread.
        assert served.std() > 20 and len(set(map(tuple, served.reshape(-1, 3)))) > 50, name
        library = _pixels(figure_bytes(display.plot().figure_))
        assert served.shape == library.shape and (served == library).all(), name


@pytest.mark.parametrize(
    ("data", "note"),
    [
        (
            {"summary": "runs/older"},
            "the job folder keeps no per-row attributions (no shards next to the summary)",
        ),
        ({"summary": "ref", "group": "class:>50K"}, "drawn for all examples only"),
    ],
    ids=["a-summary-alone", "a-group"],
)
def test_without_per_row_plots_a_note_says_why(
    http: Client, data: dict[str, str], note: str
) -> None:
    exported = http.result("/datasets/open", data=data)
    assert exported["pictures"] == ["cohorts.png", "importance.png"]
    assert exported["notes"] == [f"beeswarm, dependence: {note}"]


@pytest.mark.parametrize("group", ["cohort:sex=Female", "class:>50K"])
def test_a_cohort_or_class_shows_its_own_numbers(http: Client, summaries: Path, group: str) -> None:
    exported = http.result("/datasets/open", data={"summary": "ref", "group": group})
    assert exported["group"] == group
    _check_features(exported, _load(summaries, "ref"), group)


def test_a_text_summary_ranks_tokens_as_the_cli_plots_them(http: Client, summaries: Path) -> None:
    exported = http.result("/datasets/open", data={"summary": "text", "top": "5"})
    summary = _load(summaries, "text")
    least = 5 if int(summary.features.count.max()) >= 5 else 1
    assert exported["min_count"] == least
    expected, _ = _expected_features(summary, None, 5, least)
    assert [row["name"] for row in exported["features"]] == [n for n, _ in expected]
    assert exported["pictures"] == ["importance.png"]  # no cohorts
    assert exported["metadata"]["feature_kind"] == "tokens"


@pytest.mark.parametrize("js", [None, "0.2"])
def test_drift_equals_compare_of_the_same_files(
    http: Client, summaries: Path, js: str | None
) -> None:
    data = {"reference": "ref", "current": "cur", **({"js": js} if js else {})}
    job_id = http.submit("/datasets/drift", data=data)
    assert http.wait(job_id)["state"] == "done"
    thresholds = DriftThresholds(js=float(js)) if js else DriftThresholds()
    report = compare(_load(summaries, "ref"), _load(summaries, "cur"), thresholds=thresholds)
    by_path = compare(summaries / "ref", summaries / "cur", thresholds=thresholds).to_dict()
    exported = http.get(f"/jobs/{job_id}/export.json").json()
    assert exported == _named(report, "ref", "cur").to_dict()
    by_path["reference"]["source"], by_path["current"]["source"] = "ref", "cur"
    assert exported == by_path  # the same as from the paths, which are never shown
    assert not report.ok and report.flagged  # 300 rows re-sampled by age do drift

    page = Elements(http.get(f"/jobs/{job_id}").text)
    verdict = page.all("drift-verdict")[0]
    assert verdict["data-verdict"] == ("ok" if report.ok else "breached")
    flagged = [item["data-feature"] for item in page.all("flagged-feature")]
    assert flagged == list(report.flagged)
    frame = page.all("drift-report")[0]
    shown = http.get(f"/jobs/{job_id}/export.html").text
    assert frame["sandbox"] == "" and frame["srcdoc"] == shown
    assert shown == _named(report, "ref", "cur").to_html()
    assert "reference <b>ref</b> → current <b>cur</b>" in shown
    assert str(summaries) not in http.get(f"/jobs/{job_id}").text


def test_a_summary_compared_with_itself_is_ok(http: Client, summaries: Path) -> None:
    data = {"reference": "runs/older", "current": "cur", "group": "cohort:sex=Male"}
    job_id = http.submit("/datasets/drift", data=data)
    assert http.wait(job_id)["state"] == "done"
    report = compare(_load(summaries, "cur"), _load(summaries, "cur"), group="cohort:sex=Male")
    exported = http.get(f"/jobs/{job_id}/export.json").json()
    assert report.ok and exported == _named(report, "runs/older", "cur").to_dict()
    page = Elements(http.get(f"/jobs/{job_id}").text)
    assert page.all("drift-verdict")[0]["data-verdict"] == "ok"
    assert page.all("flagged-feature") == []


def test_summaries_of_different_tasks_fail_with_the_library_message(
    http: Client, summaries: Path
) -> None:
    with pytest.raises(ValueError) as refused:
        compare(_load(summaries, "ref"), _load(summaries, "text"))
    job_id = http.submit("/datasets/drift", data={"reference": "ref", "current": "text"})
    status = http.wait(job_id)
    assert status["state"] == "failed" and status["error"] == str(refused.value)
    assert "different tasks" in status["error"]
    assert str(refused.value) == _alert(http.get(f"/jobs/{job_id}").text)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "ref/../cur",
        "../summaries-outside",
        "nope",
        "ref/summary.json",
        "upload:../../etc/passwd",
        "upload:AAAAAAAAAAAAAAAA",
        "",
    ],
)
def test_a_name_not_listed_is_refused_before_any_file_is_read(
    http: Client, summaries: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    original = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    outside = summaries.parent / f"{summaries.name}-outside"  # holds a valid summary
    for tried in (name, f"../{outside.name}", str(outside), str(outside / "summary.json")):
        for path, field in (("/datasets/open", "summary"), ("/datasets/drift", "current")):
            answer = http.post(path, data={field: tried, "reference": "ref"})
            assert answer.status_code == 400, (tried, answer.status_code)
            message = _alert(answer.text)
            assert message.startswith(f"{field}: ")
            assert any(p in message for p in ("no summary named", "no longer kept", "required"))
    assert read == []
    assert http.get("/datasets").status_code == 200


def test_a_broken_server_summary_fails_without_showing_its_path(
    http: Client, summaries: Path
) -> None:
    job_id = http.submit("/datasets/open", data={"summary": "broken"})
    status = http.wait(job_id)
    assert status["state"] == "failed" and status["error"].startswith("broken: not a dataset")
    assert str(summaries) not in status["error"]


def test_groups_are_checked(http: Client) -> None:
    answer = http.post("/datasets/open", data={"summary": "ref", "group": "sex=Male"})
    assert answer.status_code == 400 and "cohort:NAME" in _alert(answer.text)
    job_id = http.submit("/datasets/open", data={"summary": "ref", "group": "cohort:sex=Other"})
    status = http.wait(job_id)
    assert status["state"] == "failed" and "no cohort 'sex=Other'" in status["error"]
    answer = http.post("/datasets/drift", data={"reference": "ref", "current": "cur", "js": "2"})
    assert answer.status_code == 400 and _alert(answer.text).startswith("js: must be in [0, 1]")


BAD_UPLOADS = {
    "not JSON": (b"summary,of,a,csv\n1,2,3\n", "not JSON"),
    "not UTF-8": (b"\xff\xfe\x00{", "not UTF-8"),
    "a JSON list": (b"[1, 2, 3]", "not a JSON object"),
    "another JSON": (b'{"format": "intgrad-drift-report/1"}', "not an intgrad dataset summary"),
    "a truncated summary": (b'{"format": "intgrad-dataset-summary/1", "examples": 3}', "field"),
    "wrong types": (
        b'{"format": "intgrad-dataset-summary/1", "examples": 1, "failed": 0, "features": 3,'
        b' "outputs": {}, "cohorts": [], "classes": {}}',
        "not a valid dataset summary",
    ),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "not a dataset summary"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_a_bad_upload_is_one_clear_line_and_the_app_keeps_serving(http: Client, case: str) -> None:
    data, expected = BAD_UPLOADS[case]
    answer = http.post("/datasets/upload", files={"file": ("mine<b>.json", data)})
    assert answer.status_code == 400
    message = _alert(answer.text)
    assert message.startswith("mine<b>.json: ") and expected in message
    assert "\n" not in message and "<b>" not in answer.text
    assert http.get("/datasets").status_code == 200


def test_an_empty_or_missing_upload_is_refused(http: Client) -> None:
    answer = http.post("/datasets/upload", files={"file": ("empty.json", b"")})
    assert answer.status_code == 400 and "is empty" in _alert(answer.text)
    answer = http.post("/datasets/upload", data={"keep": "x"})
    assert answer.status_code == 400 and "choose a summary.json" in _alert(answer.text)


def test_an_uploaded_summary_opens_and_compares_like_a_file(http: Client, summaries: Path) -> None:
    data = (summaries / "cur" / "summary.json").read_bytes()
    answer = http.post("/datasets/upload", files={"file": ("current.json", data)})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/datasets?uploaded=")
    token = location.rsplit("=", 1)[1]
    listed = Elements(http.get(location).text).all("summary-choice")
    assert listed[-1]["data-name"] == f"upload:{token}"
    assert "current.json (uploaded)" in http.get(location).text

    exported = http.result("/datasets/open", data={"summary": f"upload:{token}"})
    assert exported["summary"] == "current.json (uploaded)"
    assert exported["pictures"] == ["cohorts.png", "importance.png"]
    assert exported["notes"] == [
        "beeswarm, dependence: an uploaded summary holds no per-row attributions "
        "(open a server-side job)"
    ]
    _check_features(exported, _load(summaries, "cur"), None)
    report = compare(_load(summaries, "ref"), DatasetSummary.from_dict(json.loads(data)))
    drift = http.result("/datasets/drift", data={"reference": "ref", "current": f"upload:{token}"})
    assert drift == _named(report, "ref", "current.json (uploaded)").to_dict()

    again = http.post(
        "/datasets/upload", files={"file": ("ref.json", data)}, data={"keep": [token, "bogus"]}
    )
    kept = again.headers["location"].split("?", 1)[1].split("&")
    assert kept[0] == f"uploaded={token}" and len(kept) == 2


def test_statistics_without_a_value_are_null_in_the_export(http: Client) -> None:
    exported = http.result("/datasets/open", data={"summary": "text", "top": "50"})
    json.dumps(exported, allow_nan=False)
    once = [row for row in exported["features"] if row["count"] < 2]
    assert once, "the three texts have words seen once"
    assert all(row["standard_error"] is None for row in once)
