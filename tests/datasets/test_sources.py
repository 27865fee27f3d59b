"""CSV sources read a shard by seeking to it: the same rows as pandas' full read, no earlier
rows parsed, and pandas' own skipping where a read option may move record boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import intgrad.datasets.sources as sources
from intgrad.datasets import CsvSource

# Rows with quoted line breaks, separators and doubled quotes, and plain rows between them.
_TEXTS = ["plain", "two\nlines", 'a "quoted" word', "comma, inside", "three\nmore\nlines", "x"]


def _frame(rows: int) -> pd.DataFrame:
    values = np.arange(rows)
    return pd.DataFrame(
        {
            "n": values,
            "text": [_TEXTS[i % len(_TEXTS)] + f" {i}" for i in range(rows)],
            "score": values * 0.5,
        }
    )


def _write(path: Path, frame: pd.DataFrame, newline: str, trailing: bool, **options) -> None:
    sep = options.get("sep", ",")
    quotechar = options.get("quotechar", '"')
    encoding = options.get("encoding", "utf-8")
    text = frame.to_csv(index=False, sep=sep, quotechar=quotechar, lineterminator=newline)
    if not trailing:
        text = text[: -len(newline)]
    path.write_bytes(text.encode(encoding))


def _check_shards(source: CsvSource, path: Path, bounds: list[tuple[int, int]], **options):
    whole = pd.read_csv(path, **options)
    assert len(source) == len(whole)
    for start, stop in bounds:
        batch = source.read(start, stop)
        assert batch.ids == [str(i) for i in range(start, stop)]
        expected = whole.iloc[start:stop]
        pd.testing.assert_frame_equal(batch.items, expected, check_index_type=False)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("trailing", [True, False])
def test_shards_read_from_offsets_equal_the_full_read(tmp_path, monkeypatch, newline, trailing):
    monkeypatch.setattr(sources, "CHECKPOINT_ROWS", 4)  # checkpoints and steps between them
    path, frame = tmp_path / "rows.csv", _frame(23)
    _write(path, frame, newline, trailing)
    source = CsvSource(path)
    assert source.seeks
    # Checkpoint k is where row 4k starts: the bytes of the header and the rows before it.
    before = [frame.iloc[:k].to_csv(index=False, lineterminator=newline) for k in range(0, 23, 4)]
    assert source._offsets is not None
    assert source._offsets.tolist() == [len(text.encode()) for text in before]
    bounds = [(0, 4), (4, 8), (5, 11), (7, 8), (20, 23), (22, 23), (0, 23)]
    _check_shards(source, path, bounds)


def test_separator_quote_and_encoding_options_are_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "CHECKPOINT_ROWS", 3)
    frame = _frame(17)
    frame["text"] = frame["text"].str.replace("plain", "café; été")
    options = {"sep": ";", "quotechar": "'", "encoding": "latin-1"}
    path = tmp_path / "rows.csv"
    _write(path, frame, "\n", True, **options)
    source = CsvSource(path, **options)
    assert source.seeks
    _check_shards(source, path, [(0, 3), (3, 6), (4, 9), (16, 17)], **options)


def test_blank_lines_are_skipped_as_pandas_skips_them(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "CHECKPOINT_ROWS", 2)
    path = tmp_path / "rows.csv"
    path.write_text('\na,b\n1,"x\ny"\n\n  \n2,z\n3,w\n\n4,"v"\n')
    source = CsvSource(path)
    assert source.seeks and len(source) == 4
    _check_shards(source, path, [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4)])


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("a,b\n1,2#note\n3,4\n5,6#note\n", {"comment": "#"}),  # an option it cannot honour
        ("a,b\r1,2\r3,4\r5,6\r", {}),  # old Mac line ends: pandas' rows, not the csv module's
        ("a\tb\n1\t2\n3\t4\n5\t6\n", {"sep": "\t"}),  # whitespace separators: pandas' rules
    ],
)
def test_other_files_and_options_fall_back_to_pandas_skipping(tmp_path, text, options):
    path = tmp_path / "rows.csv"
    path.write_text(text)
    source = CsvSource(path, **options)
    assert not source.seeks
    _check_shards(source, path, [(0, 1), (1, 3), (2, 3)], **options)


def test_a_late_shard_parses_no_earlier_rows(tmp_path, monkeypatch):
    rows, start, stop = 5_000, 4_500, 4_510
    path = tmp_path / "rows.csv"
    _write(path, _frame(rows), "\n", True)
    source = CsvSource(path)
    assert source.seeks

    scanned = []
    real_records = sources._records

    def counting_records(handle, dialect):
        for record in real_records(handle, dialect):
            scanned.append(record)
            yield record

    calls = []
    real_read_csv = pd.read_csv

    def recording_read_csv(handle, **options):
        calls.append((handle.tell(), options))
        return real_read_csv(handle, **options)

    monkeypatch.setattr(sources, "_records", counting_records)
    monkeypatch.setattr(pd, "read_csv", recording_read_csv)
    batch = source.read(start, stop)
    assert batch.items["n"].tolist() == list(range(start, stop))
    # pandas parses exactly the shard's rows, from the byte where row 4,500 starts ...
    ((position, options),) = calls
    assert options["nrows"] == stop - start and "skiprows" not in options
    assert position == len(_frame(rows).iloc[:start].to_csv(index=False).encode())
    # ... and the csv module stepped over the rows since the last checkpoint, no more.
    past_checkpoint = start - (start // sources.CHECKPOINT_ROWS) * sources.CHECKPOINT_ROWS
    assert len(scanned) == past_checkpoint + 1  # the rows stepped over and the first one read


@pytest.mark.parametrize("stream_rows", [2, 3, 50_000])
def test_whole_comment_lines_are_not_counted_as_rows(tmp_path, monkeypatch, stream_rows):
    # pandas drops whole-line comments from its rows; a shard must hold the rows it names,
    # wherever the comments sit and however the fallback's chunks fall.
    monkeypatch.setattr(sources, "STREAM_ROWS", stream_rows)
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n# a note\n1,2\n3,4\n# another\n5,6\n7,8\n#\n9,10\n")
    source = CsvSource(path, comment="#")
    assert not source.seeks and len(source) == 5
    _check_shards(source, path, [(0, 2), (2, 4), (1, 3), (3, 5), (4, 5)], comment="#")
    assert source.read(2, 4).items["a"].tolist() == [5, 7]


def test_the_callers_skiprows_and_usecols_are_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "STREAM_ROWS", 2)
    path = tmp_path / "rows.csv"
    path.write_text("exported by a tool\na,b,c\n1,2,x\n3,4,y\n5,6,z\n7,8,w\n")
    options = {"skiprows": 1, "usecols": ["a", "c"]}
    source = CsvSource(path, **options)
    assert not source.seeks and len(source) == 4
    assert list(source.columns) == ["a", "c"]
    _check_shards(source, path, [(0, 1), (1, 3), (2, 4), (3, 4)], **options)
    assert source.read(1, 3).items["c"].tolist() == ["y", "z"]
