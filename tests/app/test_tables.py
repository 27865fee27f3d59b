"""The Tables view over HTTP: its numbers are the library's, the what-if compares two results,
and bad uploads or fields get a one-line 400 while the app keeps serving."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("torch")

from intgrad.tabular import TabularExplainer, load_adult  # noqa: E402

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def explainer() -> TabularExplainer:
    """The library called directly (shares the trained model with the app's session)."""
    return TabularExplainer("adult-mlp")


@pytest.fixture(scope="module")
def adult() -> Any:
    return load_adult("test")


def fields(values: Any, columns: tuple[str, ...], **settings: str) -> dict[str, str]:
    """The explain form's fields for a row (a Series), with settings (steps=8 by default)."""
    data = {f"feature.{column}": str(values[column]) for column in columns}
    return data | {"model": "adult-mlp", "steps": "8", "baseline": "median"} | settings


class FormReader(HTMLParser):
    """The values of a page's form fields: inputs by value, selects by their selected option."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.values[str(found["name"])] = str(found.get("value") or "")
        elif tag == "select":
            self._select = found.get("name")
        elif tag == "option" and self._select and "selected" in found:
            self.values[self._select] = str(found.get("value"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_values(html: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(html)
    return reader.values


def data_values(html: str, testid: str) -> dict[str, float]:
    """``data-feature`` → ``data-value`` of the elements with that ``data-testid``."""
    pattern = rf'data-testid="{testid}" data-feature="([^"]+)" data-value="([^"]*)"'
    return {name: float(value) for name, value in re.findall(pattern, html)}


def assert_matches(exported: dict[str, Any], expected: Any) -> None:
    """The app's JSON export equals a one-row library explanation's numbers."""
    row = expected.summary()["rows"][0]
    attributions = expected.attributions.iloc[0]
    assert set(exported["attributions"]) == set(attributions.index)
    for column, value in attributions.items():
        assert exported["attributions"][column] == pytest.approx(value, abs=TOLERANCE)
    assert exported["delta"] == pytest.approx(row["delta"], abs=TOLERANCE)
    assert exported["f_input"] == pytest.approx(row["f_input"], abs=TOLERANCE)
    assert exported["f_baseline"] == pytest.approx(row["f_baseline"], abs=TOLERANCE)
    for label, probability in row["probabilities"].items():
        assert exported["probabilities"][label] == pytest.approx(probability, abs=TOLERANCE)
    assert exported["target"] == row["target_label"]
    assert exported["settings"]["steps_used"] == expected.steps


def test_form_shows_the_adult_row(client: Any, explainer: TabularExplainer, adult: Any) -> None:
    answer = client.get("/tables?row=3")
    assert answer.status_code == 200
    values = form_values(answer.text)
    for column in explainer.schema.columns:
        assert values[f"feature.{column}"] == str(adult.iloc[3][column]), column
    assert values["row"] == "3"
    assert 'data-testid="row-form"' in answer.text


@pytest.mark.parametrize(
    ("row", "settings", "library"),
    [
        (3, {}, {"baseline": "median"}),
        (
            7,
            {"baseline": "sample", "samples": "4", "target": ">50K"},
            {"baseline": "sample:4", "target": ">50K"},
        ),
        (1, {"baseline": "zeros", "steps": "auto"}, {"baseline": "zeros", "steps": "auto"}),
    ],
)
def test_explanation_is_the_librarys(
    client: Any,
    explainer: TabularExplainer,
    adult: Any,
    row: int,
    settings: dict[str, str],
    library: dict[str, Any],
) -> None:
    columns = explainer.schema.columns
    job_id = client.submit("/tables/explain", data=fields(adult.iloc[row], columns, **settings))
    assert client.wait(job_id)["state"] == "done"
    exported = client.get(f"/jobs/{job_id}/export.json").json()
    expected = explainer.explain(adult.iloc[[row]], **({"steps": 8} | library))
    assert_matches(exported, expected)
    assert exported["what_if"] is None
    if "sample" in library["baseline"]:
        assert expected.standard_error is not None
        for column, error in expected.standard_error.iloc[0].items():
            assert exported["standard_error"][column] == pytest.approx(error, abs=TOLERANCE)
    page = client.get(f"/jobs/{job_id}").text
    bars = data_values(page, "attribution")
    for column, value in expected.attributions.iloc[0].items():
        assert bars[column] == pytest.approx(value, abs=TOLERANCE)
    delta = re.search(r'data-testid="delta" data-value="([^"]+)"', page)
    assert delta and float(delta.group(1)) == pytest.approx(exported["delta"], abs=1e-12)
    prefilled = form_values(page)  # the what-if form: this row, this job as the previous one
    assert prefilled["previous"] == job_id
    assert prefilled["feature.occupation"] == adult.iloc[row]["occupation"]


def test_exports_are_self_contained(client: Any, explainer: TabularExplainer, adult: Any) -> None:
    job_id = client.submit("/tables/explain", data=fields(adult.iloc[4], explainer.schema.columns))
    assert client.wait(job_id)["state"] == "done"
    exported = client.get(f"/jobs/{job_id}/export.html")
    assert exported.status_code == 200
    page = exported.text
    assert "<svg" in page and 'data-testid="attribution"' in page
    assert "<script" not in page and "<link" not in page and 'src="http' not in page
    assert "<form" not in page
    picture = client.get(f"/jobs/{job_id}/pictures/attributions.png")
    assert picture.status_code == 200 and picture.content[:8] == b"\x89PNG\r\n\x1a\n"
    data = client.get(f"/jobs/{job_id}/export.json").json()
    assert data["row"]["occupation"] == adult.iloc[4]["occupation"]
    assert data["settings"] == {
        "target": "predicted",
        "baseline": "median",
        "baseline_description": "median",
        "steps": 8,
        "steps_used": 8,
        "method": data["settings"]["method"],
        "seed": 0,
    }
    total = sum(data["attributions"].values())
    assert total == pytest.approx(data["attribution_sum"], abs=1e-9)
    assert data["delta"] == pytest.approx(total - (data["f_input"] - data["f_baseline"]), abs=1e-6)


def test_what_if_compares_with_the_previous_result(
    client: Any, explainer: TabularExplainer, adult: Any
) -> None:
    columns = explainer.schema.columns
    original = adult.iloc[2].copy()
    first = client.submit("/tables/explain", data=fields(original, columns, row="2"))
    assert client.wait(first)["state"] == "done"
    changed = original.copy()
    changed["hours_per_week"], changed["education_num"] = 60, 14
    second = client.submit(
        "/tables/explain", data=fields(changed, columns, row="2", previous=first)
    )
    assert client.wait(second)["state"] == "done"
    exported = client.get(f"/jobs/{second}/export.json").json()

    before = explainer.predict(original.to_frame().T).iloc[0]
    after = explainer.predict(changed.to_frame().T).iloc[0]
    assert abs(after[">50K"] - before[">50K"]) > 0.05  # the edit moves the prediction
    assert_matches(exported, explainer.explain(changed.to_frame().T, steps=8))
    assert exported["source"] == "Adult test row 2, edited: education_num, hours_per_week"
    what_if = exported["what_if"]
    assert what_if["previous_job"] == first
    assert what_if["changed_values"] == {
        "education_num": {"previous": 12, "current": 14},
        "hours_per_week": {"previous": 40, "current": 60},
    }
    for label in explainer.model.labels:
        assert what_if["previous_probabilities"][label] == pytest.approx(before[label], abs=1e-6)
        change = what_if["probability_change"][label]
        assert change == pytest.approx(after[label] - before[label], abs=1e-6)
    previous = explainer.explain(original.to_frame().T, steps=8).attributions.iloc[0]
    for column in columns:
        assert what_if["previous_attributions"][column] == pytest.approx(previous[column], abs=1e-6)
        expected = exported["attributions"][column] - previous[column]
        assert what_if["attribution_change"][column] == pytest.approx(expected, abs=1e-6)

    page = client.get(f"/jobs/{second}").text
    assert 'data-testid="what-if"' in page and f'data-previous-job="{first}"' in page
    assert (
        'data-testid="what-if-change" data-feature="hours_per_week" data-previous="40" '
        'data-current="60"'
    ) in page
    assert 'data-testid="attribution-previous"' in page  # the bars show where they were


def test_an_unknown_previous_job_is_no_comparison(
    client: Any, explainer: TabularExplainer, adult: Any
) -> None:
    data = fields(adult.iloc[0], explainer.schema.columns, previous="no-such-job")
    job_id = client.submit("/tables/explain", data=data)
    assert client.wait(job_id)["state"] == "done"
    assert client.get(f"/jobs/{job_id}/export.json").json()["what_if"] is None
    assert "no longer kept" in client.get(f"/jobs/{job_id}").text


def csv_bytes(frame: Any) -> bytes:
    return str(frame.to_csv(index=False)).encode("utf-8")


def test_an_uploaded_csv_row_is_explained(
    client: Any, explainer: TabularExplainer, adult: Any
) -> None:
    rows = adult.iloc[10:13].reset_index(drop=True)
    rows.loc[2, "age"] = 61
    sent = rows.rename(columns={"hours_per_week": "hours-per-week"})  # UCI's spelling reads too
    answer = client.post(
        "/tables/upload",
        files={"csv": ("people.csv", csv_bytes(sent), "text/csv")},
        data={"model": "adult-mlp"},
    )
    assert answer.status_code == 303, answer.text[:300]
    location = answer.headers["location"]
    assert location.startswith("/tables?") and "upload=" in location
    shown = client.get(location.replace("row=0", "row=2"))
    assert shown.status_code == 200
    assert 'data-testid="upload-rows"' in shown.text and "people.csv" in shown.text
    values = form_values(shown.text)
    assert values["feature.age"] == "61" and values["row"] == "2"
    data = {key: value for key, value in values.items() if key not in ("samples", "tolerance")}
    job_id = client.submit("/tables/explain", data=data | {"steps": "8"})
    assert client.wait(job_id)["state"] == "done"
    exported = client.get(f"/jobs/{job_id}/export.json").json()
    assert exported["source"] == "row 2 of 'people.csv'"
    assert_matches(exported, explainer.explain(rows.iloc[[2]], steps=8))


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (
            b"foo,bar\n1,2\n",
            "header row names none of the model's columns (is the header row missing?)",
        ),
        (None, "the CSV lacks columns: age, workclass"),
        (b"", "is empty"),
        (np.random.default_rng(0).bytes(4096), "the upload is not a CSV file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "the upload is not a CSV file"),
        (b'age,workclass\n"unterminated,1\n', "the CSV"),
    ],
)
def test_a_bad_csv_is_one_line_and_the_app_serves_on(
    client: Any, adult: Any, csv: bytes | None, message: str
) -> None:
    if csv is None:
        csv = csv_bytes(adult.head(3).drop(columns=["age", "workclass"]))
    answer = client.post(
        "/tables/upload", files={"csv": ("bad.csv", csv, "text/csv")}, data={"model": "adult-mlp"}
    )
    assert answer.status_code == 400
    error = re.search(r'data-testid="error">([^<]*)<', answer.text)
    assert error and message in error.group(1).replace("&#x27;", "'"), error
    assert "\n" not in error.group(1) and "Traceback" not in answer.text
    assert client.get("/tables?row=1").status_code == 200


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("occupation", "Astronaut", "column &#x27;occupation&#x27;: unknown category"),
        ("age", "forty", "column &#x27;age&#x27;: expected a number"),
        ("hours_per_week", "inf", "column &#x27;hours_per_week&#x27;: expected a finite number"),
        ("age", "", "column &#x27;age&#x27;: a number is required"),
    ],
)
def test_a_bad_value_names_its_column(
    client: Any, explainer: TabularExplainer, adult: Any, column: str, value: str, message: str
) -> None:
    data = fields(adult.iloc[0], explainer.schema.columns) | {f"feature.{column}": value}
    answer = client.post("/tables/explain", data=data)
    assert answer.status_code == 400 and message in answer.text


def test_bad_settings_and_rows_are_refused(
    client: Any, explainer: TabularExplainer, adult: Any
) -> None:
    base = fields(adult.iloc[0], explainer.schema.columns)
    for change in ({"target": "rich"}, {"baseline": "random"}, {"steps": "1"}, {"samples": "1"}):
        assert client.post("/tables/explain", data=base | change).status_code == 400, change
    missing = {key: value for key, value in base.items() if key != "feature.sex"}
    answer = client.post("/tables/explain", data=missing)
    assert answer.status_code == 400 and "column &#x27;sex&#x27;: no value given" in answer.text
    assert client.get("/tables?row=99999999").status_code == 400
    assert client.get("/tables?row=-1").status_code == 400
    assert client.get("/tables?upload=../../etc/passwd").status_code == 400
    assert client.get("/tables?upload=unknowntoken").status_code == 400
    assert client.get("/tables").status_code == 200


def test_user_text_is_never_raw_in_a_page(
    client: Any, explainer: TabularExplainer, adult: Any
) -> None:
    script = "<script>alert(1)</script>"
    data = fields(adult.iloc[0], explainer.schema.columns) | {"feature.occupation": script}
    answer = client.post("/tables/explain", data=data)
    assert answer.status_code == 400
    assert script not in answer.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text

    rows = adult.head(2).copy()
    rows.loc[1, "occupation"] = script
    sent = client.post(
        "/tables/upload",
        files={"csv": (f"{script}.csv", csv_bytes(rows), "text/csv")},
        data={"model": "adult-mlp"},
    )
    assert sent.status_code == 303
    page = client.get(sent.headers["location"].replace("row=0", "row=1"))
    assert page.status_code == 200
    assert script not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "unknown category" in page.text  # the row's problem is shown before explaining


def test_an_uploaded_row_with_a_missing_value_is_shown_and_refused(client: Any, adult: Any) -> None:
    rows = adult.head(2).copy()
    rows["age"] = rows["age"].astype(float)
    rows.loc[0, "age"] = float("nan")
    sent = client.post(
        "/tables/upload",
        files={"csv": ("gaps.csv", csv_bytes(rows), "text/csv")},
        data={"model": "adult-mlp"},
    )
    assert sent.status_code == 303
    page = client.get(sent.headers["location"])
    assert page.status_code == 200 and "has a missing value" in page.text
    values = form_values(page.text)
    assert values["feature.age"] == ""
    answer = client.post("/tables/explain", data=values)
    assert (
        answer.status_code == 400 and "column &#x27;age&#x27;: a number is required" in answer.text
    )
