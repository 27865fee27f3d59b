"""Reading an uploaded CSV of the Tables view: its rows, checked against the model's schema."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from intgrad.app.forms import BadRequest
from intgrad.app.jobs import one_line

if TYPE_CHECKING:
    import pandas as pd

    from intgrad.tabular import TabularSchema


def _canonical(name: object, columns: tuple[str, ...]) -> str:
    """A header's name, stripped; ``hours-per-week`` (UCI's spelling) as ``hours_per_week``."""
    text = str(name).strip()
    underscored = text.replace("-", "_")
    return underscored if text not in columns and underscored in columns else text


def read_csv_upload(data: bytes, schema: TabularSchema, max_rows: int) -> tuple[pd.DataFrame, bool]:
    """An uploaded CSV's rows (at most ``max_rows``) and whether more were left out.

    Raises:
        BadRequest: not UTF-8 text, not readable as CSV, a header without the schema's
            columns (they are named), or no data rows.
    """
    import pandas as pd

    if b"\x00" in data:
        raise BadRequest("the upload is not a CSV file: it holds binary data")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the upload is not a CSV file: it is not UTF-8 text") from None
    try:
        frame = pd.read_csv(io.StringIO(text), nrows=max_rows + 1, skipinitialspace=True)
    except (ValueError, csv.Error, OverflowError) as error:
        raise BadRequest(f"the CSV could not be read: {one_line(error)}") from None
    columns = schema.columns
    header = [_canonical(c, columns) for c in frame.columns]
    if len(set(header)) == len(header):
        frame.columns = header
    missing = [c for c in columns if c not in frame.columns]
    if len(missing) == len(columns):
        raise BadRequest(
            "the CSV's header row names none of the model's columns (is the header row "
            "missing?); it needs: " + ", ".join(columns)
        )
    if missing:
        raise BadRequest(f"the CSV lacks columns: {', '.join(missing)}")
    if frame.empty:
        raise BadRequest("the CSV has a header row but no data rows")
    return frame.iloc[:max_rows].reset_index(drop=True), len(frame) > max_rows
