"""Where a dataset job's examples come from: random access by position, in bounded memory.

A source is read one shard at a time (``read(start, stop)``), never whole, so a job's memory
does not grow with the dataset; every source is picklable, so a Ray worker reads its own shards.
A source's ``fingerprint`` identifies its content, so a resumed job refuses a changed input.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["Batch", "CsvSource", "ExampleSource", "FrameSource", "SequenceSource", "as_source"]

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

    Opening it streams the file once (in 1 MiB blocks) to count its rows and hash its bytes;
    ``read`` parses only the rows asked for. Values keep pandas' per-shard type inference:
    a tabular schema converts them and reports what it cannot.
    """

    def __init__(self, path: str | os.PathLike[str], **read_options: Any) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no CSV file at {str(self.path)!r}")
        self.read_options = read_options
        self._digest, lines = _scan(self.path)
        if lines == 0:
            raise ValueError(f"{str(self.path)!r} is empty: a CSV file needs a header row")
        self.columns = self._read_rows(0, 0).columns
        self._rows = self._count_rows()
        if self._rows == 0:
            raise ValueError(f"{str(self.path)!r} has a header but no rows")

    def _read_rows(self, start: int, count: int | None) -> Any:
        import pandas as pd

        try:
            return pd.read_csv(
                self.path,
                skiprows=range(1, start + 1) if start else None,
                nrows=count,
                **self.read_options,
            )
        except pd.errors.EmptyDataError:
            raise ValueError(
                f"{str(self.path)!r} is empty: a CSV file needs a header row"
            ) from None
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot parse {str(self.path)!r} as CSV: {error}") from None

    def _count_rows(self) -> int:
        import pandas as pd

        total = 0
        try:
            with pd.read_csv(
                self.path, chunksize=50_000, usecols=[0], **self.read_options
            ) as chunks:
                for chunk in chunks:
                    total += len(chunk)
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot parse {str(self.path)!r} as CSV: {error}") from None
        return total

    def __len__(self) -> int:
        return self._rows

    def read(self, start: int, stop: int) -> Batch:
        rows = self._read_rows(start, stop - start)
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
