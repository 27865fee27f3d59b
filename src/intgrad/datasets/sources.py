"""Where a dataset job's examples come from: random access by position, in bounded memory.

A source is read one shard at a time (``read(start, stop)``), never whole, so a job's memory
does not grow with the dataset; every source is picklable, so a Ray worker reads its own shards.
A source's ``fingerprint`` identifies its content, so a resumed job refuses a changed input.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "CHECKPOINT_ROWS",
    "Batch",
    "CsvSource",
    "ExampleSource",
    "FrameSource",
    "SequenceSource",
    "as_source",
]

_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Batch:
    """One shard's examples.

    Attributes:
        positions: shape (examples,), int64, each example's position in the dataset.
        ids: each example's identifier (a frame's index label, a file name, a line number).
        items: the examples: a DataFrame of rows, or a list of texts, image paths or arrays.
        frame: a DataFrame of per-example columns cohorts are defined on (for tables, the
            rows themselves), or ``None``.
    """

    positions: np.ndarray
    ids: list[str]
    items: Any
    frame: Any


class ExampleSource(Protocol):
    """Random access to a dataset's examples."""

    def __len__(self) -> int: ...

    def read(self, start: int, stop: int) -> Batch:
        """Examples ``start`` to ``stop`` (exclusive)."""
        ...

    def fingerprint(self) -> str:
        """A digest of the content: equal for the same examples in the same order."""
        ...


def _positions(start: int, stop: int) -> np.ndarray:
    return np.arange(start, stop, dtype=np.int64)


class FrameSource:
    """The rows of a pandas DataFrame held in memory (ids are the index labels)."""

    def __init__(self, frame: Any) -> None:
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"FrameSource takes a pandas DataFrame, got {type(frame).__name__}")
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def read(self, start: int, stop: int) -> Batch:
        rows = self.frame.iloc[start:stop]
        return Batch(_positions(start, stop), [str(i) for i in rows.index], rows, rows)

    def fingerprint(self) -> str:
        import pandas as pd

        digest = hashlib.sha256(pd.util.hash_pandas_object(self.frame, index=True).values)
        digest.update(",".join(map(str, self.frame.columns)).encode())
        return digest.hexdigest()


