"""TabularSchema: fitting, encoding and decoding, groups, JSON, and every error path."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from intgrad.tabular.schema import CategoricalColumn, NumericColumn, TabularSchema  # noqa: E402

AGE_STD = math.sqrt(1000 / 6)
SCORE_STD = math.sqrt(17.5 / 6)
NAMES = (
    "age",
    "color=blue",
    "color=green",
    "color=red",
    "member=False",
    "member=True",
    "score",
)


@pytest.fixture
def schema(people: Any) -> TabularSchema:
    return TabularSchema.fit(people, target="label")


def test_fit_types_columns_and_statistics(schema: TabularSchema) -> None:
    assert schema.columns == ("age", "color", "member", "score")
    assert schema.numeric == ("age", "score") and schema.categorical == ("color", "member")
    age, color, member, score = schema.features
    assert isinstance(age, NumericColumn) and isinstance(score, NumericColumn)
    assert (age.mean, age.median) == (40.0, 40.0)
    assert age.std == pytest.approx(AGE_STD, rel=1e-12)
    assert score.std == pytest.approx(SCORE_STD, rel=1e-12)
    assert isinstance(color, CategoricalColumn) and isinstance(member, CategoricalColumn)
    assert color.categories == ("blue", "green", "red")
    assert color.frequencies == pytest.approx((2 / 6, 1 / 6, 3 / 6), abs=1e-15)
    assert color.mode == 2 and member.categories == (False, True) and member.mode == 1
    assert schema.target == "label" and schema.width == 7


def test_layout_names_and_groups(schema: TabularSchema) -> None:
    assert schema.encoded_names == NAMES
    assert schema.groups == {"age": (0,), "color": (1, 2, 3), "member": (4, 5), "score": (6,)}
    matrix = schema.group_matrix()
    assert matrix.shape == (7, 4)
    np.testing.assert_array_equal(matrix.sum(axis=0), [1, 3, 2, 1])
    np.testing.assert_array_equal(matrix.argmax(axis=1), [0, 1, 1, 1, 2, 2, 3])


def test_encode_values(schema: TabularSchema, people: Any) -> None:
    encoded = schema.encode(people)
    assert encoded.shape == (6, 7) and encoded.dtype == np.float32
    np.testing.assert_allclose(encoded[:, 0], (people["age"] - 40) / AGE_STD, rtol=0, atol=1e-6)
    np.testing.assert_allclose(encoded[:, 6], (people["score"] - 4) / SCORE_STD, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(encoded[0, 1:6], [0, 0, 1, 0, 1])  # red, True
    np.testing.assert_array_equal(encoded[3, 1:6], [0, 1, 0, 0, 1])  # green, True
    np.testing.assert_array_equal(encoded[:, 1:4].sum(axis=1), np.ones(6))


def test_decode_inverts_encode(schema: TabularSchema, people: Any) -> None:
    decoded = schema.decode(schema.encode(people))
    np.testing.assert_allclose(decoded["age"], people["age"], atol=1e-4)
    np.testing.assert_allclose(decoded["score"], people["score"], atol=1e-5)
    assert list(decoded["color"]) == list(people["color"])
    assert list(decoded["member"]) == list(people["member"])


def test_decode_empty_group_and_shape(schema: TabularSchema) -> None:
    decoded = schema.decode(np.zeros((1, 7)))
    assert decoded.loc[0, "color"] is None and decoded.loc[0, "age"] == 40.0
    with pytest.raises(ValueError, match=r"expected shape \(rows, 7\), got \(1, 6\)"):
        schema.decode(np.zeros((1, 6)))


def test_json_round_trip(schema: TabularSchema, people: Any) -> None:
    text = json.dumps(schema.to_dict())
    restored = TabularSchema.from_dict(json.loads(text))
    assert restored == schema
    np.testing.assert_array_equal(restored.encode(people), schema.encode(people))


def test_from_dict_refuses_other_data() -> None:
    with pytest.raises(ValueError, match="not a tabular schema"):
        TabularSchema.from_dict({"columns": []})
    base = {"format": "intgrad.tabular.schema", "version": 1}
    with pytest.raises(ValueError, match="unsupported schema version 2"):
        TabularSchema.from_dict({**base, "version": 2})
    with pytest.raises(ValueError, match="malformed schema column"):
        TabularSchema.from_dict({**base, "columns": [{"kind": "numeric", "name": "a"}]})
    with pytest.raises(ValueError, match="column 'a' has an unknown kind 'text'"):
        TabularSchema.from_dict({**base, "columns": [{"kind": "text", "name": "a"}]})


def test_extra_columns_are_ignored_and_order_follows_schema(
    schema: TabularSchema, people: Any
) -> None:
    shuffled = people[["score", "label", "member", "age", "color"]].assign(extra=1)
    np.testing.assert_array_equal(schema.encode(shuffled), schema.encode(people))


def test_numeric_text_is_converted(schema: TabularSchema, people: Any) -> None:
    # What a CSV shard with a stray value reads as: an object column of numbers as text.
    texts = people.assign(age=[str(v) for v in people["age"]])
    np.testing.assert_array_equal(schema.encode(texts), schema.encode(people))


def test_explicit_column_lists(people: Any) -> None:
    schema = TabularSchema.fit(people, target="label", categorical=["age"], numeric=["score"])
    assert schema.columns == ("age", "score")  # naming lists leaves out the others
    assert schema.categorical == ("age",) and schema.features[0].categories == (20, 30, 40, 50, 60)


def test_constant_column_has_unit_scale() -> None:
    schema = TabularSchema.fit(pd.DataFrame({"x": [3.0, 3.0]}))
    assert schema.features[0] == NumericColumn("x", 3.0, 1.0, 3.0)
    np.testing.assert_array_equal(schema.encode(pd.DataFrame({"x": [4.0]})), [[1.0]])


# --- errors ----------------------------------------------------------------------------------


def test_missing_columns_are_all_listed(schema: TabularSchema, people: Any) -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['age', 'member'\] of the schema"):
        schema.encode(people.drop(columns=["age", "member"]))


def test_non_numeric_value_names_row_column_and_value(schema: TabularSchema, people: Any) -> None:
    bad = people.astype({"age": object})
    bad.loc[12, "age"] = "forty"
    with pytest.raises(
        ValueError, match=r"^row 12: column 'age' must hold finite numbers, got 'forty'$"
    ):
        schema.encode(bad)


def test_missing_value(schema: TabularSchema, people: Any) -> None:
    bad = people.copy()
    bad.loc[11, "score"] = np.nan
    with pytest.raises(ValueError, match=r"^row 11: column 'score' has a missing value$"):
        schema.encode(bad)
    bad = people.astype({"color": object})
    bad.loc[14, "color"] = None
    with pytest.raises(ValueError, match=r"^row 14: column 'color' has a missing value$"):
        schema.encode(bad)


def test_unknown_category(schema: TabularSchema, people: Any) -> None:
    bad = people.copy()
    bad.loc[13, "color"] = "purple"
    with pytest.raises(
        ValueError,
        match=r"^row 13: column 'color' has the unknown category 'purple' "
        r"\(known: 'blue', 'green', 'red'; unknown='zeros' encodes it as all zeros\)$",
    ):
        schema.encode(bad)
    encoded = schema.with_unknown("zeros").encode(bad)
    np.testing.assert_array_equal(encoded[3, 1:4], [0, 0, 0])
    np.testing.assert_array_equal(encoded[3, 4:6], [0, 1])


def test_empty_frame_and_not_a_frame(schema: TabularSchema, people: Any) -> None:
    with pytest.raises(ValueError, match=r"^the frame has no rows$"):
        schema.encode(people.iloc[:0])
    with pytest.raises(TypeError, match="expected a pandas DataFrame, got dict"):
        schema.encode({"age": [1]})


def test_encode_counts_the_other_failing_rows(schema: TabularSchema, people: Any) -> None:
    bad = people.copy()
    bad.loc[[11, 13, 15], "score"] = np.nan
    with pytest.raises(
        ValueError, match=r"^row 11: .* \(and 2 more failing rows: see check_rows\)$"
    ):
        schema.encode(bad)


def test_check_rows_reports_each_row(schema: TabularSchema, people: Any) -> None:
    bad = people.astype({"age": object})
    bad.loc[11, "age"] = "x"
    bad.loc[13, "color"] = "purple"
    bad.loc[13, "score"] = np.nan  # the first problem in column order is reported
    problems = schema.check_rows(bad)
    assert problems[0] is None and problems[2:3] == [None] and problems[4:] == [None, None]
    assert problems[1] == "row 11: column 'age' must hold finite numbers, got 'x'"
    assert problems[3] is not None and problems[3].startswith(
        "row 13: column 'color' has the unknown category 'purple'"
    )
    assert schema.check_rows(people) == [None] * 6


def test_check_rows_raises_whole_frame_problems(schema: TabularSchema, people: Any) -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['score'\]"):
        schema.check_rows(people.drop(columns=["score"]))
    with pytest.raises(ValueError, match="no rows"):
        schema.check_rows(people.iloc[:0])


def test_string_index_labels_are_quoted(schema: TabularSchema, people: Any) -> None:
    bad = people.set_axis([f"p{i}" for i in range(6)])
    bad.loc["p2", "score"] = np.inf
    with pytest.raises(ValueError, match=r"^row 'p2': column 'score' must hold finite numbers"):
        schema.encode(bad)


def test_fit_errors(people: Any) -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['income'\] named to fit"):
        TabularSchema.fit(people, target="income")
    with pytest.raises(ValueError, match=r"\['age'\] are listed as both categorical and numeric"):
        TabularSchema.fit(people, categorical=["age"], numeric=["age"])
    dated = people.assign(when=pd.to_datetime(["2024-01-01"] * 6))
    with pytest.raises(ValueError, match=r"\['when'\] are neither numeric nor categorical"):
        TabularSchema.fit(dated, target="label")
    with pytest.raises(ValueError, match=r"^row 12: column 'score' has a missing value$"):
        TabularSchema.fit(people.assign(score=[1, 2, np.nan, 4, 5, 6]), target="label")
    with pytest.raises(ValueError, match=r"^the frame has no rows$"):
        TabularSchema.fit(people.iloc[:0], target="label")
    with pytest.raises(ValueError, match="unknown must be one of error, zeros"):
        TabularSchema.fit(people, unknown="drop")


def test_adult_schema(adult_model: Any) -> None:
    schema = adult_model.schema
    assert schema.width == 87 and len(schema.columns) == 12
    sizes = {name: len(indices) for name, indices in schema.groups.items()}
    assert sizes["native_country"] == 41 and sizes["workclass"] == 7 and sizes["age"] == 1
    assert "workclass=Private" in schema.encoded_names


def test_column_names_must_be_strings() -> None:
    with pytest.raises(ValueError, match=r"column names must be strings, got \[0, 1\]"):
        TabularSchema.fit(pd.DataFrame([[1.0, 2.0]]))