class CsvSource:
    """The rows of a CSV file with a header, read a shard at a time (ids are row numbers).

    Opening it streams the file once (in 1 MiB blocks) to count its lines and hash its bytes,
    then finds where records start: every :data:`CHECKPOINT_ROWS`-th record's byte offset is
    kept (a field in quotes may hold line breaks, so records are found with the ``csv``
    module wherever a quote appears). ``read`` seeks to the nearest checkpoint at or before
    its first row, steps over at most ``CHECKPOINT_ROWS − 1`` records, and parses only the
    rows asked for: a late shard costs what an early one does, in time and memory. With a
    read option that may change where records start (``comment``, ``skiprows``, a regular
    expression or whitespace as separator, a multi-byte encoding, ...), rows are counted by
    pandas itself instead: ``read`` streams the file in chunks of :data:`STREAM_ROWS` rows
    from the start, re-reading the rows before a shard (memory stays one chunk), so a row is
    what pandas calls one (comment and blank lines skipped, the caller's ``skiprows`` first).
    Values keep pandas' per-shard type inference: a tabular schema converts them and reports
    what it cannot.

    Args:
        path: the CSV file.
        read_options: passed to :func:`pandas.read_csv` (``sep``, ``encoding``, ...).
    """

    def __init__(self, path: str | os.PathLike[str], **read_options: Any) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no CSV file at {str(self.path)!r}")
        self.read_options = read_options
        self._digest, lines = _scan(self.path)
        if lines == 0:
            raise ValueError(f"{str(self.path)!r} is empty: a CSV file needs a header row")
        self.columns = self._parse(self._header).columns
        self._rows = self._count_rows()
        if self._rows == 0:
            raise ValueError(f"{str(self.path)!r} has a header but no rows")
        self._dialect = _record_dialect(read_options)
        self._offsets: np.ndarray | None = None
        if self._dialect is not None:
            found = _checkpoints(self.path, self._dialect, CHECKPOINT_ROWS)
            # pandas decides what a row is: offsets whose count disagrees with it are not used.
            if found is not None and found[1] == self._rows:
                self._offsets = found[0]

    @property
    def seeks(self) -> bool:
        """Whether ``read`` seeks to its rows (else pandas skips the rows before them)."""
        return self._offsets is not None

    def _parse(self, read: Callable[[], Any]) -> Any:
        import pandas as pd

        try:
            return read()
        except pd.errors.EmptyDataError:
            raise ValueError(
                f"{str(self.path)!r} is empty: a CSV file needs a header row"
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot parse {str(self.path)!r} as CSV: {error}") from None

    def _header(self) -> Any:
        import pandas as pd

        return pd.read_csv(self.path, nrows=0, **self.read_options)

    def _streaming(self, start: int, count: int) -> Callable[[], Any]:
        """Rows ``start`` to ``start + count`` as pandas counts rows, from a chunked read."""
        import pandas as pd

        def read() -> Any:
            parts, seen, stop = [], 0, start + count
            with pd.read_csv(self.path, chunksize=STREAM_ROWS, **self.read_options) as chunks:
                for chunk in chunks:
                    if seen + len(chunk) > start:
                        parts.append(chunk.iloc[max(0, start - seen) : stop - seen])
                    seen += len(chunk)
                    if seen >= stop:
                        break
            if not parts:
                return self._header()
            return pd.concat(parts) if len(parts) > 1 else parts[0]

        return read

    def _seeking(self, start: int, count: int) -> Callable[[], Any]:
        import pandas as pd

        assert self._offsets is not None and self._dialect is not None
        checkpoint = start // CHECKPOINT_ROWS
        offsets, dialect = self._offsets, self._dialect

        def read() -> Any:
            with self.path.open("rb") as handle:
                handle.seek(int(offsets[checkpoint]))
                skip = start - checkpoint * CHECKPOINT_ROWS
                if skip:
                    handle.seek(_offset_after(handle, dialect, skip))
                return pd.read_csv(
                    handle, header=None, names=list(self.columns), nrows=count, **self.read_options
                )

        return read

    def _count_rows(self) -> int:
        import pandas as pd

        total = 0
        try:
            options = {"usecols": [0], **self.read_options}  # the caller's usecols if given
            with pd.read_csv(self.path, chunksize=STREAM_ROWS, **options) as chunks:
                for chunk in chunks:
                    total += len(chunk)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot parse {str(self.path)!r} as CSV: {error}") from None
        return total

    def __len__(self) -> int:
        return self._rows

    def read(self, start: int, stop: int) -> Batch:
        count = stop - start
        read = self._seeking(start, count) if self.seeks else self._streaming(start, count)
        rows = self._parse(read)
        rows.index = range(start, start + len(rows))
        if len(rows) != stop - start:
            raise ValueError(f"{str(self.path)!r} changed while it was read (rows {start}–{stop})")
        return Batch(_positions(start, stop), [str(i) for i in rows.index], rows, rows)

    def fingerprint(self) -> str:
        return self._digest


def _scan(path: Path) -> tuple[str, int]:
    digest, lines, last = hashlib.sha256(), 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return digest.hexdigest(), lines


STREAM_ROWS = 50_000
"""Rows per chunk where a CSV source lets pandas count rows (the fallback of ``read``)."""

CHECKPOINT_ROWS = 1024
"""A CSV source keeps the byte offset of every this many rows (8 bytes per 1,024 rows)."""

# read_csv options that change values, not where records start or which are rows.
_ROW_NEUTRAL_OPTIONS = frozenset(
    {
        "sep",
        "delimiter",
        "quotechar",
        "doublequote",
        "escapechar",
        "encoding",
        "encoding_errors",
        "dtype",
        "converters",
        "true_values",
        "false_values",
        "na_values",
        "keep_default_na",
        "na_filter",
        "skipinitialspace",
        "thousands",
        "decimal",
        "parse_dates",
        "date_format",
        "dayfirst",
        "dtype_backend",
        "low_memory",
        "float_precision",
        "engine",
    }
)
# Encodings in which every ASCII byte stands for its ASCII character (codecs' names).
_ASCII_COMPATIBLE = frozenset(
    {"utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "iso8859-15", "cp1252"}
)


@dataclass(frozen=True)
class _Dialect:
    """How records are delimited: what the ``csv`` module needs to find where each one ends."""

    delimiter: str
    quotechar: str
    doublequote: bool
    escapechar: str | None
    encoding: str
    errors: str


def _single_ascii(value: object) -> bool:
    return isinstance(value, str) and len(value) == 1 and value.isascii() and value not in "\r\n"


def _record_dialect(options: dict[str, Any]) -> _Dialect | None:
    """The dialect of ``read_csv(**options)`` if records can be found without pandas, else None."""
    if not set(options) <= _ROW_NEUTRAL_OPTIONS or ("sep" in options and "delimiter" in options):
        return None
    if options.get("engine", "c") != "c":
        return None
    delimiter = options.get("sep", options.get("delimiter", ","))
    quotechar = options.get("quotechar", '"')
    escapechar = options.get("escapechar")
    # Whitespace separators and regular expressions follow pandas' own rules for blank lines.
    if not _single_ascii(delimiter) or delimiter in " \t" or not _single_ascii(quotechar):
        return None
    if escapechar is not None and not _single_ascii(escapechar):
        return None
    try:
        encoding = codecs.lookup(options.get("encoding") or "utf-8").name
    except LookupError:
        return None
    if encoding not in _ASCII_COMPATIBLE:
        return None
    errors = str(options.get("encoding_errors", "strict"))
    return _Dialect(
        delimiter, quotechar, bool(options.get("doublequote", True)), escapechar, encoding, errors
    )


class _LineFeed:
    """The lines of one record for ``csv.reader``, decoded, counting the bytes they take."""

    def __init__(self, first: bytes, rest: Iterator[bytes], dialect: _Dialect) -> None:
        self.pending: bytes | None = first
        self.rest, self.dialect, self.consumed = rest, dialect, 0

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = self.pending if self.pending is not None else next(self.rest)
        self.pending = None
        self.consumed += len(line)
        return line.decode(self.dialect.encoding, self.dialect.errors)


def _records(handle: Any, dialect: _Dialect) -> Iterator[tuple[int, bool]]:
    """For each record from ``handle``'s position: (its length in bytes, whether it is blank).

    A line with no quote (or escape) character is one record; one with a quote goes through
    ``csv.reader``, which takes as many more lines as its quoted fields span. A blank line
    (spaces and tabs at most) is a record pandas skips.

    Raises:
        csv.Error, UnicodeDecodeError: where the csv module cannot read a record.
    """
    specials = [dialect.quotechar.encode("ascii")]
    if dialect.escapechar is not None:
        specials.append(dialect.escapechar.encode("ascii"))
    lines: Iterator[bytes] = iter(handle)
    for line in lines:
        if not any(special in line for special in specials):
            yield len(line), not line.rstrip(b"\r\n").strip(b" \t")
            continue
        feed = _LineFeed(line, lines, dialect)
        reader = csv.reader(
            feed,
            delimiter=dialect.delimiter,
            quotechar=dialect.quotechar,
            doublequote=dialect.doublequote,
            escapechar=dialect.escapechar,
            strict=False,
        )
        try:
            next(reader)
        except StopIteration:  # the file ended inside the record
            return
        yield feed.consumed, False


def _checkpoints(path: Path, dialect: _Dialect, every: int) -> tuple[np.ndarray, int] | None:
    """The byte offset of data rows 0, ``every``, 2 × ``every``, ... and the number of rows.

    ``None`` when the csv module cannot read the file (pandas then reports what is wrong).
    """
    offsets: list[int] = []
    position, rows, header = 0, 0, False
    try:
        with path.open("rb") as handle:
            for size, blank in _records(handle, dialect):
                if not blank and not header:
                    header = True
                elif not blank:
                    if rows % every == 0:
                        offsets.append(position)
                    rows += 1
                position += size
    except (csv.Error, UnicodeDecodeError):
        return None
    return np.asarray(offsets, dtype=np.int64), rows


def _offset_after(handle: Any, dialect: _Dialect, rows: int) -> int:
    """The byte offset just past the next ``rows`` data rows from ``handle``'s position."""
    position = handle.tell()
    for size, blank in _records(handle, dialect):
        if rows == 0 and not blank:
            return position
        position += size
        rows -= 0 if blank else 1
    if rows:
        raise ValueError("the CSV file is shorter than when it was opened")
    return position


class SequenceSource:
    """A list of texts, image paths or image arrays held in memory.

    Args:
        items: the examples.
        ids: one identifier per example; default the positions (or the file names of paths).
    """

    def __init__(self, items: Sequence[Any], ids: Sequence[str] | None = None) -> None:
        self.items = list(items)
        if ids is not None and len(ids) != len(self.items):
            raise ValueError(f"got {len(ids)} ids for {len(self.items)} examples")
        self.ids = (
            [str(i) for i in ids]
            if ids is not None
            else [_default_id(i, x) for i, x in enumerate(self.items)]
        )

    def __len__(self) -> int:
        return len(self.items)

    def read(self, start: int, stop: int) -> Batch:
        import pandas as pd

        items = self.items[start:stop]
        frame = pd.DataFrame(
            {"id": self.ids[start:stop]}, index=pd.RangeIndex(start, start + len(items))
        )
        if all(isinstance(x, str) for x in items):
            frame["length"] = [len(x.split()) for x in items]
        return Batch(_positions(start, stop), self.ids[start:stop], items, frame)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for identifier, item in zip(self.ids, self.items, strict=True):
            digest.update(identifier.encode() + b"\0")
            if isinstance(item, np.ndarray):
                digest.update(np.ascontiguousarray(item).tobytes())
            else:
                digest.update(os.fsencode(item) if isinstance(item, Path) else str(item).encode())
            digest.update(b"\1")
        return digest.hexdigest()


def _default_id(position: int, item: Any) -> str:
    return Path(item).name if isinstance(item, Path) else str(position)


def as_source(data: Any) -> ExampleSource:
    """A source for ``data``: a source itself, a DataFrame, a CSV path, or a list of examples."""
    if hasattr(data, "read") and hasattr(data, "fingerprint") and hasattr(data, "__len__"):
        return data
    if isinstance(data, (str, os.PathLike)) and str(data).lower().endswith(".csv"):
        return CsvSource(data)
    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return FrameSource(data)
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return SequenceSource(data)
    raise TypeError(
        "a dataset is a DataFrame, a CSV file path, a list of texts or images, or a source "
        f"with read/fingerprint/__len__; got {type(data).__name__}"
    )
